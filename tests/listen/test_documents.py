"""Tests for changebank.listen.documents, on real files built in tmp_path (no mocks)."""

import importlib.util
import shutil
import subprocess
import sys
import unicodedata
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest

from changebank.listen.documents import (
    DocumentError,
    ExtractedDocument,
    PocketSphinxBackend,
    SpeechBackend,
    WhisperBackend,
    extract,
    get_backend,
    split_passage,
)

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


def check_offsets(document: ExtractedDocument) -> None:
    """Every passage indexes its own text in the full text, in order."""
    assert document.passages
    for index, passage in enumerate(document.passages):
        assert passage.index == index
        assert document.text[passage.start : passage.end] == passage.text
        assert passage.text == passage.text.strip() and passage.text


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


# --- PDF ------------------------------------------------------------------------------------


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF, written by hand: one Helvetica text line per input line."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(len(pages))), len(pages)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        escaped = [
            line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            for line in text.split("\n")
        ]
        ops = ["BT /F1 10 Tf 12 TL 40 760 Td", *(f"({line}) Tj T*" for line in escaped), "ET"]
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    if title:
        objects.append(b"<< /Title (%s) >>" % title.encode("latin-1"))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    info = b" /Info %d 0 R" % len(objects) if title else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, info)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def test_pdf_passages_per_page_with_title(tmp_path):
    pdf = make_pdf(["Waiting times were long.", "Staff were kind (mostly)."], title="Ward 7 survey")
    document = extract(write(tmp_path, "evidence.pdf", pdf))
    check_offsets(document)
    assert document.kind == "pdf"
    assert document.title == "Ward 7 survey"
    assert document.metadata["pages"] == 2
    assert [(p.locator, p.text) for p in document.passages] == [
        ("page 1", "Waiting times were long."),
        ("page 2", "Staff were kind (mostly)."),
    ]


def test_pdf_long_page_is_split_at_sentence_boundaries(tmp_path):
    sentences = [f"Sentence number {n} says the clinic should open earlier." for n in range(60)]
    document = extract(write(tmp_path, "long.pdf", make_pdf(["\n".join(sentences)])))
    check_offsets(document)
    assert len(document.passages) >= 2
    assert {p.locator for p in document.passages} == {"page 1"}
    assert all(len(p.text) <= 1500 and p.text.endswith(".") for p in document.passages)
    assert " ".join(" ".join(p.text.split()) for p in document.passages) == " ".join(sentences)


def test_pdf_with_only_an_owner_password_is_read(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(write(tmp_path, "a.pdf", make_pdf(["Open text."]))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    writer.write(tmp_path / "restricted.pdf")
    assert extract(tmp_path / "restricted.pdf").passages[0].text == "Open text."


def test_password_protected_pdf_is_refused(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(write(tmp_path, "a.pdf", make_pdf(["Secret."]))))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    writer.write(tmp_path / "locked.pdf")
    with pytest.raises(DocumentError, match=r"^locked\.pdf: .*password-protected"):
        extract(tmp_path / "locked.pdf")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_pdf_raises_document_error(tmp_path, keep):
    pdf = make_pdf(["Some text on a page."] * 3)
    path = write(tmp_path, "evidence.pdf", pdf[: int(len(pdf) * keep)])
    with pytest.raises(DocumentError) as caught:
        extract(path)
    assert str(caught.value).startswith("evidence.pdf: ")
    assert caught.value.path == "evidence.pdf"


def test_garbage_named_pdf_is_not_a_readable_pdf(tmp_path):
    with pytest.raises(DocumentError, match=r"evidence\.pdf: not a readable PDF \(file is trunc"):
        extract(write(tmp_path, "evidence.pdf", b"this is not a PDF at all"))


def test_pdf_is_sniffed_without_an_extension(tmp_path):
    document = extract(write(tmp_path, "upload", make_pdf(["Sniffed."])))
    assert document.kind == "pdf" and document.passages[0].text == "Sniffed."


# --- DOCX -----------------------------------------------------------------------------------


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = ""
    document.add_heading("Community clinic feedback", level=1)
    document.add_paragraph("People liked   the new booking line.")
    document.add_paragraph("")
    document.add_heading("Scores", level=2)
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("Ward", "Score"), ("Ward 7", "4.5")], strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document.add_paragraph("Parking remains a problem.")
    document.save(path)
    return path


def test_docx_paragraphs_headings_and_tables_in_order(tmp_path):
    document = extract(make_docx(tmp_path / "notes.docx"))
    check_offsets(document)
    assert document.kind == "docx"
    assert document.title == "Community clinic feedback"
    assert [(p.locator, p.text) for p in document.passages] == [
        ("paragraph 1", "Community clinic feedback"),
        ("paragraph 2", "People liked the new booking line."),
        ("paragraph 3", "Scores"),
        ("table 1, row 1", "Ward | Score"),
        ("table 1, row 2", "Ward 7 | 4.5"),
        ("paragraph 4", "Parking remains a problem."),
    ]
    assert document.metadata == {"paragraphs": 4, "tables": 1}


def test_truncated_docx_raises_document_error(tmp_path):
    data = make_docx(tmp_path / "full.docx").read_bytes()
    with pytest.raises(DocumentError, match=r"^notes\.docx: not a readable Word document"):
        extract(write(tmp_path, "notes.docx", data[: len(data) // 2]))


def test_zip_without_word_document_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "sheet.docx", "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(DocumentError, match="not a Word document"):
        extract(tmp_path / "sheet.docx")


def test_docx_zip_bomb_is_refused(tmp_path):
    path = make_docx(tmp_path / "bomb.docx")
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/padding.bin", bytes(40 * 1024 * 1024))
    with pytest.raises(DocumentError, match=r"^bomb\.docx: refused: .*zip bomb"):
        extract(path)


# --- Plain text and Markdown ----------------------------------------------------------------


def test_cp1252_text_is_decoded_and_recorded(tmp_path):
    text = "Caf\u00e9 staff said \u201cwe\u2019ll call you\u201d \u2013 they didn\u2019t. \u00a35 parking."
    document = extract(write(tmp_path, "excel-export.txt", text, "cp1252"))
    assert document.metadata["encoding"] == "cp1252"
    assert document.passages[0].text == text


@pytest.mark.parametrize(
    ("encoding", "recorded"), [("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16")]
)
def test_text_with_a_byte_order_mark(tmp_path, encoding, recorded):
    document = extract(
        write(tmp_path, "bom.txt", "Na\u00efve question: why \u2192 here?", encoding)
    )
    assert document.metadata["encoding"] == recorded
    assert document.text == "Na\u00efve question: why \u2192 here?"


def test_text_paragraphs_lines_and_normalisation(tmp_path):
    decomposed = unicodedata.normalize("NFD", "Caf\u00e9")
    raw = f"First  paragraph\tline one\r\nline two\x07\n\n\n\n{decomposed}   again.\n  \n"
    document = extract(write(tmp_path, "notes.txt", raw))
    check_offsets(document)
    assert document.kind == "txt"
    assert [(p.locator, p.text) for p in document.passages] == [
        ("line 1", "First paragraph line one\nline two"),
        ("line 6", "Caf\u00e9 again."),
    ]
    assert document.metadata["encoding"] == "utf-8"


def test_binary_file_named_txt_is_refused(tmp_path):
    with pytest.raises(DocumentError, match="binary"):
        extract(write(tmp_path, "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))


def test_markdown_is_reduced_to_plain_text(tmp_path):
    markdown = """---
layout: report
---
# Listening *report*

Patients said **the app** was [confusing](https://example.org/app) and ![chart](c.png) `slow`.
Some_variable_name stays.

- First bullet
- [x] Done item
> quoted voice

| Ward | Score |
|------|-------|
| 7    | 4.5   |

```
# not a heading *kept*
```
"""
    document = extract(write(tmp_path, "report.md", markdown))
    check_offsets(document)
    assert document.kind == "markdown"
    assert document.title == "Listening report"
    assert [(p.locator, p.text) for p in document.passages] == [
        ("line 4", "Listening report"),
        (
            "line 6",
            "Patients said the app was confusing and chart slow.\nSome_variable_name stays.",
        ),
        ("line 9", "First bullet\nDone item\nquoted voice"),
        ("line 13", "Ward | Score\n7 | 4.5"),
        ("line 18", "# not a heading *kept*"),
    ]


# --- HTML -----------------------------------------------------------------------------------


def test_html_skips_scripts_and_navigation_and_unescapes(tmp_path):
    page = """<!doctype html><html><head><title>Friends &amp; Family</title>
    <style>p { color: red }</style><script>var x = "<p>hidden</p>";</script></head>
    <body><nav><a href="/">Home</a> <img src="x.png"></nav>
    <h1>Results</h1><p>Care was &lt;excellent&gt; &mdash; said   most
    people.<br>Caf&eacute; closed.</p><div>Score: <b>4&#46;5</b></div>
    <table><tr><th>Ward</th><td>7</td></tr></table><script>alert(1)</script>Trailing text
    </body></html>"""
    document = extract(write(tmp_path, "page.html", page))
    check_offsets(document)
    assert document.kind == "html"
    assert document.title == "Friends & Family"
    assert [p.text for p in document.passages] == [
        "Results",
        "Care was <excellent> \u2014 said most people.\nCaf\u00e9 closed.",
        "Score: 4.5",
        "Ward | 7",
        "Trailing text",
    ]
    assert document.passages[1].locator == "paragraph 2"
    assert "hidden" not in document.text and "Home" not in document.text


# --- Transcripts ----------------------------------------------------------------------------

VTT = """WEBVTT - Ward 7 listening session

NOTE recorded with consent, 00:00 --> not a cue

1
00:00:01.000 --> 00:00:04.000
<v Alice>The video appointments saved me a journey.</v>

2
00:00:04.500 --> 00:00:06.000 align:start
<v Alice>I would use them again &amp; again.</v>

3
00:06.500 --> 01:02.250
<v.loud Bob>Parking was <i>impossible</i>.
It took an hour.

00:01:03.000 --> 00:01:05.000
Interviewer: Thank you both.
"""


def test_vtt_speakers_are_merged_and_timed(tmp_path):
    document = extract(write(tmp_path, "session.vtt", VTT))
    check_offsets(document)
    assert document.kind == "vtt"
    assert document.title == "Ward 7 listening session"
    got = [
        (p.speaker, p.text, p.locator, p.start_seconds, p.end_seconds) for p in document.passages
    ]
    assert got == [
        (
            "Alice",
            "The video appointments saved me a journey. I would use them again & again.",
            "00:00:01.000\u201300:00:06.000",
            1.0,
            6.0,
        ),
        (
            "Bob",
            "Parking was impossible. It took an hour.",
            "00:00:06.500\u201300:01:02.250",
            6.5,
            62.25,
        ),
        ("Interviewer", "Thank you both.", "00:01:03.000\u201300:01:05.000", 63.0, 65.0),
    ]
    assert document.metadata["speakers"] == ["Alice", "Bob", "Interviewer"]
    assert document.metadata["duration_seconds"] == 65.0
    assert "Alice: The video" in document.text


def test_srt_cues_merge_without_speakers(tmp_path):
    srt = "1\n00:00:01,000 --> 00:00:03,500\n<i>Staff were kind</i>\n\n"
    srt += "2\n00:00:03,600 --> 00:00:05,000\nand the ward was clean.\n"
    document = extract(write(tmp_path, "clip.srt", srt, "cp1252"))
    assert [(p.text, p.speaker, p.start_seconds, p.end_seconds) for p in document.passages] == [
        ("Staff were kind and the ward was clean.", None, 1.0, 5.0)
    ]


def test_long_runs_from_one_speaker_are_capped_near_1000_characters(tmp_path):
    cues = [
        f"{n + 1}\n00:00:{n:02d},000 --> 00:00:{n:02d},900\nThis is cue number {n} of a long answer."
        for n in range(50)
    ]
    document = extract(write(tmp_path, "long.srt", "\n\n".join(cues)))
    check_offsets(document)
    assert len(document.passages) >= 2
    assert all(len(p.text) <= 1000 for p in document.passages)
    assert document.passages[1].start_seconds > document.passages[0].end_seconds - 1


def test_transcript_without_cues_is_an_error(tmp_path):
    with pytest.raises(DocumentError, match="no timed cues"):
        extract(write(tmp_path, "empty.vtt", "WEBVTT\n\nNOTE nothing here\n"))


# --- General errors -------------------------------------------------------------------------


def test_empty_file(tmp_path):
    with pytest.raises(DocumentError, match=r"^empty\.pdf: the file is empty$"):
        extract(write(tmp_path, "empty.pdf", b""))


def test_missing_file(tmp_path):
    with pytest.raises(DocumentError, match="file not found"):
        extract(tmp_path / "nowhere.txt")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("data.xyz", "unsupported file type '.xyz'"),
        ("old.doc", "save it as .docx"),
        ("README", "no extension"),
    ],
)
def test_unsupported_files(tmp_path, name, message):
    with pytest.raises(DocumentError, match=message) as caught:
        extract(write(tmp_path, name, "some text"))
    assert isinstance(caught.value, ValueError)


def test_files_over_max_bytes_are_refused(tmp_path):
    with pytest.raises(DocumentError, match="larger than"):
        extract(write(tmp_path, "big.txt", "x" * 2000), max_bytes=1000)


def test_filename_gives_the_kind_and_the_name_in_errors(tmp_path):
    path = write(tmp_path, "tmp12345.upload", "# Heading\n\nBody text.")
    assert extract(path, filename="notes.md").kind == "markdown"
    with pytest.raises(DocumentError, match=r"^scan\.pdf: "):
        extract(path, filename="scan.pdf")


def test_whitespace_only_text_has_no_text(tmp_path):
    with pytest.raises(DocumentError, match="no text found"):
        extract(write(tmp_path, "blank.txt", " \n\t\n \x0c "))


def test_package_is_pure_python_without_django():
    code = "import sys, changebank.listen.documents; print('django' in sys.modules)"
    src = str(Path(__file__).resolve().parents[2] / "src")
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": src},
    )
    assert result.stdout.strip() == "False"


def test_split_passage_prefers_sentences_then_spaces():
    assert split_passage("One two. Three four.", limit=12) == ["One two.", "Three four."]
    assert split_passage("aaaa bbbb cccc", limit=9) == ["aaaa bbbb", "cccc"]
    assert split_passage("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]


# --- Audio ----------------------------------------------------------------------------------


def synthesise(tmp_path: Path, sentences: list[str]) -> Path:
    """Speak each sentence with espeak-ng and join them with a second of silence."""
    clips, rate = [], 22050
    for number, sentence in enumerate(sentences):
        clip = tmp_path / f"clip{number}.wav"
        subprocess.run(
            [ESPEAK, "-v", "en-us+f2", "-s", "140", "-w", str(clip), sentence], check=True
        )
        with wave.open(str(clip)) as reader:
            rate = reader.getframerate()
            clips.append(np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16))
        clips.append(np.zeros(rate, dtype=np.int16))
    path = tmp_path / "interview.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(np.concatenate(clips).tobytes())
    return path


SENTENCES = [
    "the patients liked the video appointments",
    "i waited three hours for my appointment at the hospital",
]
# pocketsphinx's model hears espeak-ng's robotic voice imperfectly ("the patients like the
# regular appointments"), so the tests ask for a few of these words, not every one of them.
EXPECTED = {
    "patients",
    "video",
    "appointments",
    "waited",
    "three",
    "hours",
    "appointment",
    "hospital",
}


def wav_to_mp3(source: Path, target: Path) -> Path:
    """Re-encode a WAV file as MP3 with PyAV."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream = dst.add_stream("libmp3lame", rate=22050, layout="mono")
        stream.bit_rate = 128_000
        for frame in src.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return target


@pytest.fixture(scope="module")
def backend():
    return PocketSphinxBackend()


@needs_espeak
@pytest.mark.slow
def test_wav_speech_is_transcribed_offline_into_timed_passages(tmp_path, backend):
    document = extract(synthesise(tmp_path, SENTENCES), speech_backend=backend)
    check_offsets(document)
    assert document.kind == "audio"
    assert document.metadata["speech_backend"] == "pocketsphinx"
    assert document.metadata["duration_seconds"] == pytest.approx(10, abs=2)
    words = set(document.text.split())
    assert len(words & EXPECTED) >= 3, document.text
    assert len(document.passages) == 2
    first, second = document.passages
    assert 0 <= first.start_seconds < first.end_seconds < second.start_seconds < second.end_seconds
    assert "\u2013" in first.locator and first.locator.startswith("00:00:0")


@needs_espeak
@pytest.mark.slow
def test_mp3_made_with_pyav_is_decoded_and_transcribed(tmp_path, backend):
    mp3 = wav_to_mp3(synthesise(tmp_path, SENTENCES), tmp_path / "voice.mp3")
    assert mp3.read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    document = extract(mp3, speech_backend=backend)
    assert document.kind == "audio"
    assert document.metadata["duration_seconds"] == pytest.approx(10, abs=2)
    assert len(set(document.text.split()) & EXPECTED) >= 3, document.text


def test_silent_recording_has_no_speech(tmp_path, backend):
    path = tmp_path / "silence.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(bytes(16000 * 2 * 2))
    with pytest.raises(DocumentError, match="no speech was recognised"):
        extract(path, speech_backend=backend)


def test_undecodable_audio_raises_document_error(tmp_path):
    path = write(tmp_path, "voice.mp3", bytes(range(256)) * 40)
    with pytest.raises(
        DocumentError, match=r"^voice\.mp3: not a readable audio recording \(could not decode"
    ):
        extract(path)


# --- Speech backends ------------------------------------------------------------------------


def test_get_backend_builds_pocketsphinx_by_default():
    backend = get_backend()
    assert isinstance(backend, PocketSphinxBackend) and isinstance(backend, SpeechBackend)
    assert backend.name == "pocketsphinx"
    assert Path(backend.model_path, "en-us").is_dir()


def test_get_backend_rejects_unknown_names():
    with pytest.raises(DocumentError, match="unknown speech backend 'vosk'"):
        get_backend("vosk")


def test_whisper_backend_without_a_model_folder(tmp_path):
    with pytest.raises(DocumentError, match=f"no Whisper model in {tmp_path / 'missing'}"):
        WhisperBackend(tmp_path / "missing")
    with pytest.raises(DocumentError, match="no Whisper model in"):
        get_backend("whisper", model_dir=tmp_path)


def test_whisper_backend_with_model_files_but_no_usable_model(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"not really a model")
    (tmp_path / "config.json").write_text("{}")
    installed = importlib.util.find_spec("faster_whisper") is not None
    message = "could not load the Whisper model" if installed else r"install changebank\[whisper\]"
    with pytest.raises(DocumentError, match=message):
        WhisperBackend(tmp_path)
