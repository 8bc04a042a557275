"""Helpers shared by the benchmarks: resource use of this process, the machine, sizes."""

from __future__ import annotations

import argparse
import os
import platform
import resource
from pathlib import Path
from typing import Any


def rss_mb() -> float:
    """Resident memory now, in MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**2


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds (user and system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where unknown."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def short_size(size: int) -> str:
    """10000 -> "10k", 1000000 -> "1M"."""
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size >= 1000 and size % 1000 == 0:
        return f"{size // 1000}k"
    return str(size)


def parse_sizes(text: str) -> list[int]:
    """ "10k,100k,1M" (or plain numbers) as sorted distinct counts."""
    sizes = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        if not part:
            continue
        factor = 1
        if part.endswith("k"):
            factor, part = 1000, part[:-1]
        elif part.endswith("m"):
            factor, part = 1_000_000, part[:-1]
        sizes.append(int(float(part) * factor))
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes are positive counts, such as 10000,100000")
    return sorted(set(sizes))


RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_results(name: str, report: dict, default: Any = None) -> Path:
    """Write ``report`` to ``results/<name>-YYYYMMDD-HHMMSS.json`` and, atomically, to
    ``results/<name>-latest.json``; print and return the dated path."""
    import datetime as dt
    import json

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    text = json.dumps(report, indent=2, default=default) + "\n"
    path.write_text(text)
    latest = RESULTS_DIR / f"{name}-latest.json"
    tmp = latest.with_suffix(".json.tmp")
    tmp.write_text(text)
    tmp.replace(latest)
    root = RESULTS_DIR.parent.parent
    print(f"results: {path.relative_to(root)} (and {latest.relative_to(root)})")
    return path
