"""Opinion groups against Pol.is's own groups on four real conversations.

Run it with ``.venv/bin/python benchmarks/bench_opinion.py [--replay second,minute] [--meta-replay]
[--no-save]``.
The data are the Pol.is open-data exports in ``../shared/data/polis/`` (CC BY 4.0, The
Computational Democracy Project; see that folder's README). For each conversation:

- the votes frame is built from ``votes.csv`` in timestamp order, keeping each voter's latest vote
  per comment, and checked cell by cell against ``participants-votes.csv``;
- moderated-out comments (``comments.csv``: ``moderated == -1``) are passed as
  ``exclude_statements``;
- ``opinion_groups``: the public call exactly as an evaluation makes it, ``opinion_groups(votes)``
  on the time-ordered votes alone, so moderated-out statements are *not* excluded;
- ``fit``: one :class:`OpinionGroups` update on all the votes with the moderated-out statements
  excluded (``opinion_groups(votes, exclude_statements=...)`` gives the same groups);
- ``fit+meta``: the same with the statements Pol.is's own maths left out as *meta* also excluded
  (Pol.is's ``mod-update`` puts ``is_meta`` statements in ``mod-out`` like moderated-out ones; the
  export has no ``is_meta`` column): for scoop-hivemind.biodiversity an established fact (read off
  Pol.is's production math blob), for london.youth.policing and brexit-consensus only a hypothesis
  (the owner's demographic statements); see ``META_STATEMENTS``. Not counted for the target;
- ``replay``: Pol.is's own way, one warm-started ``partial_fit`` per batch of votes, batches by
  second (Pol.is's math worker polls for new votes about once a second) or by minute, hour, day;
- against Pol.is's ``group-id`` (only participants that have one): adjusted Rand index over the
  participants both cluster, the number of groups, the clustered participants, and "moved": the
  share of Pol.is-grouped participants whose nearest Pol.is group mean in our projection is another
  group's (0 = Pol.is's groups sit where one k-means step would keep them).

- ``polis_cold_start``: whether one ``fit`` is Pol.is's own from-scratch computation. Pol.is's
  repository publishes the Clojure maths' cold-start output for the Scoop conversation
  (``POLIS_COLD_START``); the fit is run on the same input (votes in the export's order, no
  exclusions) and its groups of base clusters, group centres and one repness record are compared.

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

from changebank.analysis.opinion import OpinionGroups, opinion_groups

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

# Statements Pol.is's maths treated as meta, beyond those moderated out in comments.csv.
META_STATEMENTS = {
    "scoop-hivemind.biodiversity": {
        "ids": [0, 1, 2, 5, 8, 9, 10],
        "status": "established",
        "source": "zero PCA loadings (comment-extremity 0.0) for comments 0-16 in Pol.is's production "
        "math blob, compdemocracy/polis delphi/real_data/r4tykwac8thvzv35jrn53/"
        "r4tykwac8thvzv35jrn53_math_blob.json (commit 3866da55a343f3fe990f5de62362a92ba705a5ec), "
        "whose in-conv and lastVoteTimestamp match this export; these seven are heavily voted "
        "demographic statements not moderated out, so only mod-out (is_meta) can zero them",
    },
    "london.youth.policing": {
        "ids": [1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
        "status": "hypothesis",
        "source": "the owner's demographic statements ('I am between 15 and 19 years old', "
        "'I identify as male', 'My ethnicity is ...'); no Pol.is output to confirm it",
    },
    "brexit-consensus": {
        "ids": [0, 1, 10, 11, 15],
        "status": "hypothesis",
        "source": "the owner's statements about the participant ('I voted to Leave', 'I voted to "
        "Remain', 'I consider myself working/middle class', 'I can speak a European language'); "
        "no Pol.is output to confirm it",
    },
}

# Pol.is's Clojure maths run from scratch on the Scoop conversation (no mod-out, no meta), as
# published in compdemocracy/polis: delphi/real_data/r4tykwac8thvzv35jrn53-biodiversity/
# r4tykwac8thvzv35jrn53_math_blob_cold_start.json, commit 1766bc7284191f12a14f20e29ca86d8fa1ed7c82.
POLIS_COLD_START = {
    "conversation": "scoop-hivemind.biodiversity",
    "group_base_clusters": {
        0: [0, 7, 18, 19, 22, 27, 43, 48, 66, 68, 69, 71, 72, 74, 78, 79, 84, 85, 97],
        1: sorted(
            set(range(100))
            - {0, 7, 18, 19, 22, 27, 43, 48, 66, 68, 69, 71, 72, 74, 78, 79, 84, 85, 97}
        ),
    },
    "group_centers": {
        0: [6.0180385908001925, 1.341365248405571],
        1: [-1.5134837235300211, -0.2621766519802954],
    },
    # repness of statement 61 for group 0: n-agree, n-trials, repness, repness-test, p-test
    "repness_61_group_0": [55, 77, 3.294889826535396, 8.197642, 3.849741916091626],
}


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
        "meta": META_STATEMENTS.get(conv, {}).get("ids", []),
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


def excluded(data: dict, meta: bool) -> list:
    return sorted(set(data["moderated_out"]) | (set(data["meta"]) if meta else set()))


def run_fit(data: dict, meta: bool = False) -> dict:
    votes = data["votes"][["voter_id", "statement_id", "vote"]]
    started, cpu0 = time.perf_counter(), common.cpu_s()
    model = OpinionGroups(exclude_statements=excluded(data, meta)).fit(votes)
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


def run_api(data: dict) -> dict:
    """opinion_groups(votes) with nothing but the votes, as the public API is called."""
    started = time.perf_counter()
    groups = opinion_groups(data["votes"][["voter_id", "statement_id", "vote"]])
    seconds = time.perf_counter() - started
    polis = data["polis"]
    common_ids = [p for p in polis.index if p in groups]
    return {
        "ari": round(
            float(adjusted_rand_score(polis.loc[common_ids], [groups[p] for p in common_ids])), 4
        ),
        "groups": len(set(groups.values())),
        "polis_groups": int(polis.nunique()),
        "compared": len(common_ids),
        "polis_clustered": len(polis),
        "clustered": len(groups),
        "seconds": round(seconds, 3),
    }


def run_replay(data: dict, batch: str, meta: bool = False) -> dict:
    votes = data["votes"]
    model = OpinionGroups(exclude_statements=excluded(data, meta))
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


def check_polis_cold_start() -> dict:
    """One fit against Pol.is's own cold start (POLIS_COLD_START): same input, same answer?"""
    ref = POLIS_COLD_START
    data = load(ref["conversation"])
    # export.clj reads votes ORDER BY zid, tid, pid, created: rows enter the matrix in that order
    votes = data["votes"].sort_values(["statement_id", "voter_id", "timestamp"], kind="stable")
    model = OpinionGroups().fit(votes[["voter_id", "statement_id", "vote"]])
    groups = model.group_clusterings_[model.n_groups_]
    ours = {g: sorted(c.members) for g, c in enumerate(groups)}
    center_error = max(
        float(np.max(np.abs(np.abs(groups[g].center) - np.abs(np.array(c)))))
        for g, c in ref["group_centers"].items()
    )
    row = model.repness_.query("group == 0 and statement_id == 61").iloc[0]
    rep = [int(row["n_agree"]), int(row["n_votes"]), row["ra"], row["rat"], row["pat"]]
    rep_error = max(abs(a - b) for a, b in zip(rep, ref["repness_61_group_0"], strict=True))
    return {
        "conversation": ref["conversation"],
        "same_groups_of_base_clusters": ours == ref["group_base_clusters"],
        "group_sizes_in_base_clusters": [len(m) for m in ours.values()],
        "max_center_difference_up_to_axis_sign": center_error,
        "max_repness_difference": rep_error,
        "clustered": len(model.clustered_),
    }


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
    parser.add_argument(
        "--meta-replay",
        action="store_true",
        help="also replay with META_STATEMENTS excluded (where a conversation has them)",
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

    def meta_replay(data: dict) -> bool:
        return args.meta_replay and bool(data["meta"])

    for conv in CONVERSATIONS:
        data = load(conv)
        entry = {
            key: data[key] for key in ("voters", "vote_rows", "latest_votes", "comments_with_votes")
        }
        entry["moderated_out"] = len(data["moderated_out"])
        entry["matrix_mismatches_vs_participants_votes"] = data["matrix_mismatches"]
        entry["target_applies"] = data["voters"] >= MIN_VOTERS_FOR_TARGET
        entry["opinion_groups"] = run_api(data)
        entry["fit"] = run_fit(data)
        if data["meta"]:
            entry["meta_statements"] = META_STATEMENTS[conv]
            entry["fit+meta"] = run_fit(data, meta=True)
        entry["replay"] = {}
        for batch in batches:
            runs = [(batch, False)] + ([(f"{batch}+meta", True)] if meta_replay(data) else [])
            for name, meta in runs:
                entry["replay"][name] = run_replay(data, batch, meta=meta)
                r = entry["replay"][name]
                print(
                    f"  {conv} replay by {name}: {r['updates']} updates, ARI {r['ari']:.3f}, "
                    f"{r['seconds']:.1f} s",
                    flush=True,
                )
        results[conv] = entry
    cold = check_polis_cold_start()

    print()
    header = (
        f"{'conversation':<28} {'voters':>6} {'run':<19} {'ARI':>6} {'groups':>6} {'Pol.is':>6} "
        f"{'compared':>9} {'moved':>6} {'seconds':>8}  target"
    )
    print(header)
    print("-" * len(header))
    for conv, entry in results.items():
        runs = [("opinion_groups", entry["opinion_groups"]), ("fit", entry["fit"])]
        if "fit+meta" in entry:
            runs.append(("fit+meta", entry["fit+meta"]))
        runs += [(f"replay/{b}", r) for b, r in entry["replay"].items()]
        for name, r in runs:
            target = (
                ("met" if r["ari"] >= TARGET_ARI else "MISSED")
                if entry["target_applies"]
                else "n/a (<100 voters)"
            )
            if name == "fit":
                target += " (moderated-out excluded)"
            elif name.endswith("+meta"):
                target += " (extra input)"
            elif name.startswith("replay"):
                target += " (needs timestamps)"
            moved = r.get("moved_to_nearest_mean")
            moved_text = f"{100 * moved:>5.1f}%" if moved is not None else f"{'-':>6}"
            print(
                f"{conv:<28} {entry['voters']:>6} {name:<19} {r['ari']:>6.3f} {r['groups']:>6} "
                f"{r['polis_groups']:>6} {r['compared']:>4}/{r['polis_clustered']:<4} "
                f"{moved_text} {r['seconds']:>8.2f}  {target}"
            )
    print(
        "\nARI over the participants both cluster; 'moved': share of Pol.is-grouped participants "
        "nearer another Pol.is group's mean in our projection."
    )
    print(
        "fit+meta: "
        + "; ".join(
            f"{c}: {META_STATEMENTS[c]['status']} ({META_STATEMENTS[c]['ids']})"
            for c in results
            if c in META_STATEMENTS
        )
    )
    mismatches = {c: e["matrix_mismatches_vs_participants_votes"] for c, e in results.items()}
    print(f"latest votes vs participants-votes.csv, mismatching cells: {mismatches}")
    print(
        f"Pol.is's own cold start on {cold['conversation']}: same groups of base clusters "
        f"{cold['same_groups_of_base_clusters']} (sizes {cold['group_sizes_in_base_clusters']}), "
        f"centres within {cold['max_center_difference_up_to_axis_sign']:.1e} (up to axis sign), "
        f"repness within {cold['max_repness_difference']:.1e}"
    )

    if not args.no_save:
        report = {
            "benchmark": "opinion",
            "machine": info,
            "target": {"ari": TARGET_ARI, "min_voters": MIN_VOTERS_FOR_TARGET},
            "replay_batches": batches,
            "conversations": results,
            "polis_cold_start": cold,
            "polis_cold_start_reference": {
                k: v for k, v in POLIS_COLD_START.items() if k != "group_base_clusters"
            }
            | {"group_0_base_clusters": POLIS_COLD_START["group_base_clusters"][0]},
        }
        common.write_results("opinion", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
