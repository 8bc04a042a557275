"""Importing real data files and crafted survey-tool exports."""

from __future__ import annotations

import csv

import pytest

from changebank.listen.importers import ImportFileError, open_source, propose_mapping
from changebank.listen.importers.loader import import_file
from changebank.listen.models import ImportBatch, Question, Respondent, Submission
from tests.conftest import FIXTURES, shared

SURVEYS = FIXTURES / "surveys"
KEEP = "What change made during COVID-19 would you like to keep?"
NEVER = "What should never come back?"


@pytest.mark.parametrize(
    ("name", "tool"),
    [
        ("qualtrics.csv", "qualtrics"),
        ("qualtrics.tsv", "qualtrics"),
        ("surveymonkey.csv", "surveymonkey"),
        ("surveymonkey.xlsx", "surveymonkey"),
        ("msforms.xlsx", "msforms"),
        ("googleforms.csv", "googleforms"),
    ],
)
def test_survey_tool_exports_are_recognised_and_imported(programme, name, tool):
    source = open_source(SURVEYS / name)
    assert source.tool == tool
    mapping = propose_mapping(source)
    text_columns = [c.label for c in source.columns if mapping.roles[c.header] == "text"]
    assert any(KEEP in label for label in text_columns), text_columns
    assert any(NEVER in label for label in text_columns), text_columns

    result = import_file(SURVEYS / name, programme)

    # 11 respondents; one answered only the rating, so 10 rows carry free text.
    assert result.rows_read == 11
    assert result.rows_empty == 1
    assert result.rows_added == 10
    keep = Submission.objects.filter(programme=programme, question__prompt__contains=KEEP)
    never = Submission.objects.filter(programme=programme, question__prompt__contains=NEVER)
    assert keep.count() == 9
    assert never.count() == 9
    # The comment with a comma, a quote and a newline survives intact.
    assert keep.filter(text__contains="\n").filter(text__contains='"').exists()
    assert Submission.objects.filter(text__contains="café").exists()
    # Who said it: role and organisation come through.
    staff = Respondent.objects.filter(programme=programme, role="staff")
    assert staff.filter(organisation="Northshire Hospitals NHS Foundation Trust").exists()
    # Answers given together share a reference.
    first = keep.order_by("source_row").first()
    assert never.filter(reference=first.reference).exists()


def test_pxtextmining_multilabel_file(programme):
    path = shared("pxtextmining", "v6framework_train.csv")
    result = import_file(path, programme)
    assert result.rows_read == 6386
    assert result.error_count == 0
    # Every row has a comment ID, so nothing is merged; "Nothing" answers are real rows too.
    assert result.rows_added + result.rows_empty == 6386
    assert Submission.objects.filter(programme=programme).count() == result.submissions_added
    with path.open(encoding="utf-8") as fh:
        expected = sum(1 for row in csv.DictReader(fh) if row["FFT answer"].strip())
    assert result.submissions_added == expected
    # A respondent who answered both FFT questions is one person with two submissions.
    assert Respondent.objects.filter(programme=programme).count() < expected
    assert batch_mapping_is_sensible(ImportBatch.objects.get().mapping)


def batch_mapping_is_sensible(mapping):
    cols = mapping["columns"]
    return (
        cols["FFT answer"] == "text"
        and cols["Comment ID"] == "id"
        and cols["Respondent ID"] == "respondent_id"
        and cols["FFT question"] == "question"
    )


def test_pxtextmining_single_label_file_with_malformed_values(programme):
    path = shared("pxtextmining", "phase1_text_data.csv")
    result = import_file(path, programme)
    assert result.rows_read == 10334
    assert result.error_count == 0
    assert result.rows_added + result.rows_empty == 10334
    # The analysts' labels are kept as attributes, malformed criticality values included.
    assert (
        Respondent.objects.filter(attributes__criticality="-o").exists()
        or Respondent.objects.filter(attributes__has_key="criticality").exists()
    )


def test_themefinder_folder_layout(programme):
    folder = shared("themefinder-synthetic", "gambling_XS", "inputs")
    source = open_source(folder)
    assert source.tool == "themefinder"
    result = import_file(folder, programme)
    assert result.submissions_added == 200  # 2 questions x 100 responses
    assert Respondent.objects.filter(programme=programme).count() == 100
    assert Question.objects.filter(programme=programme).count() == 2
    respondent = Respondent.objects.get(programme=programme, external_id="1001")
    assert respondent.submissions.count() == 2
    assert respondent.region in {"England", "Scotland", "Wales", "Northern Ireland", "NI"}
    assert any("disability" in key for key in respondent.equality)
    # Importing again adds nothing.
    again = import_file(folder, programme)
    assert again.submissions_added == 0
    assert again.rows_already_imported == 200


def test_themefinder_layout_as_a_zip(programme, tmp_path):
    import zipfile

    folder = shared("themefinder-synthetic", "gambling_XS", "inputs")
    archive = tmp_path / "consultation.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in folder.rglob("*"):
            zf.write(file, "export/" + str(file.relative_to(folder)))
    result = import_file(archive, programme)
    assert result.description.startswith("Consult / ThemeFinder layout")
    assert result.submissions_added == 200


def test_zip_with_unsafe_paths_is_refused(programme, tmp_path):
    import zipfile

    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../question_part_1/responses.jsonl", '{"response_id": 1, "response": "x"}')
    with pytest.raises(ImportFileError, match="unsafe path"):
        import_file(archive, programme)


def test_themefinder_generation_csv(programme):
    path = shared("themefinder-synthetic", "generation", "eval_sentiments.csv")
    result = import_file(
        path,
        programme,
        mapping={
            "propose_rest": False,
            "columns": {"response": "text", "response_id": "id", "position": "attribute"},
        },
    )
    assert result.rows_read == 1000
    assert result.submissions_added == 1000


def test_banking77(programme):
    path = shared("banking77", "train.csv")
    result = import_file(path, programme)
    assert result.rows_read == 10003
    assert result.submissions_added == 10003
    assert Respondent.objects.filter(attributes__category="card_arrival").exists()


def test_jsonl_and_json(programme, tmp_path):
    import json

    rows = [
        {
            "id": f"r{i}",
            "comment": f"Comment number {i} about the new phone triage service",
            "who": {"role": "Patient"},
        }
        for i in range(30)
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(rows), encoding="utf-8")
    first = import_file(tmp_path / "a.jsonl", programme)
    assert first.submissions_added == 30
    assert Respondent.objects.filter(role="patient").count() == 30
    second = import_file(tmp_path / "b.json", programme)
    assert second.submissions_added == 0
    assert second.rows_already_imported == 30
