"""Redaction of personal data: precision, recall and F1 per kind on planted data, and speed.

Run it with ``.venv/bin/python benchmarks/bench_redaction.py [--repeat 5] [--no-save]``.

The test set is ``tests/fixtures/redaction/planted.jsonl`` (made by ``make_redaction_set.py``):
about 600 real NHS comments (pxtextmining, NHS England, MIT licence) with personal data planted
in them and hard negatives beside it. For each kind:

- recall: planted items of the kind that a finding of the same kind overlaps;
- precision (strict): findings of the kind that overlap a planted item of the same kind, over all
  findings of the kind; everything else counts as wrong, including findings in the real comment's
  own text, which may be genuine personal data nobody planted (staff first names, mostly);
- precision (planted text): the same leaving out findings wholly inside the real comment's own
  text and overlapping no planted item: those are listed as "unplanted findings" for review.
  Findings in the planted sentences and the hard negatives always count.

Speed: ``redact`` over every comment of the test set (most hold digits, so every recogniser runs)
and over all the real comments of 150 to 250 characters ("typical 200-character comments"), best
of ``--repeat`` runs on one core, by CPU time (and wall time, which a busy machine inflates).
Results are printed and written to ``benchmarks/results/redaction-YYYYMMDD-HHMMSS.json`` and
``benchmarks/results/redaction-latest.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import common  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from changebank.analysis.redact import KINDS, find_personal_data, redact

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "redaction" / "planted.jsonl"
SOURCE = ROOT.parent / "shared" / "data" / "pxtextmining" / "phase1_text_data.csv"


def load(path: Path = FIXTURE) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def evaluate(records: list[dict], recognisers=None) -> dict:
    """Per-kind counts and figures, and the findings in real text that nobody planted."""
    tp_recall: Counter = Counter()
    planted: Counter = Counter()
    found: Counter = Counter()
    correct: Counter = Counter()
    in_original: Counter = Counter()
    wrong_kind: Counter = Counter()
    unplanted: list[dict] = []
    false_positives: list[dict] = []
    missed: list[dict] = []
    for rec in records:
        findings = find_personal_data(rec["text"], recognisers=recognisers)
        items = rec["items"]
        for it in items:
            planted[it["kind"]] += 1
            span = (it["start"], it["end"])
            if any(f.kind == it["kind"] and overlaps((f.start, f.end), span) for f in findings):
                tp_recall[it["kind"]] += 1
            else:
                got = [f"{f.kind}:{f.text}" for f in findings if overlaps((f.start, f.end), span)]
                missed.append({"id": rec["id"], "kind": it["kind"], "text": it["text"], "got": got})
        for f in findings:
            found[f.kind] += 1
            span = (f.start, f.end)
            hits = [it for it in items if overlaps(span, (it["start"], it["end"]))]
            if any(it["kind"] == f.kind for it in hits):
                correct[f.kind] += 1
                continue
            entry = {"id": rec["id"], "kind": f.kind, "text": f.text}
            if hits:
                wrong_kind[f.kind] += 1
                entry["planted"] = [it["kind"] for it in hits]
                false_positives.append(entry)
            elif any(s <= f.start and f.end <= e for s, e in rec["original"]):
                in_original[f.kind] += 1
                a, b = max(0, f.start - 30), min(len(rec["text"]), f.end + 30)
                entry["context"] = rec["text"][a:b]
                unplanted.append(entry)
            else:
                neg = [
                    n["kind"] for n in rec["negatives"] if overlaps(span, (n["start"], n["end"]))
                ]
                entry["negative"] = neg[0] if neg else None
                false_positives.append(entry)

    def figures(kinds) -> dict:
        p_n = sum(planted[k] for k in kinds)
        f_n = sum(found[k] for k in kinds)
        c_n = sum(correct[k] for k in kinds)
        r_n = sum(tp_recall[k] for k in kinds)
        o_n = sum(in_original[k] for k in kinds)
        recall = r_n / p_n if p_n else None
        strict = c_n / f_n if f_n else None
        planted_p = c_n / (f_n - o_n) if f_n - o_n else None

        def f1(p, r):
            return None if p is None or r is None or p + r == 0 else 2 * p * r / (p + r)

        return {
            "planted": p_n,
            "found": f_n,
            "correct": c_n,
            "recalled": r_n,
            "unplanted_in_original": o_n,
            "recall": recall,
            "precision_strict": strict,
            "f1_strict": f1(strict, recall),
            "precision_planted_text": planted_p,
            "f1_planted_text": f1(planted_p, recall),
        }

    per_kind = {k: figures([k]) for k in KINDS}
    return {
        "per_kind": per_kind,
        "overall": figures(KINDS),
        "wrong_kind": dict(wrong_kind),
        "false_positives": false_positives,
        "unplanted_findings": unplanted,
        "missed": missed,
    }


def typical_comments() -> list[str]:
    with SOURCE.open(newline="", encoding="utf-8") as fh:
        return [r["feedback"] for r in csv.DictReader(fh) if 150 <= len(r["feedback"] or "") <= 250]


def throughput(texts: list[str], repeat: int, recognisers=None) -> dict:
    """Best of ``repeat`` runs of ``redact`` over ``texts``, by CPU time of this process (one
    core; steadier than wall time on a shared machine) and by wall time."""
    redact(texts[0], recognisers=recognisers)  # warm up: load the names list, compile
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        for t in texts:
            redact(t, recognisers=recognisers)
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - t0)
    chars = sum(len(t) for t in texts)
    return {
        "comments": len(texts),
        "mean_chars": round(chars / len(texts), 1),
        "cpu_seconds_best": round(best_cpu, 4),
        "wall_seconds_best": round(best_wall, 4),
        "comments_per_s": round(len(texts) / best_cpu),
        "comments_per_s_wall": round(len(texts) / best_wall),
        "chars_per_s": round(chars / best_cpu),
        "us_per_comment": round(best_cpu / len(texts) * 1e6, 1),
    }


def fmt(x) -> str:
    return "   -  " if x is None else f"{x:6.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--show", type=int, default=40, help="unplanted findings to print")
    parser.add_argument(
        "--presidio",
        choices=["with", "only"],
        help="add Presidio's pattern recognisers to changebank's ('with') or use them alone "
        "('only'); needs presidio-analyzer (see changebank.analysis.redact_presidio)",
    )
    args = parser.parse_args()

    recognisers = None
    if args.presidio:
        from changebank.analysis.redact import DEFAULT_RECOGNISERS
        from changebank.analysis.redact_presidio import presidio_recognisers

        extra = presidio_recognisers()
        recognisers = (*DEFAULT_RECOGNISERS, *extra) if args.presidio == "with" else extra
        # Presidio caches each text's analysis: measure speed without that cache's help
        args.repeat = 1

    records = load()
    result = evaluate(records, recognisers)
    print(f"{len(records)} comments, {sum(len(r['items']) for r in records)} planted items, "
          f"{sum(len(r['negatives']) for r in records)} hard negatives")  # fmt: skip
    head = f"{'kind':<14} {'planted':>7} {'found':>6} {'recall':>6} {'P strict':>8} "
    head += f"{'F1 strict':>9} {'P planted':>9} {'F1 planted':>10} {'unplanted':>9}"
    print(head)
    rows = list(result["per_kind"].items()) + [("overall", result["overall"])]
    for kind, r in rows:
        print(
            f"{kind:<14} {r['planted']:>7} {r['found']:>6} {fmt(r['recall'])} "
            f"{fmt(r['precision_strict']):>8} {fmt(r['f1_strict']):>9} "
            f"{fmt(r['precision_planted_text']):>9} {fmt(r['f1_planted_text']):>10} "
            f"{r['unplanted_in_original']:>9}"
        )
    print(f"\nfalse positives ({len(result['false_positives'])}):")
    for fp in result["false_positives"]:
        print("  ", fp)
    print(f"\nmissed ({len(result['missed'])}):")
    for m in result["missed"]:
        print("  ", m)
    print(f"\nunplanted findings in the real comments, for review ({len(result['unplanted_findings'])}):")  # fmt: skip
    for u in result["unplanted_findings"][: args.show]:
        print(f"   {u['kind']:<10} {u['text']!r:<22} …{u['context']}…")

    speed = {
        "test_set": throughput([r["text"] for r in records], args.repeat, recognisers),
        "typical_150_250_chars": throughput(typical_comments(), args.repeat, recognisers),
    }
    print()
    for name, s in speed.items():
        print(
            f"speed {name}: {s['comments_per_s']:,} comments per CPU second "
            f"({s['us_per_comment']} µs each; {s['comments_per_s_wall']:,}/s by wall time), "
            f"{s['comments']} comments of {s['mean_chars']} chars on average"
        )

    report = {
        "benchmark": "redaction" + (f"-presidio-{args.presidio}" if args.presidio else ""),
        "fixture": str(FIXTURE.relative_to(ROOT)),
        "comments": len(records),
        "match_rule": "same kind and overlapping span",
        **result,
        "speed": speed,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpu": common.cpu_model(),
            "loadavg": common.loadavg(),
        },
    }
    if not args.no_save:
        common.write_results(report["benchmark"], report)


if __name__ == "__main__":
    main()
