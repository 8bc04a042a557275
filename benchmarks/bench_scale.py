"""Scale: the distributed analysis on Dask against the in-process engine, on 1M real comments.

Run it with ``.venv/bin/python benchmarks/bench_scale.py [--rows 1M] [--arms ...]``.

The input is ``--rows`` texts drawn with replacement (``RandomState(0)``) from the 16,720 real NHS
comments of pxtextmining (v6 ``FFT answer`` with its ``FFT question``, and phase 1 ``feedback``
with its ``question``; empty ones included), with ids 0..n-1, written as Parquet files of 50,000
rows (one row group each) and kept in ``var/bench/scale-<rows>-v1/`` for the next run. Each arm
analyses the whole input with :class:`changebank.analysis.distributed.DistributedAnalysis`
(WordLlama embeddings, a 20,000-text sample, codes, themes, clause codes, sentiment and stance for
every row, results written as Parquet) in a fresh child process:

- ``in-process`` (the baseline): the same functions, partition after partition, in one process,
  without Dask;
- ``dask-1`` and ``dask-2``: a ``distributed.LocalCluster`` of 1 and 2 worker processes, one
  thread each.

Every process runs with one BLAS, OpenMP and tokenizer thread, so an arm uses as many cores as it
has processes doing the work. Memory is the peak RSS of the client process (for Dask arms it also
hosts the scheduler and the nannies) plus the peak RSS of each worker process, read with
``getrusage`` in each process. Throughput is rows over the wall time of fit + write (not the
cluster's start-up, given apart). The arms must produce the same codes, themes, review flags,
sentiment and stance for every row: a digest of those columns is compared.

The JSON (``benchmarks/results/scale-YYYYMMDD-HHMMSS.json`` and ``scale-latest.json``) also holds
a projection for 10M and 100M texts on a cluster: the rate per worker core measured in the Dask
arms times the number of cores, plus the fixed cost of the fit on the sample, which assumes linear
scaling (see ``projection`` in the JSON for every assumption).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
V6 = DATA / "pxtextmining" / "v6framework_train.csv"
PHASE1 = DATA / "pxtextmining" / "phase1_text_data.csv"
CACHE = ROOT / "var" / "bench"
VERSION = 1  # of the generated input; change when the generator changes
FILE_ROWS = 50_000
SEED = 0
ARMS = {"in-process": 0, "dask-1": 1, "dask-2": 2}
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "RAYON_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
PROJECT_ROWS = (10_000_000, 100_000_000)
PROJECT_CORES = (2, 16, 64, 256)


# --- input ---------------------------------------------------------------------------------------


def pool() -> tuple[list[str], list[str]]:
    """Every real comment and the question it answers: v6, then phase 1."""
    texts, questions = [], []
    for path, text, question in (
        (V6, "FFT answer", "FFT question"),
        (PHASE1, "feedback", "question"),
    ):
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                texts.append(row[text])
                questions.append(" ".join(row[question].split()))
    return texts, questions


def make_input(rows: int) -> Path:
    """Parquet files of resampled real comments (made once, then reused)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = CACHE / f"scale-{common.short_size(rows)}-v{VERSION}"
    manifest = folder / "manifest.json"
    if manifest.exists() and json.loads(manifest.read_text()).get("rows") == rows:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    texts, questions = pool()
    idx = np.random.RandomState(SEED).randint(0, len(texts), size=rows)
    t0 = time.perf_counter()
    files = 0
    for start in range(0, rows, FILE_ROWS):
        chunk = idx[start : start + FILE_ROWS]
        table = pa.table(
            {
                "id": np.arange(start, start + len(chunk), dtype=np.int64),
                "text": [texts[i] for i in chunk],
                "question": [questions[i] for i in chunk],
            }
        )
        pq.write_table(table, folder / f"part-{files:05d}.parquet", row_group_size=FILE_ROWS)
        files += 1
    manifest.write_text(
        json.dumps(
            {"rows": rows, "files": files, "pool": len(texts), "seed": SEED, "version": VERSION}
        )
    )
    print(f"  wrote {rows:,} rows in {files} Parquet files in {time.perf_counter() - t0:.1f} s")
    return folder


# --- one arm, in a fresh process -----------------------------------------------------------------


def usage() -> dict:
    """This process's peak RSS (MB) and CPU seconds; run in each worker by ``client.run``."""
    import resource as r

    u = r.getrusage(r.RUSAGE_SELF)
    return {"peak_rss_mb": u.ru_maxrss / 1024, "cpu_s": u.ru_utime + u.ru_stime}


def digest(folder: Path) -> tuple[str, int]:
    """A hash of each row's id, code, theme, review flag, sentiment and stance, in file order."""
    import pyarrow.parquet as pq

    h = hashlib.blake2b(digest_size=12)
    rows = 0
    for path in sorted((folder / "results").glob("part-*.parquet")):
        table = pq.read_table(
            path, columns=["id", "code", "theme", "needs_review", "sentiment", "stance"]
        )
        for name in table.column_names:
            h.update(repr(table.column(name).to_pylist()).encode())
        rows += table.num_rows
    return h.hexdigest(), rows


def child(arm: str, input_dir: Path, output: Path, sample_size: int) -> dict:
    import logging

    from changebank.analysis.distributed import DistributedAnalysis

    workers = ARMS[arm]
    params = {
        "text_column": "text",
        "id_column": "id",
        "question_column": "question",
        "sample_size": sample_size,
        "random_state": SEED,
    }
    out: dict = {"arm": arm, "workers": workers, "rss_at_start_mb": common.rss_mb()}
    cpu0 = common.cpu_s()
    worker_usage: dict = {}
    if workers == 0:
        started = time.perf_counter()
        estimator = DistributedAnalysis(engine="in-process", **params).fit(str(input_dir))
        codebook = estimator.write(output, overwrite=True)
        out["seconds"] = time.perf_counter() - started
        out["cluster_start_s"] = 0.0
    else:
        from distributed import Client, LocalCluster

        t0 = time.perf_counter()
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        out["cluster_start_s"] = time.perf_counter() - t0
        started = time.perf_counter()
        estimator = DistributedAnalysis(**params).fit(str(input_dir))
        codebook = estimator.write(output, overwrite=True)
        out["seconds"] = time.perf_counter() - started
        worker_usage = client.run(usage)
        client.close()
        cluster.close()
    out["phases_s"] = estimator.timings_
    out["client_peak_rss_mb"] = common.peak_rss_mb()
    out["client_cpu_s"] = common.cpu_s() - cpu0
    out["worker_peak_rss_mb"] = [w["peak_rss_mb"] for w in worker_usage.values()]
    out["worker_cpu_s"] = [w["cpu_s"] for w in worker_usage.values()]
    out["total_peak_rss_mb"] = out["client_peak_rss_mb"] + sum(out["worker_peak_rss_mb"])
    out["cpu_s"] = out["client_cpu_s"] + sum(out["worker_cpu_s"])
    out["rows"] = codebook["rows"]
    out["partitions"] = codebook["partitions"]
    out["texts_per_s"] = codebook["rows"] / out["seconds"]
    out["codes"] = len(codebook["codes"])
    out["themes"] = len(codebook["themes"])
    out["code_rows"] = [c["rows"] for c in codebook["codes"]]
    out["sentiment"] = codebook["sentiment"]
    out["stance"] = codebook["stance"]
    out["digest"], out["rows_read_back"] = digest(output)
    return out


def run_arm(arm: str, input_dir: Path, sample_size: int, timeout: float, workdir: Path) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        arm,
        "--input",
        str(input_dir),
        "--output",
        str(workdir / arm),
        "--sample-size",
        str(sample_size),
    ]
    load_before = common.loadavg()
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env={**os.environ, **ONE_THREAD},
        )
    except subprocess.TimeoutExpired:
        return {"arm": arm, "error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"arm": arm, "error": (proc.stderr or proc.stdout).strip()[-3000:]}
    data = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    data["process_wall_s"] = time.perf_counter() - started
    data["loadavg_before"] = load_before
    data["loadavg_after"] = common.loadavg()
    shutil.rmtree(workdir / arm, ignore_errors=True)
    return data


# --- report --------------------------------------------------------------------------------------


def projection(runs: list[dict], price: float) -> dict:
    """Hours for 10M and 100M texts on clusters of N cores, assuming linear scaling.

    The rate per core is the Dask arm's rows over its workers' CPU seconds (both passes, plus each
    worker's start-up and model loading): on a machine shared with other work, wall time says how
    much CPU the workers were given, CPU time what the work costs. The rate from wall time is kept
    beside it. The fixed cost is the shortest fit on the sample measured in any arm (other load
    only lengthens it)."""
    ok = [r for r in runs if "error" not in r]
    dask = [r for r in ok if r.get("workers")]
    if not dask:
        return {}
    best = max(dask, key=lambda r: r["workers"])
    per_core = best["rows"] / sum(best["worker_cpu_s"])
    scan = best["phases_s"]["sample_s"] + best["phases_s"]["assign_s"]
    per_core_wall = best["rows"] / scan / best["workers"]
    fixed = min(r["phases_s"]["fit_s"] + r["phases_s"].get("plan_s", 0.0) for r in ok)
    worker_mb = max(best["worker_peak_rss_mb"])
    rows = []
    for n in PROJECT_ROWS:
        for cores in PROJECT_CORES:
            seconds = fixed + n / (per_core * cores)
            core_hours = cores * seconds / 3600
            rows.append(
                {
                    "rows": n,
                    "cores": cores,
                    "hours": seconds / 3600,
                    "hours_at_wall_rate": (fixed + n / (per_core_wall * cores)) / 3600,
                    "core_hours": core_hours,
                    "cost": core_hours * price,
                    "memory_gb": (best["client_peak_rss_mb"] + cores * worker_mb) / 1024,
                }
            )
    return {
        "from_arm": best["arm"],
        "texts_per_s_per_worker_core": per_core,
        "texts_per_s_per_worker_core_wall": per_core_wall,
        "fixed_seconds": fixed,
        "worker_peak_rss_mb": worker_mb,
        "client_peak_rss_mb": best["client_peak_rss_mb"],
        "price_per_core_hour": price,
        "assumptions": [
            "linear scaling: both passes over the data (sample, then code and write) run at the "
            "measured rate per worker core on every core, one single-threaded worker per core, "
            "with the input in at least as many partitions as cores",
            "the rate per core is rows over the workers' CPU seconds, i.e. a core given wholly to "
            "a worker; 'hours_at_wall_rate' uses the wall time measured here instead, on a "
            "machine shared with other work",
            "the fit on the sample (20,000 texts by default) is a fixed cost on the client, the "
            "same for any input size",
            "storage and network keep up with the workers (here: local disk, one machine); "
            "reading from object storage adds time not measured here",
            "memory: each worker holds one partition of 50,000 rows at a time, so its peak stays "
            "as measured; the client holds only the sample and the model",
            "cost is core-hours times an assumed price per core-hour (a parameter, not a quote)",
            "cluster start-up and the scheduler's cost per task (about 2,000 partitions for 100M "
            "rows) are left out",
        ],
        "table": rows,
    }


def print_table(runs: list[dict]) -> None:
    base = next((r for r in runs if r.get("arm") == "in-process" and "error" not in r), None)
    head = (
        f"{'arm':<11} {'workers':>7} {'rows':>10} {'seconds':>8} {'texts/s':>8} {'vs base':>7} "
        f"{'sample s':>8} {'fit s':>6} {'code s':>7} {'client MB':>9} {'workers MB':>10} "
        f"{'total MB':>8} {'CPU s':>7} {'texts/CPU s':>11}"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in runs:
        if "error" in r:
            print(f"{r['arm']:<11} FAILED: {r['error'].splitlines()[-1][:100]}")
            continue
        ratio = r["texts_per_s"] / base["texts_per_s"] if base else float("nan")
        p = r["phases_s"]
        workers_mb = " + ".join(f"{m:.0f}" for m in r["worker_peak_rss_mb"]) or "-"
        print(
            f"{r['arm']:<11} {r['workers']:>7} {r['rows']:>10,} {r['seconds']:>8.1f} "
            f"{r['texts_per_s']:>8,.0f} {ratio:>6.2f}x {p['sample_s']:>8.1f} {p['fit_s']:>6.1f} "
            f"{p['assign_s']:>7.1f} {r['client_peak_rss_mb']:>9.0f} {workers_mb:>10} "
            f"{r['total_peak_rss_mb']:>8.0f} {r['cpu_s']:>7.0f} {r['rows'] / r['cpu_s']:>11,.0f}"
        )
    print(
        "seconds: fit + write, without cluster start-up; sample s: the pass that draws the "
        "sample; fit s: ThemeModel on the sample (client); code s: the pass that codes, reads "
        "sentiment and stance, and writes; MB: peak RSS; CPU s: every process of the arm "
        "(client with scheduler, and workers), start-up included"
    )


def print_projection(p: dict) -> None:
    if not p:
        return
    print()
    print(
        f"projection (linear scaling assumed) from {p['from_arm']}: "
        f"{p['texts_per_s_per_worker_core']:,.0f} texts/s per worker core (CPU time; "
        f"{p['texts_per_s_per_worker_core_wall']:,.0f} from wall time here), fixed "
        f"{p['fixed_seconds']:.0f} s, {p['worker_peak_rss_mb']:.0f} MB per worker, "
        f"price {p['price_per_core_hour']} per core-hour (assumed)"
    )
    print(
        f"{'rows':>12} {'cores':>6} {'hours':>8} {'(wall rate)':>11} {'core-hours':>10} "
        f"{'cost':>8} {'memory GB':>9}"
    )
    for row in p["table"]:
        print(
            f"{row['rows']:>12,} {row['cores']:>6} {row['hours']:>8.2f} "
            f"{row['hours_at_wall_rate']:>11.2f} {row['core_hours']:>10.1f} "
            f"{row['cost']:>8.2f} {row['memory_gb']:>9.1f}"
        )


def machine() -> dict:
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "processor": common.cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1024**3, 1),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg_at_start": common.loadavg(),
        "versions": {
            n: version(n)
            for n in (
                "changebank",
                "dask",
                "distributed",
                "pyarrow",
                "pandas",
                "numpy",
                "wordllama",
            )
        },
    }


def parse_rows(text: str) -> int:
    sizes = common.parse_sizes(text)
    if len(sizes) != 1:
        raise argparse.ArgumentTypeError("one row count, such as 1M or 200k")
    return sizes[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=parse_rows, default=1_000_000, help="texts (default 1M)")
    parser.add_argument("--sample-size", type=int, default=20_000, help="default 20,000")
    parser.add_argument(
        "--arms", default=",".join(ARMS), help=f"comma-separated (default {','.join(ARMS)})"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per arm")
    parser.add_argument(
        "--price-per-core-hour",
        type=float,
        default=0.05,
        help="assumed price of one core for one hour, for the projection (default 0.05)",
    )
    parser.add_argument("--no-save", action="store_true", help="print only; write no JSON")
    parser.add_argument("--child", choices=tuple(ARMS), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.child, args.input, args.output, args.sample_size)))
        return 0

    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if unknown := set(arms) - set(ARMS):
        parser.error(f"unknown arms: {', '.join(sorted(unknown))}")
    info = machine()
    print(
        f"changebank scale benchmark: {args.rows:,} texts, arms {', '.join(arms)}; "
        f"{info['cpus_usable']} CPUs, load {info['loadavg_at_start']}",
        flush=True,
    )
    started = time.perf_counter()
    input_dir = make_input(args.rows)
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=CACHE))
    runs = []
    try:
        for arm in arms:
            print(f"  {arm} ...", end="", flush=True)
            result = run_arm(arm, input_dir, args.sample_size, args.timeout, workdir)
            runs.append(result)
            if "error" in result:
                print(f" FAILED\n{result['error']}", flush=True)
            else:
                print(
                    f" {result['seconds']:.0f} s, {result['texts_per_s']:,.0f} texts/s, "
                    f"load {result['loadavg_after']}",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ok = [r for r in runs if "error" not in r]
    base = next((r for r in ok if r["arm"] == "in-process"), None)
    for r in ok:
        r["vs_in_process"] = r["texts_per_s"] / base["texts_per_s"] if base else None
    same = len({r["digest"] for r in ok}) <= 1 and all(r["rows_read_back"] == args.rows for r in ok)
    print_table(runs)
    print(
        f"same codes, themes, review flags, sentiment and stance for every row in every arm: "
        f"{'yes' if same else 'NO'}"
    )
    project = projection(runs, args.price_per_core_hour)
    print_projection(project)
    total = time.perf_counter() - started
    print(f"\nbenchmark took {total:.0f} s")
    if not args.no_save:
        report = {
            "benchmark": "scale",
            "command": " ".join([sys.executable, *sys.argv]),
            "rows": args.rows,
            "sample_size": args.sample_size,
            "input": {"folder": str(input_dir), "file_rows": FILE_ROWS, "version": VERSION},
            "thread_env": ONE_THREAD,
            "machine": info,
            "runs": runs,
            "same_results_in_every_arm": same,
            "projection": project,
            "total_s": total,
            "max_child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }
        common.write_results("scale", report)
    return 0 if len(ok) == len(runs) and same else 1


if __name__ == "__main__":
    sys.exit(main())
