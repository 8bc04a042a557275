"""Fuzzing every importer with hypothesis: examples run, outcomes and failures per importer.

Run it with ``.venv/bin/python benchmarks/bench_fuzz.py [--examples 2000] [--only csv,xlsx]
[--seed 0] [--no-save]``.

The targets and their inputs are those of ``tests/reliability/fuzz_targets.py`` (the test suite
runs them with a small budget): CSV bytes in random encodings, delimiters and quoting, with NULs,
very long fields and ragged rows; XLSX workbooks with random cells (formulas, dates) and mutated zip
bytes; JSON and JSONL; mutated PDF, DOCX, HTML, VTT, SRT, text and Markdown files; metric series
from CSV and XLSX; REFI-QDA codebooks (mutated XML) and projects (mutated XML in a zip, and mutated
zips). A pass is an import, or the importer's documented validation error naming the file with
nothing written to the database; anything else is a failure, kept with its input (first 300
bytes) and traceback. Results go to ``benchmarks/results/fuzz-YYYYMMDD-HHMMSS.json`` and
``fuzz-latest.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402


def setup_django(data_dir: Path) -> None:
    os.environ["CHANGEBANK_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "changebank.settings"
    os.environ.setdefault("CHANGEBANK_SECRET_KEY", "bench-fuzz-not-secret-" + "x" * 40)
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def fuzz(target, examples: int, seed: int | None, programme) -> dict:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from tests.reliability.fuzz_targets import Unexpected

    outcomes: Counter = Counter()
    failures: list[dict] = []
    kinds: Counter = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=seed is None,
    )
    @given(data=st.data())
    def run(data):
        drawn = data.draw(target.strategy)
        with tempfile.TemporaryDirectory() as work:
            try:
                outcomes[target.run(drawn, Path(work), programme)] += 1
            except Unexpected as exc:
                outcomes["failure"] += 1
                cause = exc.__cause__ or exc
                kind = f"{type(cause).__module__}.{type(cause).__name__}"
                kinds[kind] += 1
                if kinds[kind] <= 3:
                    raw = drawn if isinstance(drawn, bytes) else repr(drawn).encode()
                    if isinstance(drawn, tuple):
                        raw = next((x for x in drawn if isinstance(x, bytes)), raw)
                    failures.append(
                        {
                            "error": str(exc)[:500],
                            "input_head": raw[:300].decode("latin-1"),
                            "input_size": len(raw),
                            "traceback": "".join(traceback.format_exception(cause))[-3000:],
                        }
                    )

    if seed is not None:
        from hypothesis import seed as hseed

        run = hseed(seed)(run)
    started = time.monotonic()
    run()
    return {
        "examples": sum(outcomes.values()),
        "imported": outcomes["ok"],
        "rejected_clearly": outcomes["rejected"],
        "failures": outcomes["failure"],
        "failure_kinds": dict(kinds),
        "seconds": round(time.monotonic() - started, 1),
        "failure_examples": failures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per importer")
    parser.add_argument("--only", help="comma-separated target names")
    parser.add_argument("--seed", type=int, help="a hypothesis seed (default: derandomised)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="changebank-fuzz-") as tmp:
        setup_django(Path(tmp))
        from changebank.listen.models import Programme
        from tests.reliability.fuzz_targets import TARGETS

        programme = Programme.objects.create(title="Fuzz", slug="fuzz")
        wanted = set(args.only.split(",")) if args.only else None
        results = {}
        started = time.monotonic()
        for target in TARGETS:
            if wanted and target.name not in wanted:
                continue
            result = fuzz(target, args.examples, args.seed, programme)
            results[target.name] = result
            print(
                f"{target.name:<12} {result['examples']:>6} examples  {result['imported']:>5} imported  "
                f"{result['rejected_clearly']:>5} rejected clearly  {result['failures']:>4} failures  "
                f"({result['seconds']} s)",
                flush=True,
            )
    import hypothesis

    report = {
        "benchmark": "fuzz",
        "machine": {
            "python": sys.version.split()[0],
            "hypothesis": hypothesis.__version__,
            "cpu": common.cpu_model(),
            "cpu_count": os.cpu_count(),
            "loadavg_at_end": common.loadavg(),
        },
        "examples_per_importer": args.examples,
        "seed": args.seed,
        "total_examples": sum(r["examples"] for r in results.values()),
        "total_failures": sum(r["failures"] for r in results.values()),
        "total_s": round(time.monotonic() - started, 1),
        "importers": results,
    }
    print(f"total: {report['total_examples']:,} examples, {report['total_failures']} failures")
    if not args.no_save:
        common.write_results("fuzz", report)
    return 1 if report["total_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
