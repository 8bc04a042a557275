"""Load test of the public pages on loopback: 200 concurrent clients for 60 seconds on the public
submission form, pairwise voting and statement voting against a real ``changebank serve``, then a
check of every submission and vote against the database.

Run it with ``.venv/bin/python benchmarks/bench_load.py`` (``--clients``, ``--seconds``,
``--part form|pairwise|statements|all``, ``--baseline-clients``, ``--baseline-seconds``,
``--server-threads``; ``--quick``: 10 seconds a phase).

**Database.** A fresh SQLite database in ``var/bench/load/`` (deleted first), in the project's WAL
mode, built by ``bench_voting.child_build`` (a public programme, an open wiki survey of 40 ideas
and an open conversation of 40 statements), plus on the same programme a consent text and four
questions on the form: two free-text ones, a rating and a choice.

**Server.** ``changebank serve --threads N --connection-limit M`` (waitress) on 127.0.0.1 and a
free port, in its own process, with DEBUG off. **The per-address hourly limit of the form,
``CHANGEBANK_FORM_RATE_LIMIT`` (20 by default), is raised to 1,000,000,000 in the server's
environment**: every client comes from 127.0.0.1, so the default would answer 429 after 20
submissions. The server log goes to ``var/bench/load/server.log``.

**Clients.** Threads in this process, each with a keep-alive ``http.client`` connection
(``bench_voting.Browser``). On the form every loop is a new contributor (an empty cookie jar): GET
the form (CSRF cookie and token), POST a valid answer whose two free texts start with a unique
marker ``[LOAD-<phase>-c<client>-s<n>]``, follow the 302 to the "thank you" page and read the
reference number there. A submission is *acknowledged* when the client has seen its reference. A
POST whose response never arrived is *in transit*, a 302 whose thank-you page failed is
*unconfirmed*: the server may have stored either. Pairwise and statement voting run
``bench_voting.pairwise_voter`` and ``statement_voter`` unchanged (5 % replays on pairwise).

**Baseline.** Each part runs first with ``--baseline-clients`` (20) for ``--baseline-seconds``
(30), then with ``--clients`` (200) for ``--seconds`` (60), on the same server and database; the
table ends with the ratios (throughput, p95 of the POST and of the page GET) of the two.

**Checks** (after the server has stopped, in a child process reading the database):

- form: every acknowledged marker is stored exactly once per free-text question with the reference
  the client saw (else *lost*); no marker is stored twice for a question, no reference belongs to
  two markers (*duplicated*); stored markers no client saw acknowledged are allowed only when in
  transit or unconfirmed; refused POSTs (not 302) must store nothing; one respondent per reference;
- votes: ``bench_voting.child_check`` (acknowledged = stored, nothing counted twice) over both
  phases of each part together.

Results: ``benchmarks/results/load-YYYYMMDD-HHMMSS.json`` and ``load-latest.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import bench_import  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import bench_voting  # noqa: E402
import common  # noqa: E402

ROOT = bench_voting.ROOT
FOLDER = ROOT / "var" / "bench" / "load"
PROGRAMME = bench_voting.PROGRAMME
FORM_RATE_LIMIT = "1000000000"
FREE_TEXT = ("change", "why")
MARKER = re.compile(r"^\[(LOAD-[A-Z]-c\d+-s\d+)\]")
REFERENCE = re.compile(r'id="reference">\s*([^<\s]+)\s*<')
SECTORS = ["", "Acute hospital", "Primary care", "Mental health", "Social care"]
AGES = ["", "18 to 24", "25 to 34", "45 to 54", "65 to 74", "Prefer not to say"]
PARTS = ("form", "pairwise", "statements")


# --- children: build and check the database (Django) -----------------------------------------


def child_build() -> dict:
    out = bench_voting.child_build()  # migrate, programme, survey, conversation
    from django.urls import reverse

    from changebank.listen.models import Programme, Question

    programme = Programme.objects.get(slug=PROGRAMME)
    programme.consent_text = "I agree that my answers may be read and published without my name."
    programme.save(update_fields=["consent_text"])
    Question.objects.bulk_create(
        [
            Question(programme=programme, key="change", position=1, prompt="What should change?"),
            Question(programme=programme, key="why", position=2, prompt="Why does it matter?"),
            Question(
                programme=programme,
                key="rating",
                position=3,
                prompt="How was your care?",
                kind=Question.Kind.RATING,
            ),
            Question(
                programme=programme,
                key="again",
                position=4,
                prompt="Would you come back?",
                kind=Question.Kind.CHOICE,
                choices=["Yes", "No", "Not sure"],
            ),
        ]
    )
    out["form_path"] = reverse("listen:take_part", args=[PROGRAMME])
    out["questions"] = programme.questions.count()
    return out


def check_form(form: dict) -> dict:
    """Compare the markers the clients saw acknowledged with the stored form submissions."""
    from changebank.listen.models import Respondent, Submission

    rows = Submission.objects.filter(
        programme__slug=PROGRAMME, source=Submission.Source.FORM
    ).values_list("text", "reference", "question__key")
    by_marker: dict[str, list[tuple[str, str]]] = defaultdict(list)
    markers_by_reference: dict[str, set[str]] = defaultdict(set)
    without_marker = 0
    for text, reference, key in rows:
        found = MARKER.match(text)
        if not found:
            without_marker += 1
            continue
        by_marker[found.group(1)].append((key, reference))
        markers_by_reference[reference].add(found.group(1))
    references = set(markers_by_reference)
    respondents = Respondent.objects.filter(programme__slug=PROGRAMME).count()
    shared_references = sum(1 for m in markers_by_reference.values() if len(m) > 1)
    out: dict = {}
    for phase, seen in form.items():
        acked, uncertain, refused = seen["acked"], seen["uncertain"], seen["refused"]
        lost, duplicated_rows, unexplained, stored_refused, uncertain_stored = [], 0, [], [], 0
        for marker, reference in acked.items():
            stored = by_marker.get(marker, [])
            keys = Counter(k for k, _ in stored)
            if any(keys[k] < 1 for k in FREE_TEXT) or any(r != reference for _, r in stored):
                lost.append(marker)
        tag = f"LOAD-{seen['tag']}-"
        for marker, stored in by_marker.items():
            if not marker.startswith(tag):
                continue
            duplicated_rows += sum(n - 1 for n in Counter(k for k, _ in stored).values() if n > 1)
            if marker in acked:
                continue
            if marker in uncertain:
                uncertain_stored += 1
            elif marker in refused:
                stored_refused.append(marker)
            else:
                unexplained.append(marker)
        out[phase] = {
            "acknowledged": len(acked),
            "markers_stored": sum(1 for m in by_marker if m.startswith(tag)),
            "rows_stored": sum(len(v) for m, v in by_marker.items() if m.startswith(tag)),
            "lost": len(lost),
            "lost_examples": lost[:10],
            "duplicated_rows": duplicated_rows,
            "in_transit_or_unconfirmed": len(uncertain),
            "in_transit_or_unconfirmed_stored": uncertain_stored,
            "refused_posts": len(refused),
            "stored_although_refused": len(stored_refused),
            "unacknowledged_stored_unexplained": len(unexplained),
            "unexplained_examples": unexplained[:10],
            "ok": not (lost or duplicated_rows or stored_refused or unexplained),
        }
    out["all"] = {
        "form_rows": len(rows),
        "rows_without_marker": without_marker,
        "references": len(references),
        "references_shared_by_two_markers": shared_references,
        "respondents": respondents,
        "one_respondent_per_reference": respondents == len(references),
        "ok": not without_marker and not shared_references and respondents == len(references),
    }
    return out


def child_check(records: Path) -> dict:
    bench_voting._django()
    data = json.loads(records.read_text())
    out = {}
    if data["pairwise"]["clients"] or (data.get("statements") or {}).get("clients"):
        votes = bench_voting.child_check(records)  # needs data["pairwise"], even empty
        out.update({k: v for k, v in votes.items() if (data.get(k) or {}).get("clients")})
    if data.get("form"):
        out["form"] = check_form(data["form"])
    return out


# --- the form client --------------------------------------------------------------------------


@dataclass
class FormTally(bench_voting.Tally):
    done_ms: list = field(default_factory=list)
    refused: dict = field(default_factory=dict)  # marker -> status of a POST that was not a 302
    unconfirmed: dict = field(default_factory=dict)  # marker -> why the reference was not seen


def form_client(
    port: int, path: str, deadline: float, n: int, timeout: float, tag: str, texts: list[str]
) -> FormTally:
    rng = random.Random(f"{tag}{n}")
    browser, tally = bench_voting.Browser(port, timeout), FormTally()
    seq = 0
    while time.monotonic() < deadline:
        browser.cookies = {}  # a new contributor on the same keep-alive connection
        try:
            status, _, html, seconds = browser.request("GET", path)
        except (OSError, http.client.HTTPException) as exc:
            bench_voting._fail(tally, "GET", exc)
            continue
        tally.get_ms.append(seconds * 1000)
        tally.statuses[f"GET {status}"] += 1
        csrf = bench_voting.CSRF.search(html)
        if status != 200 or not csrf or 'name="q_change"' not in html:
            tally.errors["GET without a form"] += 1
            time.sleep(0.05)
            continue
        seq += 1
        marker = f"LOAD-{tag}-c{n:03d}-s{seq:05d}"
        form = {
            "csrfmiddlewaretoken": csrf.group(1),
            "q_change": f"[{marker}] {rng.choice(texts)}",
            "q_why": f"[{marker}] {rng.choice(texts)}",
            "q_rating": str(rng.randint(1, 5)),
            "q_again": rng.choice(["Yes", "No", "Not sure", ""]),
            "role": "",
            "organisation": "",
            "sector": rng.choice(SECTORS),
            "workstream": "",
            "eq_age": rng.choice(AGES),
            "consent": "on",
            "website": "",  # the honeypot stays empty
        }
        try:
            status, headers, _, seconds = browser.request("POST", path, form)
        except (OSError, http.client.HTTPException) as exc:
            tally.in_transit[marker] = ""
            bench_voting._fail(tally, "POST", exc)
            continue
        tally.post_ms.append(seconds * 1000)
        tally.statuses[f"POST {status}"] += 1
        location = headers.get("Location", "")
        if status != 302 or not location:
            tally.refused[marker] = status
            time.sleep(0.05)
            continue
        try:
            status, _, html, seconds = browser.request("GET", urlsplit(location).path)
        except (OSError, http.client.HTTPException) as exc:
            tally.unconfirmed[marker] = type(exc).__name__
            bench_voting._fail(tally, "GET done", exc)
            continue
        tally.done_ms.append(seconds * 1000)
        tally.statuses[f"GET done {status}"] += 1
        reference = REFERENCE.search(html)
        if status == 200 and reference:
            tally.acked[marker] = reference.group(1)
            tally.acked_count += 1
        else:
            tally.unconfirmed[marker] = f"done page {status} without a reference"
            tally.errors["done page without a reference"] += 1
    browser.close()
    return tally


# --- the parent -------------------------------------------------------------------------------


def run_child(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        env=bench_voting.child_env(FOLDER),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child {args} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def error_count(summary: dict) -> int:
    """Responses with a status of 400 or more, plus requests that got no response."""
    bad = 0
    for key, n in summary["responses"].items():
        codes = [int(w) for w in key.split() if w.isdigit()]
        if codes and codes[0] >= 400:
            bad += n
    return bad + sum(summary["client_errors"].values())


def run_part(part: str, clients: int, seconds: float, tag: str, ctx: dict) -> tuple[dict, list]:
    port, built, timeout = ctx["port"], ctx["built"], ctx["timeout"]
    if part == "form":
        target = form_client

        def args_for(n: int, deadline: float) -> tuple:
            return (port, built["form_path"], deadline, n, timeout, tag, ctx["texts"])

    elif part == "pairwise":
        target = bench_voting.pairwise_voter

        def args_for(n: int, deadline: float) -> tuple:
            return (port, built["vote_path"], deadline, 1000 * ord(tag) + n, 0.05, timeout)

    else:
        target = bench_voting.statement_voter

        def args_for(n: int, deadline: float) -> tuple:
            return (port, built["statement_path"], deadline, 1000 * ord(tag) + n, timeout)

    summary, tallies = bench_voting.run_phase(
        part, target, args_for, clients, seconds, ctx["server_pid"]
    )
    summary["acknowledged"] = summary.pop("acknowledged_votes")
    summary["acknowledged_per_s"] = summary.pop("votes_per_s")
    summary["post"] = summary.pop("vote_post")
    if part == "form":
        summary["done_get"] = bench_voting.percentiles([v for t in tallies for v in t.done_ms])
        summary["refused_posts"] = sum(len(t.refused) for t in tallies)
        summary["in_transit"] = sum(len(t.in_transit) for t in tallies)
        summary["unconfirmed"] = sum(len(t.unconfirmed) for t in tallies)
    summary["errors"] = error_count(summary)
    cpu = summary["server_cpu_s"]
    # the machine is shared: acknowledged per CPU second of the server is steadier than per second
    summary["acknowledged_per_server_cpu_s"] = (
        round(summary["acknowledged"] / cpu, 1) if cpu else None
    )
    shed = Counter()
    for key, n in summary["responses"].items():
        for code in ("429", "503"):
            if f" {code}" in f" {key}":
                shed[code] += n
    for key, n in summary["client_errors"].items():
        if "ConnectionRefused" in key or "ConnectionReset" in key:
            shed[key.split()[-1]] += n
    summary["shed"] = dict(shed)
    return summary, tallies


def records_for(part: str, tallies: list, tag: str) -> dict:
    if part == "form":
        return {
            "tag": tag,
            "acked": {m: r for t in tallies for m, r in t.acked.items()},
            "uncertain": sorted({m for t in tallies for m in (*t.in_transit, *t.unconfirmed)}),
            "refused": {m: s for t in tallies for m, s in t.refused.items()},
        }
    if part == "pairwise":
        return {
            "clients": [
                {"acked": t.acked, "in_transit": t.in_transit, "replayed": t.replayed}
                for t in tallies
            ],
            "replays_counted": sum(t.replays_counted for t in tallies),
        }
    return {
        "clients": [
            {
                "session": t.session,
                "latest": t.latest,
                "uncertain": t.uncertain,
                "acked": t.acked_count,
            }
            for t in tallies
        ]
    }


def print_phase(part: str, label: str, s: dict) -> None:
    post, get = s["post"], s["page_get"]
    extra = ""
    if part == "form":
        done = s["done_get"]
        extra = (
            f"\n      thank-you GET ms: p50 {done.get('p50_ms')}, p95 {done.get('p95_ms')}; "
            f"refused POSTs {s['refused_posts']}, in transit {s['in_transit']}, "
            f"unconfirmed {s['unconfirmed']}"
        )
    print(
        f"    {part} {label}: {s['clients']} clients, {s['acknowledged']:,} acknowledged in "
        f"{s['duration_s']:.1f} s ({s['acknowledged_per_s']:,.1f}/s), {s['requests']:,} requests "
        f"({s['requests_per_s']:,.1f}/s)\n"
        f"      POST ms: p50 {post.get('p50_ms')}, p95 {post.get('p95_ms')}, "
        f"p99 {post.get('p99_ms')}, max {post.get('max_ms')}; page GET ms: p50 "
        f"{get.get('p50_ms')}, p95 {get.get('p95_ms')}, p99 {get.get('p99_ms')}{extra}\n"
        f"      responses {s['responses']}; client errors {s['client_errors'] or 'none'}; "
        f"shed {s['shed'] or 'none'}\n"
        f"      CPU: server {s['server_cpu_s']} s ({s['server_cpu_share']} of a core), clients "
        f"{s['client_cpu_s']} s; load {s['loadavg_before']} -> {s['loadavg_after']}",
        flush=True,
    )


def lost_and_duplicated(part: str, label: str, checks: dict) -> tuple[int | None, int | None]:
    if part == "form":
        c = checks.get("form", {}).get(label)
        if not c:
            return None, None
        return c["lost"], c["duplicated_rows"] + c["unacknowledged_stored_unexplained"]
    c = checks.get(part)
    if not c:
        return None, None
    if part == "pairwise":
        return c["lost"], c["counted_twice"] + c["unacknowledged_counted_unexplained"]
    return c["lost"] + c["not_the_latest_vote"], c["duplicate_rows"] + c["unexpected_rows"]


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def print_table(report: dict, parts: list[str]) -> None:
    head = (
        f"  {'part':<11}{'phase':<9}{'clients':>8}{'requests':>10}{'req/s':>8}{'acked':>8}"
        f"{'ack/s':>8}{'POST p50':>10}{'POST p95':>10}{'POST p99':>10}{'GET p95':>10}"
        f"{'errors':>8}{'lost':>6}{'dup':>5}{'srv CPU':>9}{'ack/CPU-s':>10}"
    )
    print("\n" + head + "\n  " + "-" * (len(head) - 2))
    for part in parts:
        for label in ("baseline", "main"):
            s = report[part].get(label)
            if not s:
                continue
            lost, dup = s.get("lost"), s.get("duplicated")
            print(
                f"  {part:<11}{label:<9}{s['clients']:>8}{s['requests']:>10,}"
                f"{s['requests_per_s']:>8.1f}{s['acknowledged']:>8,}{s['acknowledged_per_s']:>8.1f}"
                f"{s['post'].get('p50_ms', 0):>10.0f}{s['post'].get('p95_ms', 0):>10.0f}"
                f"{s['post'].get('p99_ms', 0):>10.0f}{s['page_get'].get('p95_ms', 0):>10.0f}"
                f"{s['errors']:>8}{'-' if lost is None else lost:>6}{'-' if dup is None else dup:>5}"
                f"{s['server_cpu_share'] or 0:>9.2f}{s['acknowledged_per_server_cpu_s'] or 0:>10.1f}"
            )
    print(
        "  (latencies in ms; lost/dup for votes cover both phases of the part together; srv CPU:"
        " cores the server used; ack/CPU-s: acknowledged per CPU second of the server)"
    )
    for part in parts:
        r = report[part].get("ratios")
        if r:
            print(
                f"  {part}: {r['clients']} vs {r['baseline_clients']} clients: throughput x"
                f"{r['throughput']} (per server CPU second x{r['per_server_cpu_s']}), POST p95 "
                f"x{r['post_p95']}, page GET p95 x{r['get_p95']}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (200)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per part (60)")
    parser.add_argument("--quick", action="store_true", help="10 s a phase (5 s baseline)")
    parser.add_argument("--part", choices=(*PARTS, "all"), default="all")
    parser.add_argument("--baseline-clients", type=int, default=20, help="baseline clients (20)")
    parser.add_argument("--baseline-seconds", type=float, default=None, help="baseline s (30)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline phases")
    parser.add_argument("--server-threads", type=int, default=16, help="waitress threads (16)")
    parser.add_argument(
        "--connection-limit", type=int, default=None, help="waitress (max(500, 2 x clients))"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="client socket timeout (s)")
    parser.add_argument("--no-save", action="store_true", help="print only; write no JSON")
    parser.add_argument("--child", choices=("build", "check"), help=argparse.SUPPRESS)
    parser.add_argument("--records", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "build":
        print(json.dumps(child_build()))
        return 0
    if args.child == "check":
        print(json.dumps(child_check(args.records)))
        return 0

    seconds = args.seconds or (10.0 if args.quick else 60.0)
    baseline_seconds = args.baseline_seconds or (5.0 if args.quick else min(30.0, seconds))
    parts = list(PARTS) if args.part == "all" else [args.part]
    connections = args.connection_limit or max(500, 2 * args.clients)
    info = bench_import.machine_info()
    print(
        f"changebank load test: {args.clients} clients for {seconds:.0f} s on {', '.join(parts)}"
        + (
            ""
            if args.no_baseline
            else f" (baseline {args.baseline_clients} clients for {baseline_seconds:.0f} s)"
        )
        + f"; {info['cpus_usable']} CPUs, load {info['loadavg_at_start']}",
        flush=True,
    )
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    os.environ["CHANGEBANK_FORM_RATE_LIMIT"] = FORM_RATE_LIMIT  # the server inherits it
    built = run_child(["--child", "build"])
    if "statements" in parts and not built.get("statement_path"):
        parts.remove("statements")
        print("  statements skipped: no page named decide:conversation_vote", flush=True)
    port = bench_voting.free_port()
    command = [
        str(Path(sys.executable).with_name("changebank")),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--threads",
        str(args.server_threads),
        "--connection-limit",
        str(connections),
    ]
    print(
        f"  database {FOLDER.relative_to(ROOT)} ({built['journal_mode']} journal); server: "
        f"changebank serve --threads {args.server_threads} --connection-limit {connections}, "
        f"with CHANGEBANK_FORM_RATE_LIMIT={FORM_RATE_LIMIT} in its environment (the default, "
        f"20 an hour per address, would refuse all but 20 loopback submissions)",
        flush=True,
    )
    server = bench_voting.start_server(FOLDER, command, port)
    ctx = {
        "port": port,
        "built": built,
        "timeout": args.timeout,
        "server_pid": server.pid,
        "texts": bench_voting.first_comments(bench_voting.N_IDEAS),
    }
    report: dict = {
        "benchmark": "load",
        "machine": info,
        "settings": {
            "clients": args.clients,
            "seconds": seconds,
            "baseline_clients": None if args.no_baseline else args.baseline_clients,
            "baseline_seconds": None if args.no_baseline else baseline_seconds,
            "parts": parts,
            "server": " ".join(["changebank", *command[1:]]),
            "server_environment": {
                "CHANGEBANK_FORM_RATE_LIMIT": FORM_RATE_LIMIT,
                "CHANGEBANK_DEBUG": "unset (off)",
            },
            "client_timeout_s": args.timeout,
            "journal_mode": built["journal_mode"],
            "database": "SQLite in var/bench/load/ (fresh each run)",
        },
        "build": built,
    }
    records: dict = {
        "survey": built["survey"],
        "conversation": built.get("conversation"),
        "pairwise": {"clients": [], "replays_counted": 0},
    }
    phases = (
        [] if args.no_baseline else [("baseline", "B", args.baseline_clients, baseline_seconds)]
    )
    phases.append(("main", "M", args.clients, seconds))
    try:
        for part in parts:
            report[part] = {}
            for label, tag, clients, duration in phases:
                print(f"  {part}, {label}: {clients} clients for {duration:.0f} s ...", flush=True)
                summary, tallies = run_part(part, clients, duration, tag, ctx)
                report[part][label] = summary
                found = records_for(part, tallies, tag)
                if part == "form":
                    records.setdefault("form", {})[label] = found
                else:
                    box = records.setdefault(part, {"clients": [], "replays_counted": 0})
                    box["clients"] += found["clients"]
                    box["replays_counted"] = box.get("replays_counted", 0) + found.get(
                        "replays_counted", 0
                    )
                print_phase(part, label, summary)
    finally:
        code = bench_voting.stop_server(server)
    log = (FOLDER / "server.log").read_text(errors="replace")
    report["server"] = {
        "exit_code": code,
        "database_is_locked_lines": log.count("database is locked"),
        "tracebacks": log.count("Traceback (most recent call last)"),
        "task_queue_warnings": log.count("Task queue depth"),
        "connection_limit_warnings": log.count("reached the connection limit"),
        "log_tail": log[-1500:],
    }
    path = FOLDER / "records.json"
    path.write_text(json.dumps(records))
    checks = run_child(["--child", "check", "--records", str(path)])
    report["checks"] = checks
    for part in parts:
        for label in ("baseline", "main"):
            if label in report[part]:
                lost, dup = lost_and_duplicated(part, label, checks)
                report[part][label]["lost"], report[part][label]["duplicated"] = lost, dup
        base, main_ = report[part].get("baseline"), report[part]["main"]
        if base:
            report[part]["ratios"] = {
                "clients": main_["clients"],
                "baseline_clients": base["clients"],
                "throughput": ratio(main_["acknowledged_per_s"], base["acknowledged_per_s"]),
                "requests_per_s": ratio(main_["requests_per_s"], base["requests_per_s"]),
                "per_server_cpu_s": ratio(
                    main_["acknowledged_per_server_cpu_s"], base["acknowledged_per_server_cpu_s"]
                ),
                "post_p95": ratio(main_["post"].get("p95_ms"), base["post"].get("p95_ms")),
                "get_p95": ratio(main_["page_get"].get("p95_ms"), base["page_get"].get("p95_ms")),
            }
    print_table(report, parts)
    oks = []
    if "form" in checks:
        for label, c in checks["form"].items():
            if label == "all":
                print(
                    f"  check, form: {c['form_rows']:,} rows, {c['references']:,} references, "
                    f"{c['respondents']:,} respondents; rows without a marker "
                    f"{c['rows_without_marker']}, references shared "
                    f"{c['references_shared_by_two_markers']}: {'OK' if c['ok'] else 'FAILED'}"
                )
            else:
                print(
                    f"  check, form {label}: {c['acknowledged']:,} acknowledged, "
                    f"{c['markers_stored']:,} stored ({c['rows_stored']:,} rows); lost "
                    f"{c['lost']}, duplicated rows {c['duplicated_rows']}, in transit or "
                    f"unconfirmed {c['in_transit_or_unconfirmed']} "
                    f"({c['in_transit_or_unconfirmed_stored']} stored), refused "
                    f"{c['refused_posts']} ({c['stored_although_refused']} stored), unexplained "
                    f"{c['unacknowledged_stored_unexplained']}: {'OK' if c['ok'] else 'FAILED'}"
                )
            oks.append(c["ok"])
    if "pairwise" in checks:
        p = checks["pairwise"]
        print(
            f"  check, pairwise (both phases): {p['acknowledged']:,} acknowledged, "
            f"{p['answers_in_database']:,} stored; lost {p['lost']}, counted twice "
            f"{p['counted_twice']} ({p['replays']:,} replays), in transit {p['in_transit']} "
            f"({p['in_transit_counted']} counted), unexplained "
            f"{p['unacknowledged_counted_unexplained']}: {'OK' if p['ok'] else 'FAILED'}"
        )
    if "statements" in checks:
        c = checks["statements"]
        print(
            f"  check, statements (both phases): {c['acknowledged_votes']:,} acknowledged votes "
            f"by {c['participants']} participants, {c['rows_in_database']:,} rows (expected "
            f"{c['expected_rows']:,}); lost {c['lost']}, not the latest "
            f"{c['not_the_latest_vote']}, unexpected {c['unexpected_rows']}, duplicates "
            f"{c['duplicate_rows']}: {'OK' if c['ok'] else 'FAILED'}"
        )
    s = report["server"]
    print(
        f"  server log: {s['database_is_locked_lines']} 'database is locked', {s['tracebacks']} "
        f"tracebacks, {s['task_queue_warnings']} task queue warnings, "
        f"{s['connection_limit_warnings']} connection limit warnings"
    )
    oks += [c.get("ok") for k, c in checks.items() if k != "form"]
    report["ok"] = all(oks)
    print(f"  load average now {common.loadavg()}", flush=True)
    if not args.no_save:
        common.write_results("load", report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
