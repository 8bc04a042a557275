"""Train, evaluate and ship changebank's sentiment model (``SentimentModel.pretrained()``).

Data: pxtextmining's ``v6framework_train.csv`` (real NHS Friends and Family Test comments, MIT
licence, © NHS England; see ``src/changebank/analysis/models/NOTICE``). Rows with a blank
``Comment sentiment`` are unlabelled and left out.

1. A fixed split of the labelled rows: ``numpy.random.RandomState(42).permutation``, the first
   20 % held out for testing, the other 80 % for training.
2. Settings (SVM ``C``, question context on or off) chosen by 5-fold cross-validated accuracy on
   the training part only.
3. The chosen settings fitted on the training part and measured once on the held-out part, next
   to a baseline (default ``TfidfVectorizer`` + default ``LinearSVC``) on the same split.
4. The shipped model: the chosen settings fitted on ALL labelled rows, written to
   ``src/changebank/analysis/models/sentiment.npz``, and checked to reload with the same output.

Run from the checkout (takes a few minutes on two cores)::

    .venv/bin/python tools/train_sentiment.py
    .venv/bin/python tools/train_sentiment.py --no-search     # skip step 2, use the defaults
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from itertools import product
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, mean_absolute_error
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from changebank.analysis.sentiment import STANCES, SentimentModel, StanceModel  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "pxtextmining" / "v6framework_train.csv"
OUT = ROOT / "src" / "changebank" / "analysis" / "models" / "sentiment.npz"
GRID = {"C": [0.03, 0.1, 0.3], "use_question": [False, True]}


def load(path: Path) -> tuple[list[str], list[str], np.ndarray, int]:
    """Texts, questions and sentiment of the labelled rows, and the number of rows in the file."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    labelled = [r for r in rows if (r["Comment sentiment"] or "").strip()]
    texts = [r["FFT answer"] or "" for r in labelled]
    questions = [r["FFT question"] or "" for r in labelled]
    y = np.array([int(float(r["Comment sentiment"])) for r in labelled])
    return texts, questions, y, len(rows)


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": accuracy_score(y, p),
        "macro_f1": f1_score(y, p, average="macro"),
        "mae": mean_absolute_error(y, p),
    }


def line(name: str, m: dict[str, float]) -> str:
    return (
        f"  {name:<52} accuracy {m['accuracy']:.3f}  macro F1 {m['macro_f1']:.3f}  "
        f"MAE {m['mae']:.3f}"
    )


def take(items: list[str], index: np.ndarray) -> list[str]:
    return [items[i] for i in index]


def search(texts: list[str], questions: list[str], y: np.ndarray) -> dict:
    """5-fold cross-validation on the training part; best mean accuracy wins."""
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y))
    results = []
    for C, use_question in product(GRID["C"], GRID["use_question"]):
        started = time.time()
        pred = {"argmax": np.zeros_like(y), "median": np.zeros_like(y)}
        for train, test in folds:
            model = SentimentModel(C=C, use_question=use_question).fit(
                take(texts, train), y[train], take(questions, train)
            )
            P = model.predict_proba(take(texts, test), take(questions, test))
            for rule in pred:
                pred[rule][test] = model.set_params(decision=rule)._decide(P)
        m = metrics(y, pred["argmax"])
        print(line(f"C={C:<5} question={use_question!s:<5} (argmax)", m))
        print(line(f"C={C:<5} question={use_question!s:<5} (median)", metrics(y, pred["median"])))
        print(f"      {time.time() - started:.0f} s", flush=True)
        results.append((m["accuracy"], -m["mae"], {"C": C, "use_question": use_question}))
    return max(results, key=lambda r: r[:2])[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-search", action="store_true", help="use the default settings")
    args = parser.parse_args()

    texts, questions, y, n_rows = load(args.data)
    counts = {int(c): int((y == c).sum()) for c in np.unique(y)}
    print(f"{args.data.name}: {n_rows} rows, {len(y)} labelled; sentiment counts {counts}")
    perm = np.random.RandomState(42).permutation(len(y))
    n_test = int(round(0.2 * len(y)))
    test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    print(f"fixed split (RandomState(42), 80/20): {len(train)} train, {len(test)} test\n")

    if args.no_search:
        best = {}
        print("settings: defaults (no search)")
    else:
        print("5-fold cross-validation on the training part:")
        best = search(take(texts, train), take(questions, train), y[train])
        print(f"chosen by CV accuracy: {best}")

    print("\nheld-out test (the same 20 % for every row):")
    baseline = make_pipeline(TfidfVectorizer(), LinearSVC())
    baseline.fit(take(texts, train), y[train])
    print(
        line(
            "baseline: TF-IDF + LinearSVC (defaults)",
            metrics(y[test], baseline.predict(take(texts, test))),
        )
    )
    majority = np.full(len(test), np.bincount(y[train]).argmax())
    print(line("majority class", metrics(y[test], majority)))
    started = time.time()
    model = SentimentModel(**best).fit(take(texts, train), y[train], take(questions, train))
    fit_seconds = time.time() - started
    P = model.predict_proba(take(texts, test), take(questions, test))
    P_no_q = model.predict_proba(take(texts, test))
    chosen = model.predict(take(texts, test), take(questions, test))
    print(line("SentimentModel, with questions (argmax)", metrics(y[test], chosen)))
    print(
        line(
            "SentimentModel, with questions (median)",
            metrics(y[test], model.set_params(decision="median")._decide(P)),
        )
    )
    model.set_params(decision="argmax")
    print(line("SentimentModel, text only (argmax)", metrics(y[test], model._decide(P_no_q))))
    within_one = float(np.mean(np.abs(chosen - y[test]) <= 1))
    log_loss = float(-np.mean(np.log(np.clip(P[np.arange(len(test)), y[test] - 1], 1e-15, 1))))
    print(f"  within one point: {within_one:.3f}; log loss {log_loss:.3f}; fit {fit_seconds:.0f} s")
    print("  confusion matrix (rows true 1..5, columns predicted 1..5):")
    for row in confusion_matrix(y[test], chosen, labels=[1, 2, 3, 4, 5]):
        print("   ", " ".join(f"{v:5d}" for v in row))

    # Stance has no labels; as a plausibility check, compare it with the analysts' sentiment
    # on the held-out texts (with the model that has not seen them).
    stances = StanceModel(sentiment=model).predict(take(texts, test), take(questions, test))
    print("\n  stance (columns) against the analysts' sentiment (rows), held-out texts:")
    print("        " + " ".join(f"{s:>8}" for s in STANCES))
    for value in range(1, 6):
        row = [int(np.sum((y[test] == value) & (stances == s))) for s in STANCES]
        print(f"    {value}   " + " ".join(f"{v:8d}" for v in row))

    print(f"\nshipped model: {best or 'defaults'} fitted on all {len(y)} labelled rows")
    final = SentimentModel(**best).fit(texts, y, questions)
    final.info_.update(
        {
            "data": "pxtextmining v6framework_train.csv (The-Strategy-Unit/pxtextmining "
            "datasets/v6framework_230831.csv, snapshot ba6c0a2f), labelled rows; MIT, "
            "(c) 2021 NHS England",
            "held_out": {
                "split": "RandomState(42) 80/20 of labelled rows",
                **{k: round(v, 4) for k, v in metrics(y[test], chosen).items()},
            },
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    final.save(args.out)
    again = SentimentModel.load(args.out)
    same = np.array_equal(
        again.predict_proba(texts[:500], questions[:500]),
        final.predict_proba(texts[:500], questions[:500]),
    )
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, "
        f"{final.info_['n_features']} features); reloads identically: {same}"
    )
    if not same:
        raise SystemExit("the saved model does not reproduce the fitted one")


if __name__ == "__main__":
    main()
