"""The Dask engine (changebank.analysis.distributed) on real NHS Friends and Family Test comments.

2,400 comments of pxtextmining's v6 file (about 6 % empty, some with line breaks inside quotes) are
written as three Parquet files of three row groups each and as three CSV files, and analysed on a
LocalCluster of two worker processes, on one worker, in-process, and through the command line.
The distribution must not change the answer: each row's result is the same however many workers
there are and however the input is split, and equals ThemeModel fitted on the same sample with
predict on the rest.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from changebank.analysis import ThemeModel  # noqa: E402
from changebank.analysis.distributed import (  # noqa: E402
    Columns,
    DistributedAnalysis,
    InputError,
    plan_partitions,
    read_partition,
    sample_keys,
)
from changebank.analysis.sentiment import SentimentModel, StanceModel  # noqa: E402
from tests.conftest import command_env, shared  # noqa: E402

N = 2_400
SAMPLE = 600
FILES = 3
EXACT = ["code", "theme", "needs_review", "sentiment", "stance"]


@pytest.fixture(scope="module")
def comments() -> pd.DataFrame:
    data = pd.read_csv(
        shared("pxtextmining", "v6framework_train.csv"), dtype=str, keep_default_na=False
    )
    data = data[["Comment ID", "FFT answer", "FFT question"]].iloc[:N]
    return data.rename(columns={"Comment ID": "id", "FFT answer": "comment", "FFT question": "q"})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, comments: pd.DataFrame) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    size = N // FILES
    for i in range(FILES):
        part = comments.iloc[i * size : (i + 1) * size]
        table = pa.Table.from_pandas(part, preserve_index=False)
        pq.write_table(table, root / f"part-{i}.parquet", row_group_size=300)
        part.to_csv(root / f"part-{i}.csv", index=False)
    return root


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster


def analysis(**params) -> DistributedAnalysis:
    return DistributedAnalysis(
        text_column="comment",
        id_column="id",
        question_column="q",
        sample_size=SAMPLE,
        partition_rows=500,  # row groups of 300 + 300 + 200: two partitions a file
        blocksize=16 * 1024,
        **params,
    )


def results(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder / "results").set_index("id").sort_index()


def same(a: pd.DataFrame, b: pd.DataFrame, atol: float = 0.0) -> None:
    """The same rows with the same codes, themes, sentiment and stance; confidences within atol."""
    assert list(a.index) == list(b.index)
    for column in EXACT:
        assert a[column].astype(str).tolist() == b[column].astype(str).tolist(), column
    assert a["codes"].map(list).tolist() == b["codes"].map(list).tolist()
    for column in ("confidence", "sentiment_confidence", "stance_confidence"):
        np.testing.assert_allclose(a[column], b[column], rtol=0, atol=atol, err_msg=column)


@pytest.fixture(scope="module")
def two_workers(cluster, inputs: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("two-workers")
    with Client(cluster):
        estimator = analysis().fit(str(inputs / "*.parquet"))
        codebook = estimator.write(out)
    return estimator, codebook, out


def test_every_input_row_gets_exactly_one_result_row(two_workers, comments):
    estimator, codebook, out = two_workers
    found = pd.read_parquet(out / "results")
    assert len(found) == N and found["id"].is_unique
    assert set(found["id"]) == set(comments["id"])
    assert len(list((out / "results").glob("part-*.parquet"))) == estimator.n_partitions_ == 6
    assert estimator.n_rows_ == N and estimator.n_empty_ == int(
        (comments["comment"].str.strip() == "").sum()
    )

    # the codebook's counts are the results' counts
    on_disk = json.loads((out / "codebook.json").read_text())
    assert on_disk["rows"] == codebook["rows"] == N
    assert {c["code"]: c["rows"] for c in on_disk["codes"]} == {
        c: int((found["code"] == c).sum()) for c in range(len(on_disk["codes"]))
    }
    assert sum(t["rows"] for t in on_disk["themes"]) == N
    assert sum(on_disk["sentiment"].values()) == N and sum(on_disk["stance"].values()) == N
    assert all(c["label"] and c["rows_any"] >= c["rows"] for c in on_disk["codes"])

    # blank answers: the empty-answer code, full confidence, no sentiment
    blank = found["id"].isin(comments.loc[comments["comment"].str.strip() == "", "id"])
    empty_code = estimator.theme_model_.empty_code_
    assert empty_code is not None and (found.loc[blank, "code"] == empty_code).all()
    assert (found.loc[blank, "confidence"] == 1.0).all() and found.loc[
        blank, "sentiment"
    ].isna().all()
    assert found.loc[~blank, "sentiment"].between(1, 5).all()
    assert set(found["stance"]) <= {"keep", "concern", "mixed", "neutral"}
    assert (found["needs_review"] == (found["confidence"] < 0.5)).all()


def test_one_worker_and_the_in_process_engine_give_the_same_results(
    two_workers, inputs: Path, tmp_path: Path
):
    estimator, codebook, out = two_workers
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            dashboard_address=":0",  # any free port: the other cluster holds 8787
            silence_logs=logging.ERROR,
        ) as one,
        Client(one),
    ):
        single = analysis().fit(str(inputs / "*.parquet"))
        single.write(tmp_path / "one")
    local = analysis(engine="in-process").fit(str(inputs / "*.parquet"))
    local.write(tmp_path / "local")
    for other in (single, local):
        pd.testing.assert_frame_equal(other.sample_, estimator.sample_)
    reference = results(out)
    pd.testing.assert_frame_equal(results(tmp_path / "one"), reference)
    pd.testing.assert_frame_equal(results(tmp_path / "local"), reference)
    for folder in ("one", "local"):
        book = json.loads((tmp_path / folder / "codebook.json").read_text())
        assert book["codes"] == codebook["codes"] and book["themes"] == codebook["themes"]


def test_equals_theme_model_fitted_on_the_sample_with_predict_on_the_rest(
    two_workers, comments: pd.DataFrame
):
    estimator, _, out = two_workers
    found = results(out)
    # the sample: the SAMPLE non-empty rows whose keyed id hashes are smallest
    full = comments[comments["comment"].str.strip() != ""]
    keys = sample_keys(full["id"], 0)
    expected = set(full["id"].to_numpy()[np.argsort(keys, kind="stable")[:SAMPLE]])
    assert set(estimator.sample_["id"]) == expected

    picked = comments.set_index("id").loc[estimator.sample_["id"]]  # in fitted order
    model = ThemeModel(embedder="wordllama", sample_size=SAMPLE + 1, random_state=0)
    model.fit(picked["comment"].tolist() + [""])
    in_sample = found.loc[picked.index]
    assert in_sample["code"].tolist() == model.labels_[:SAMPLE].tolist()
    np.testing.assert_allclose(in_sample["confidence"], model.confidence_[:SAMPLE], atol=1e-6)

    rest = comments.set_index("id").drop(index=picked.index)
    predicted = model.predict(rest["comment"].tolist())
    assert found.loc[rest.index, "code"].tolist() == predicted.tolist()
    assert found.loc[rest.index, "theme"].tolist() == [model.codes_[c].theme for c in predicted]

    sentiment = SentimentModel.pretrained()
    ordered = comments.set_index("id").loc[found.index]
    texts, questions = ordered["comment"].tolist(), ordered["q"].tolist()
    best = sentiment.predict_proba(texts, questions=questions).argmax(axis=1) + 1
    filled = ordered["comment"].str.strip() != ""
    assert found.loc[filled, "sentiment"].astype(int).tolist() == best[filled.to_numpy()].tolist()
    stances = StanceModel(sentiment=sentiment).predict(texts, questions=questions)
    assert found["stance"].tolist() == stances.tolist()


def test_csv_partitions_give_the_same_answer(two_workers, inputs: Path, tmp_path: Path):
    estimator, _, out = two_workers
    parts = plan_partitions(str(inputs / "*.csv"), Columns("comment", "id", "q"), 500, 16 * 1024)
    assert len(parts) > 2 * FILES  # byte ranges, several a file
    csv_run = analysis(engine="in-process").fit(parts)
    csv_run.write(tmp_path)
    # keyed by id, the sample does not depend on how the input is split
    assert csv_run.sample_["id"].tolist() == estimator.sample_["id"].tolist()
    # different batches change float32 sums in the last bits only
    same(results(tmp_path), results(out), atol=1e-5)


def test_csv_cut_points_are_outside_quotes(tmp_path: Path):
    rng = np.random.RandomState(0)
    words = ["ward", "staff", 'said "kind"', "wait,\nthen", "long\r\nday", "nurse"]
    rows = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(400)],
            "text": [" ".join(rng.choice(words, rng.randint(1, 60))) for _ in range(400)],
        }
    )
    path = tmp_path / "quoted.csv"
    rows.to_csv(path, index=False)
    parts = plan_partitions(str(path), Columns("text", "id"), blocksize=1024)
    assert len(parts) > 10
    back = pd.concat([read_partition(p, Columns("text", "id")) for p in parts], ignore_index=True)
    whole = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert back["id"].tolist() == whole["id"].tolist()
    assert back["text"].tolist() == whole["text"].tolist()


def test_transform_is_lazy_and_matches_the_written_results(two_workers, cluster):
    estimator, _, out = two_workers
    with Client(cluster):
        lazy = estimator.transform()
        assert lazy.npartitions == estimator.n_partitions_
        computed = lazy.compute().set_index("id").sort_index()
    pd.testing.assert_frame_equal(computed, results(out), check_dtype=False)


def test_clear_errors(inputs: Path, tmp_path: Path, cluster):
    local = analysis(engine="in-process")
    with pytest.raises(InputError, match=r"part-0\.parquet has no text column 'nope'"):
        DistributedAnalysis(text_column="nope", engine="in-process").fit(str(inputs / "*.parquet"))
    with pytest.raises(InputError, match=r"part-0\.csv has no id column 'ref'"):
        DistributedAnalysis(text_column="comment", id_column="ref").fit(str(inputs / "*.csv"))
    with pytest.raises(InputError, match="no files match"):
        local.fit(str(tmp_path / "missing-*.parquet"))
    with pytest.raises(InputError, match="input file not found"):
        local.fit(str(tmp_path / "missing.csv"))

    (tmp_path / "notes.json").write_text("[]")
    with pytest.raises(InputError, match=r"notes\.json: not a Parquet"):
        local.fit(str(tmp_path / "notes.json"))
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match=r"broken\.parquet: cannot read it as Parquet"):
        local.fit(str(tmp_path / "broken.parquet"))
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.csv is empty"):
        local.fit(str(tmp_path / "empty.csv"))

    schema = pa.schema([("id", pa.string()), ("comment", pa.string()), ("q", pa.string())])
    pq.write_table(schema.empty_table(), tmp_path / "no-rows.parquet")
    with pytest.raises(InputError, match="no rows"):
        local.fit(str(tmp_path / "no-rows.parquet"))
    blank = pd.DataFrame({"id": ["a", "b"], "comment": ["", "  "], "q": ["", ""]})
    blank.to_csv(tmp_path / "blank.csv", index=False)
    with pytest.raises(InputError, match="every text in the column 'comment'.* is empty"):
        local.fit(str(tmp_path / "blank.csv"))

    # a body that is not UTF-8 is found when a worker reads it: the error names the file
    (tmp_path / "latin1.csv").write_bytes(b"id,comment,q\n1,caf\xe9 was shut,\n")
    with Client(cluster), pytest.raises(InputError, match=r"latin1\.csv .*not UTF-8"):
        analysis().fit(str(tmp_path / "latin1.csv"))

    fitted = local.fit(str(inputs / "part-0.parquet"))
    fitted.write(tmp_path / "out")
    with pytest.raises(InputError, match="already holds results"):
        fitted.write(tmp_path / "out")
    with pytest.raises(ValueError, match="sample_size"):
        DistributedAnalysis(sample_size=10).fit(str(inputs / "part-0.parquet"))


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = command_env(data_dir, CHANGEBANK_SECRET_KEY="test-key-for-the-dask-engine-0123456789")
    return subprocess.run(
        [sys.executable, "-m", "changebank.cli", "analyse", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_command_line_end_to_end(cluster, inputs: Path, tmp_path: Path, two_workers):
    common = ["--engine", "dask", "--text-column", "comment", "--id-column", "id"]
    common += ["--question-column", "q", "--sample-size", str(SAMPLE)]
    # against a running scheduler
    done = run_cli(
        tmp_path,
        *common,
        "--input",
        str(inputs / "*.parquet"),
        "--output",
        str(tmp_path / "out"),
        "--scheduler",
        cluster.scheduler_address,
    )
    assert done.returncode == 0, done.stderr
    assert f"Analysed {N:,} rows" in done.stdout
    found = pd.read_parquet(tmp_path / "out" / "results")
    assert len(found) == N and found["id"].is_unique
    codebook = json.loads((tmp_path / "out" / "codebook.json").read_text())
    assert codebook["rows"] == N and codebook["codes"]

    # a LocalCluster started by the command, on one CSV file
    done = run_cli(
        tmp_path,
        *common,
        "--input",
        str(inputs / "part-0.csv"),
        "--output",
        str(tmp_path / "local"),
        "--workers",
        "1",
    )
    assert done.returncode == 0, done.stderr
    assert "LocalCluster of 1 worker" in done.stdout
    assert len(pd.read_parquet(tmp_path / "local" / "results")) == N // FILES


def test_command_line_errors(inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    from changebank.cli import build_parser, cmd_analyse

    def analyse(*args: str) -> tuple[int, str]:
        code = cmd_analyse(build_parser().parse_args(["analyse", *args]))
        return code, capsys.readouterr().err

    (tmp_path / "out" / "results").mkdir(parents=True)
    (tmp_path / "out" / "codebook.json").write_text("{}")
    dask = ["--engine", "dask", "--text-column", "comment", "--output", str(tmp_path / "out")]
    assert analyse(*dask, "--input", str(inputs)) == (
        2,
        f"changebank: {tmp_path / 'out'} already holds results; choose another folder or "
        "overwrite them (overwrite=True, --overwrite)\n",
    )
    code, err = analyse(*dask[:2], "--input", str(inputs / "part-0.csv"), "--text-column", "nope")
    assert code == 2 and "needs --input, --text-column and --output" in err
    code, err = analyse(
        *dask[:2],
        "--text-column",
        "nope",
        "--output",
        str(tmp_path / "x"),
        "--input",
        str(inputs / "part-0.csv"),
    )
    assert code == 2 and "part-0.csv has no text column 'nope'" in err
    code, err = analyse("--engine", "dask", "--programme", "fft")
    assert code == 2 and "not programmes yet" in err
    code, err = analyse()
    assert code == 2 and "needs --programme" in err
    code, err = analyse("--programme", "fft", "--input", str(inputs))
    assert code == 2 and "go with --engine dask" in err
    assert not (tmp_path / "x").exists()


def test_the_engine_imports_no_django():
    code = (
        "import sys, changebank.analysis.distributed; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
