"""Inputs the importer fuzzing found that escape the documented validation errors.

Each test is a strict xfail until the importer is fixed: it then passes, and the xfail mark must
go (strict=True turns the unexpected pass into a failure, so the fix is noticed).
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from changebank.listen.importers import ImportFileError, open_source

from .fuzz_targets import project_base, run_import, run_refi


def deflated_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def corrupt_member(archive: bytes, member: str) -> bytes:
    """Overwrite the start of ``member``'s deflate stream with bytes that are no valid block."""
    data = bytearray(archive)
    header = data.index(b"PK\x03\x04" + data[4:4])  # first local header
    while True:
        name_len = int.from_bytes(data[header + 26 : header + 28], "little")
        extra_len = int.from_bytes(data[header + 28 : header + 30], "little")
        size = int.from_bytes(data[header + 18 : header + 22], "little")
        name = bytes(data[header + 30 : header + 30 + name_len]).decode()
        start = header + 30 + name_len + extra_len
        if name == member:
            data[start : start + 8] = b"\xff" * 8
            return bytes(data)
        header = start + size


def test_csv_with_a_utf16_bom_and_an_odd_number_of_bytes(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(b"\xff\xfeI\x00D\x00\n\x00x")
    with pytest.raises(ImportFileError, match="odd.csv"):
        open_source(path)


def test_csv_with_a_utf16_bom_and_a_lone_surrogate_later(tmp_path, programme):
    from changebank.listen.importers.loader import import_file

    good = "ID,Comment\n" + "".join(f"{i},comment {i}\n" for i in range(3))
    data = good.encode("utf-16") + b"\x00\xd8" + "9,x\n".encode("utf-16-le")
    path = tmp_path / "surrogate.csv"
    path.write_bytes(data)
    with pytest.raises(ImportFileError, match="surrogate.csv"):
        import_file(path, programme)


@pytest.mark.django_db
def test_csv_with_a_utf8_bom_and_invalid_utf8(tmp_path, programme):
    from changebank.listen.importers.loader import import_file

    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfID,Comment\n1,caf\xe9\n")
    with pytest.raises(ImportFileError, match="bom.csv"):
        import_file(path, programme)


@pytest.mark.django_db
def test_qdpx_with_a_damaged_deflate_stream_in_project_qde(tmp_path, programme):
    data = corrupt_member(deflated_zip({"project.qde": project_base()}), "project.qde")
    assert run_refi(data, tmp_path, programme, "qdpx") == "rejected"


@pytest.mark.django_db
def test_qdpx_with_a_damaged_deflate_stream_in_a_source(tmp_path, programme):
    qde = project_base()
    sources = {}
    for ref in __import__("re").findall(rb'plainTextPath="internal://([^"]+)"', qde):
        sources[f"sources/{ref.decode()}"] = b"Some source text. " * 50
    assert sources, "the example project refers to no internal source"
    first = next(iter(sources))
    data = corrupt_member(deflated_zip({"project.qde": qde, **sources}), first)
    assert run_refi(data, tmp_path, programme, "qdpx") == "rejected"


@pytest.mark.django_db
def test_themefinder_zip_with_a_damaged_member(tmp_path, programme):
    responses = "\n".join(
        json.dumps({"response_id": i, "response": f"answer {i} " * 20}) for i in range(20)
    ).encode()
    members = {
        "consult/question_part_1/question.json": b'{"question_text": "Why?"}',
        "consult/question_part_1/responses.jsonl": responses,
        "consult/respondents.jsonl": b'{"response_id": 1, "demographic_data": {}}',
    }
    data = corrupt_member(deflated_zip(members), "consult/question_part_1/responses.jsonl")
    assert run_import(data, tmp_path, programme, "consult.zip", "reject") == "rejected"


@pytest.mark.django_db
def test_themefinder_zip_with_a_bad_crc(tmp_path, programme):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("consult/question_part_1/question.json", b'{"question_text": "Why?"}')
        zf.writestr(
            "consult/question_part_1/responses.jsonl", b'{"response_id": 1, "response": "a"}'
        )
    data = out.getvalue().replace(b"Why?", b"How?", 1)  # content changed, CRC not
    assert run_import(data, tmp_path, programme, "consult.zip", "reject") == "rejected"


@pytest.mark.django_db
def test_json_with_an_encoded_surrogate(tmp_path, programme):
    data = b'[{"id": 1, "comment": "\xed\xa0\x80"}]'
    assert run_import(data, tmp_path, programme, "surrogate.json", "reject") == "rejected"
