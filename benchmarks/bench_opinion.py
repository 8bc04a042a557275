"""Opinion groups against Pol.is's own groups on four real conversations.

Run it with ``.venv/bin/python benchmarks/bench_opinion.py [--replay second,minute] [--no-save]``.
The data are the Pol.is open-data exports in ``../shared/data/polis/`` (CC BY 4.0, The
Computational Democracy Project; see that folder's README). For each conversation:

- the votes frame is built from ``votes.csv`` in timestamp order, keeping each voter's latest vote
  per comment, and checked cell by cell against ``participants-votes.csv``;
- moderated-out comments (``comments.csv``: ``moderated == -1``) are passed as
  ``exclude_statements``;
- ``fit``: one :class:`OpinionGroups` update on all the votes (what ``opinion_groups`` returns);
- ``replay``: Pol.is's own way, one warm-started ``partial_fit`` per batch of votes, batches by
  second (Pol.is's math worker polls for new votes about once a second) or by minute, hour, day;
- against Pol.is's ``group-id`` (only participants that have one): adjusted Rand index over the
  participants both cluster, the number of groups, the clustered participants, and "moved": the
  share of Pol.is-grouped participants whose nearest Pol.is group mean in our projection is another
  group's (0 = Pol.is's groups sit where one k-means step would keep them).

Tables are printed; every figure is written to ``benchmarks/results/opinion-YYYYMMDD-HHMMSS.json``
and ``benchmarks/results/opinion-latest.json``. Nothing here is random except the power iteration's
start vector, seeded by ``random_state=0``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import common  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from changebank.analysis.opinion import OpinionGroups

ROOT = Path(__file__).resolve().parent.parent
POLIS = ROOT.parent / "shared" / "data" / "polis"
CONVERSATIONS = (
    "15-per-hour-seattle",
    "brexit-consensus",
    "scoop-hivemind.biodiversity",
    "london.youth.policing",
)
TARGET_ARI = 0.9
MIN_VOTERS_FOR_TARGET = 100
BATCHES = {"second": 1_000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}


def load(conv: str) -> dict:
    folder = POLIS / conv
    raw = pd.read_csv(folder / "votes.csv").sort_values("timestamp", kind="stable")
    votes = raw.rename(columns={"voter-id": "voter_id", "comment-id": "statement_id"})
    comments = pd.read_csv(folder / "comments.csv")
    participants = pd.read_csv(folder / "participants-votes.csv")
    latest = votes.drop_duplicates(["voter_id", "statement_id"], keep="last")
    ours = latest.pivot(index="voter_id", columns="statement_id", values="vote")
    theirs = participants.set_index("participant")[[str(c) for c in ours.columns]]
    theirs.columns = ours.columns
    theirs = theirs.loc[ours.index]
    same = (ours == theirs) | (ours.isna() & theirs.isna())
    polis = participants.set_index("participant")["group-id"].dropna().astype(int)
    return {
        "votes": votes[["timestamp", "voter_id", "statement_id", "vote"]],
        "moderated_out": comments.loc[comments["moderated"] == -1, "comment-id"].tolist(),
        "polis": polis,
        "voters": int(votes["voter_id"].nunique()),
        "vote_rows": len(votes),
        "latest_votes": len(latest),
        "comments_with_votes": int(votes["statement_id"].nunique()),
        "matrix_mismatches": int((~same).to_numpy().sum()),
    }


def moved_to_nearest_mean(projection: pd.DataFrame, polis: pd.Series) -> float:
    xy = projection.loc[polis.index].to_numpy()
    labels = polis.to_numpy()
    groups = np.unique(labels)
    means = np.array([xy[labels == g].mean(axis=0) for g in groups])
    nearest = groups[((xy[:, None, :] - means[None]) ** 2).sum(axis=2).argmin(axis=1)]
    return float((nearest != labels).mean())


def compare(model: OpinionGroups, polis: pd.Series) -> dict:
    common_ids = [p for p in polis.index if p in model.groups_]
    ours = [model.groups_[p] for p in common_ids]
    return {
        "ari": round(float(adjusted_rand_score(polis.loc[common_ids], ours)), 4),
        "groups": model.n_groups_,
        "polis_groups": int(polis.nunique()),
        "compared": len(common_ids),
        "polis_clustered": len(polis),
        "clustered": len(model.clustered_),
        "clustered_not_in_polis": len(set(model.clustered_) - set(polis.index)),
        "moved_to_nearest_mean": round(moved_to_nearest_mean(model.projection_, polis), 4),
        "silhouette": {str(k): round(v, 4) for k, v in model.silhouette_.items()},
        "group_sizes": np.bincount(list(model.groups_.values())).tolist(),
        "polis_group_sizes": polis.value_counts().sort_index().tolist(),
    }


def run_fit(data: dict) -> dict:
    votes = data["votes"][["voter_id", "statement_id", "vote"]]
    started, cpu0 = time.perf_counter(), common.cpu_s()
    model = OpinionGroups(exclude_statements=data["moderated_out"]).fit(votes)
    seconds = time.perf_counter() - started
    out = compare(model, data["polis"])
    out["seconds"] = round(seconds, 3)
    out["cpu_s"] = round(common.cpu_s() - cpu0, 3)
    out["representative_per_group"] = {
        str(g): [str(s.statement_id) for s in chosen] for g, chosen in model.representative_.items()
    }
    top = model.consensus_.sort_values("agree", ascending=False).head(3)
    out["top_consensus_agree"] = {str(k): round(v, 4) for k, v in top["agree"].items()}
    return out


def run_replay(data: dict, batch: str) -> dict:
    votes = data["votes"]
    model = OpinionGroups(exclude_statements=data["moderated_out"])
    started, cpu0 = time.perf_counter(), common.cpu_s()
    for _, chunk in votes.groupby(votes["timestamp"] // BATCHES[batch], sort=True):
        model.partial_fit(chunk[["voter_id", "statement_id", "vote"]])
    seconds = time.perf_counter() - started
    out = compare(model, data["polis"])
    out.update(
        updates=model.n_updates_,
        seconds=round(seconds, 2),
        cpu_s=round(common.cpu_s() - cpu0, 2),
        ms_per_update=round(1000 * seconds / model.n_updates_, 2),
        k_smoother=model.k_smoother_,
    )
    return out


def machine_info() -> dict:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": common.cpu_model(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg_at_start": common.loadavg(),
        "versions": {n: version(n) for n in ("changebank", "numpy", "pandas", "scikit-learn")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--replay",
        default="second",
        help="replay batchings, comma-separated, from second,minute,hour,day, or 'none' "
        "(default: second, Pol.is's own cadence; several minutes on the biggest conversation)",
    )
    parser.add_argument("--no-save", action="store_true", help="print only; write no JSON")
    args = parser.parse_args(argv)
    batches = [] if args.replay == "none" else [b.strip() for b in args.replay.split(",") if b]
    if unknown := set(batches) - set(BATCHES):
        parser.error(f"unknown batchings: {', '.join(sorted(unknown))}")
    if not POLIS.exists():
        parser.error(f"no Pol.is data at {POLIS}")

    info = machine_info()
    print(
        f"changebank opinion-groups benchmark; {info['cpus_usable']} CPUs, Python {info['python']}; "
        f"load {info['loadavg_at_start']}",
        flush=True,
    )
    results: dict[str, dict] = {}
    for conv in CONVERSATIONS:
        data = load(conv)
        entry = {
            key: data[key] for key in ("voters", "vote_rows", "latest_votes", "comments_with_votes")
        }
        entry["moderated_out"] = len(data["moderated_out"])
        entry["matrix_mismatches_vs_participants_votes"] = data["matrix_mismatches"]
        entry["target_applies"] = data["voters"] >= MIN_VOTERS_FOR_TARGET
        entry["fit"] = run_fit(data)
        entry["replay"] = {}
        for batch in batches:
            entry["replay"][batch] = run_replay(data, batch)
            r = entry["replay"][batch]
            print(
                f"  {conv} replay by {batch}: {r['updates']} updates, ARI {r['ari']:.3f}, "
                f"{r['seconds']:.1f} s",
                flush=True,
            )
        results[conv] = entry

    print()
    header = (
        f"{'conversation':<28} {'voters':>6} {'run':<14} {'ARI':>6} {'groups':>6} {'Pol.is':>6} "
        f"{'compared':>9} {'moved':>6} {'seconds':>8}  target"
    )
    print(header)
    print("-" * len(header))
    for conv, entry in results.items():
        runs = [("fit", entry["fit"])] + [(f"replay/{b}", r) for b, r in entry["replay"].items()]
        for name, r in runs:
            target = (
                ("met" if r["ari"] >= TARGET_ARI else "MISSED")
                if entry["target_applies"]
                else "n/a (<100 voters)"
            )
            print(
                f"{conv:<28} {entry['voters']:>6} {name:<14} {r['ari']:>6.3f} {r['groups']:>6} "
                f"{r['polis_groups']:>6} {r['compared']:>4}/{r['polis_clustered']:<4} "
                f"{100 * r['moved_to_nearest_mean']:>5.1f}% {r['seconds']:>8.2f}  {target}"
            )
    print(
        "\nARI over the participants both cluster; 'moved': share of Pol.is-grouped participants "
        "nearer another Pol.is group's mean in our projection."
    )
    mismatches = {c: e["matrix_mismatches_vs_participants_votes"] for c, e in results.items()}
    print(f"latest votes vs participants-votes.csv, mismatching cells: {mismatches}")

    if not args.no_save:
        report = {
            "benchmark": "opinion",
            "machine": info,
            "target": {"ari": TARGET_ARI, "min_voters": MIN_VOTERS_FOR_TARGET},
            "replay_batches": batches,
            "conversations": results,
        }
        common.write_results("opinion", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
