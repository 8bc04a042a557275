"""Voting load test on loopback: 100 concurrent voters for 60 seconds against a real server, then
a check of every vote against the database.

Run it with ``make bench`` or ``.venv/bin/python benchmarks/bench_voting.py [--quick]``
(``--quick``: 10 seconds; ``--duration``, ``--clients`` and ``--server-threads`` change the load).

**Database.** A fresh SQLite database is migrated into ``var/bench/voting/`` (deleted first), in
the project's default WAL mode (``settings.py``). A public programme gets an open wiki survey with
40 ideas: the first 40 distinct non-empty comments of the demo data
(``src/changebank/demo/data/fft_sample.csv``, column "FFT answer"), and a per-session vote limit
high enough not to stop anyone. When the opinion-groups voting page exists (URL name
``decide:conversation_vote``), an open conversation gets the same 40 texts as statements.

**Server.** ``changebank serve`` (waitress) on 127.0.0.1 and a free port, in its own process, with
``CHANGEBANK_DEBUG`` off and ``--server-threads`` threads (default 16); its log goes to
``var/bench/voting/server.log``.

**Clients.** ``--clients`` threads (default 100) in this process, each one voter with its own
cookie jar and a keep-alive ``http.client`` connection, following the real flow until the time is
up: GET the vote page, take the prompt's token and the CSRF token from the HTML, POST a choice
(left, right or "I can't decide") with the CSRF cookie and field. A vote is *acknowledged* when
the POST answers 302 with ``X-Vote-Result: counted``. After ``--replay-share`` of the votes (default
5 %) the client posts the same token again with another choice, as a replay or a double click;
the server must answer ``duplicate`` and change nothing. A POST whose response never arrives
(connection error or timeout) is recorded as *in transit*: the server may or may not have counted it.

Phase 2 (statement votes, when the page exists) does the same on the conversation: GET the page,
POST agree, disagree or pass on the statement shown; once a voter has voted on every statement it
changes a random earlier vote (``?statement=N``). The check: for every voter, the database holds
exactly one vote per statement it voted on, equal to its latest acknowledged vote.

**Checks** (after the server has stopped, in a child process reading the database):

- *lost*: acknowledged votes missing from the database, or stored with another choice: must be 0;
- *counted twice*: replays answered ``counted``, or a replayed prompt whose stored choice is the
  replay's: must be 0 (the schema allows one answer per prompt, so a vote cannot be stored twice);
- *unacknowledged but counted*: answered prompts no client was told were counted; allowed only for
  POSTs in transit, which are reported;
- answers in the database == acknowledged + in-transit ones counted.

**Figures**: acknowledged votes per second, latency of the vote POST (p50, p95, p99, max) and of
the page GET, responses by status code, "database is locked" lines in the server log, and the
machine's load. Results: ``benchmarks/results/voting-YYYYMMDD-HHMMSS.json`` and
``voting-latest.json``.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import bench_import  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import common  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "var" / "bench" / "voting"
FFT = ROOT / "src" / "changebank" / "demo" / "data" / "fft_sample.csv"
N_IDEAS = 40
PROGRAMME = "bench-voting"
SURVEY = "bench-wiki-survey"
CONVERSATION = "bench-conversation"
SECRET_KEY = "bench-voting-not-secret-" + "x" * 40  # sessions must decode in the checking child
TOKEN = re.compile(r'name="token" value="([^"]+)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
STATEMENT = re.compile(r'name="statement" value="(\d+)"')
CHOICES = ["left", "right", "left", "right", "cant_decide"]
STATEMENT_VOTES = ["1", "-1", "0"]


# --- children: build and check the database (Django) -----------------------------------------


def first_comments(n: int) -> list[str]:
    """The first ``n`` distinct non-empty comments of the demo data ("FFT answer")."""
    seen: set[str] = set()
    out = []
    with FFT.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text = " ".join((row.get("FFT answer") or "").split())[:500]
            if text and text.casefold() not in seen:
                seen.add(text.casefold())
                out.append(text)
                if len(out) == n:
                    break
    if len(out) < n:
        raise RuntimeError(f"{FFT} has only {len(out)} distinct comments")
    return out


def _django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changebank.settings")
    django.setup()


def child_build() -> dict:
    _django()
    from django.core.management import call_command
    from django.db import connection
    from django.urls import NoReverseMatch, reverse

    from changebank.decide import pairwise as ops
    from changebank.decide.models import Conversation, Statement, Status
    from changebank.listen.models import Programme

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
    texts = first_comments(N_IDEAS)
    programme = Programme.objects.create(
        title="Voting load test", slug=PROGRAMME, visibility=Programme.Visibility.PUBLIC
    )
    survey = ops.create_survey(
        programme,
        question="Which is the better comment?",
        slug=SURVEY,
        typed=texts,
        allow_ideas=False,
        votes_per_session=1_000_000,
    )
    ops.set_status(survey, Status.OPEN)
    out = {
        "survey": survey.pk,
        "ideas": survey.ideas.count(),
        "vote_path": reverse("decide:pairwise_vote", args=[PROGRAMME, SURVEY]),
        "journal_mode": journal,
        "database": str(connection.settings_dict["NAME"]),
    }
    try:
        statement_path = reverse("decide:conversation_vote", args=[PROGRAMME, CONVERSATION])
    except NoReverseMatch:
        statement_path = None
    if statement_path:
        conversation = Conversation.objects.create(
            programme=programme,
            slug=CONVERSATION,
            topic="Do you agree with this comment?",
            status=Status.OPEN,
            allow_statements=False,
        )
        Statement.objects.bulk_create(
            [Statement(conversation=conversation, text=text) for text in texts]
        )
        out.update(conversation=conversation.pk, statement_path=statement_path)
    out["build_s"] = time.perf_counter() - t0
    return out


def child_check(records: Path) -> dict:
    """Compare what the clients were told with what the database holds."""
    _django()
    from django.contrib.sessions.backends.db import SessionStore
    from django.db.models import Count

    from changebank.decide.models import PairPrompt, StatementVote

    data = json.loads(records.read_text())
    out: dict = {}

    # phase 1: pairwise votes
    p = data["pairwise"]
    stored = {
        token: (choice, session)
        for token, choice, session in PairPrompt.objects.filter(
            survey_id=data["survey"], answered_at__isnull=False
        ).values_list("token", "choice", "session_key")
    }
    acked: dict[str, str] = {}
    in_transit: dict[str, str] = {}
    replayed: dict[str, str] = {}
    sessions_per_client = []
    for client in p["clients"]:
        acked.update(client["acked"])
        in_transit.update(client["in_transit"])
        replayed.update(client["replayed"])
        keys = {stored[t][1] for t in client["acked"] if t in stored}
        sessions_per_client.append(len(keys))
    lost = [t for t, c in acked.items() if t not in stored or stored[t][0] != c]
    extra = [t for t in stored if t not in acked]
    explained = [t for t in extra if t in in_transit]
    unexplained = [t for t in extra if t not in in_transit]
    replay_overwrote = [t for t, c in replayed.items() if t in stored and stored[t][0] == c]
    prompts = PairPrompt.objects.filter(survey_id=data["survey"])
    out["pairwise"] = {
        "acknowledged": len(acked),
        "answers_in_database": len(stored),
        "lost": len(lost),
        "lost_examples": lost[:10],
        "in_transit": len(in_transit),
        "in_transit_counted": len(explained),
        "unacknowledged_counted_unexplained": len(unexplained),
        "unexplained_examples": unexplained[:10],
        "replays": len(replayed),
        "replays_answered_counted": p["replays_counted"],
        "replays_that_changed_the_vote": len(replay_overwrote),
        "counted_twice": p["replays_counted"] + len(replay_overwrote),
        "answers_equal_acknowledged_plus_in_transit_counted": len(stored)
        == len(acked) + len(explained),
        "prompts_shown": prompts.count(),
        "prompts_unanswered": prompts.filter(answered_at=None).count(),
        "clients_with_one_session": sum(1 for n in sessions_per_client if n == 1),
        "ok": not lost and not unexplained and not replay_overwrote and not p["replays_counted"],
    }

    # phase 2: statement votes (the latest per participant and statement)
    s = data.get("statements")
    if s:
        duplicates = (
            StatementVote.objects.filter(statement__conversation_id=data["conversation"])
            .values("statement", "participant")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
        lost = wrong = unexpected = uncertain_ok = acked_votes = 0
        examples = []
        for client in s["clients"]:
            session = SessionStore(session_key=client["session"]).load()
            participant = session.get("decide-participant")
            rows = dict(
                StatementVote.objects.filter(
                    statement__conversation_id=data["conversation"], participant=participant
                ).values_list("statement_id", "vote")
            )
            expected: dict[int, int] = {int(k): v for k, v in client["latest"].items()}
            uncertain: dict[int, list[int]] = {int(k): v for k, v in client["uncertain"].items()}
            acked_votes += client["acked"]
            for statement, vote in expected.items():
                if statement not in rows:
                    if statement in uncertain:
                        uncertain_ok += 1
                        continue
                    lost += 1
                    examples.append(f"{participant}:{statement} missing")
                elif rows[statement] != vote:
                    if rows[statement] in uncertain.get(statement, []):
                        uncertain_ok += 1
                        continue
                    wrong += 1
                    examples.append(f"{participant}:{statement} {rows[statement]} != {vote}")
            for statement in rows:
                if statement not in expected:
                    if statement in uncertain:
                        uncertain_ok += 1
                    else:
                        unexpected += 1
        out["statements"] = {
            "acknowledged_votes": acked_votes,
            "participants": len(s["clients"]),
            "rows_in_database": StatementVote.objects.filter(
                statement__conversation_id=data["conversation"]
            ).count(),
            "expected_rows": sum(len(c["latest"]) for c in s["clients"]),
            "lost": lost,
            "not_the_latest_vote": wrong,
            "unexpected_rows": unexpected,
            "explained_by_in_transit": uncertain_ok,
            "duplicate_rows": duplicates,
            "examples": examples[:10],
            "ok": not (lost or wrong or unexpected or duplicates),
        }
    return out


# --- the clients ------------------------------------------------------------------------------


class Browser:
    """One voter: a keep-alive connection and a cookie jar."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port, self.timeout = port, timeout
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(
        self, method: str, path: str, form: dict | None = None
    ) -> tuple[int, http.client.HTTPMessage, str, float]:
        """(status, headers, body, seconds); raises OSError / HTTPException when no response."""
        headers = {"Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        t0 = time.perf_counter()
        try:
            conn = self._connection()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        elapsed = time.perf_counter() - t0
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return response.status, response.headers, text, elapsed


@dataclass
class Tally:
    """What one client saw."""

    get_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    replay_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)  # "GET 200", "POST 302 counted", ...
    errors: Counter = field(default_factory=Counter)  # exceptions by kind
    acked: dict = field(default_factory=dict)
    in_transit: dict = field(default_factory=dict)
    replayed: dict = field(default_factory=dict)
    replays_counted: int = 0
    # statements
    latest: dict = field(default_factory=dict)
    uncertain: dict = field(default_factory=dict)
    acked_count: int = 0
    session: str = ""
    error_times: list = field(default_factory=list)  # (seconds into the phase, what)
    started: float = field(default_factory=time.monotonic)


def _fail(tally: Tally, method: str, exc: BaseException) -> None:
    what = f"{method} {type(exc).__name__}"
    tally.errors[what] += 1
    tally.error_times.append((round(time.monotonic() - tally.started, 2), what))
    time.sleep(0.05)


def pairwise_voter(
    port: int, path: str, deadline: float, seed: int, replay_share: float, timeout: float
) -> Tally:
    rng = random.Random(seed)
    browser, tally = Browser(port, timeout), Tally()
    while time.monotonic() < deadline:
        try:
            status, _, html, seconds = browser.request("GET", path)
        except (OSError, http.client.HTTPException) as exc:
            _fail(tally, "GET", exc)
            continue
        tally.get_ms.append(seconds * 1000)
        tally.statuses[f"GET {status}"] += 1
        token, csrf = TOKEN.search(html), CSRF.search(html)
        if status != 200 or not token or not csrf:
            tally.errors["GET without a pair"] += 1
            time.sleep(0.05)
            continue
        token, choice = token.group(1), rng.choice(CHOICES)
        form = {"csrfmiddlewaretoken": csrf.group(1), "token": token, "choice": choice}
        try:
            status, headers, _, seconds = browser.request("POST", path, form)
        except (OSError, http.client.HTTPException) as exc:
            tally.in_transit[token] = choice
            _fail(tally, "POST", exc)
            continue
        tally.post_ms.append(seconds * 1000)
        result = headers.get("X-Vote-Result", "-")
        tally.statuses[f"POST {status} {result}"] += 1
        if status == 302 and result == "counted":
            tally.acked[token] = choice
        if time.monotonic() < deadline and rng.random() < replay_share:
            other = "right" if choice == "left" else "left"
            form["choice"] = other
            try:
                status, headers, _, seconds = browser.request("POST", path, form)
            except (OSError, http.client.HTTPException) as exc:
                _fail(tally, "replay", exc)
                tally.replayed[token] = other
                continue
            tally.replay_ms.append(seconds * 1000)
            tally.replayed[token] = other
            result = headers.get("X-Vote-Result", "-")
            tally.statuses[f"replay {status} {result}"] += 1
            if result == "counted":
                tally.replays_counted += 1
    browser.close()
    return tally


def statement_voter(port: int, path: str, deadline: float, seed: int, timeout: float) -> Tally:
    rng = random.Random(seed)
    browser, tally = Browser(port, timeout), Tally()
    while time.monotonic() < deadline:
        target = path
        try:
            status, _, html, seconds = browser.request("GET", target)
            if status == 200 and not STATEMENT.search(html) and tally.latest:
                # voted on everything: change an earlier vote
                target = f"{path}?statement={rng.choice(list(tally.latest))}"
                tally.get_ms.append(seconds * 1000)
                tally.statuses[f"GET {status}"] += 1
                status, _, html, seconds = browser.request("GET", target)
        except (OSError, http.client.HTTPException) as exc:
            _fail(tally, "GET", exc)
            continue
        tally.get_ms.append(seconds * 1000)
        tally.statuses[f"GET {status}"] += 1
        statement, csrf = STATEMENT.search(html), CSRF.search(html)
        if status != 200 or not statement or not csrf:
            tally.errors["GET without a statement"] += 1
            time.sleep(0.05)
            continue
        sid, vote = statement.group(1), rng.choice(STATEMENT_VOTES)
        form = {"csrfmiddlewaretoken": csrf.group(1), "statement": sid, "vote": vote}
        try:
            status, _, _, seconds = browser.request("POST", path, form)
        except (OSError, http.client.HTTPException) as exc:
            tally.uncertain.setdefault(sid, []).append(int(vote))
            _fail(tally, "POST", exc)
            continue
        tally.post_ms.append(seconds * 1000)
        tally.statuses[f"POST {status}"] += 1
        if status == 302:
            tally.latest[sid] = int(vote)
            tally.uncertain.pop(sid, None)  # an acknowledged later vote settles it
            tally.acked_count += 1
    tally.session = browser.cookies.get("sessionid", "")
    browser.close()
    return tally


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else []
    pick = (lambda k: cuts[k - 1]) if cuts else (lambda k: values[0])
    return {
        "n": len(values),
        "p50_ms": round(pick(50), 2),
        "p95_ms": round(pick(95), 2),
        "p99_ms": round(pick(99), 2),
        "max_ms": round(max(values), 2),
        "mean_ms": round(statistics.fmean(values), 2),
    }


def run_phase(
    name: str, target, args_for, clients: int, duration: float, server_pid: int
) -> tuple[dict, list]:
    """Start ``clients`` threads together, let them run ``duration`` seconds, gather tallies."""
    tallies: list[Tally | None] = [None] * clients
    start = threading.Barrier(clients + 1)
    deadline_box: list[float] = []

    def run(n: int) -> None:
        start.wait()
        tallies[n] = target(*args_for(n, deadline_box[0]))

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    load_before = common.loadavg()
    deadline_box.append(time.monotonic() + duration)
    server_cpu, client_cpu = process_cpu_s(server_pid), common.cpu_s()
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    server_cpu_after, client_cpu = process_cpu_s(server_pid), common.cpu_s() - client_cpu
    server_cpu = (
        server_cpu_after - server_cpu
        if server_cpu is not None and server_cpu_after is not None
        else None
    )
    done = [t for t in tallies if t is not None]
    statuses: Counter = Counter()
    errors: Counter = Counter()
    for t in done:
        statuses.update(t.statuses)
        errors.update(t.errors)
    post_ms = [v for t in done for v in t.post_ms]
    get_ms = [v for t in done for v in t.get_ms]
    acked = (
        sum(len(t.acked) for t in done) if name == "pairwise" else sum(t.acked_count for t in done)
    )
    summary = {
        "clients": clients,
        "duration_s": round(elapsed, 2),
        "acknowledged_votes": acked,
        "votes_per_s": round(acked / elapsed, 1),
        "requests": sum(statuses.values()),
        "requests_per_s": round(sum(statuses.values()) / elapsed, 1),
        "vote_post": percentiles(post_ms),
        "page_get": percentiles(get_ms),
        "responses": dict(sorted(statuses.items())),
        "client_errors": dict(sorted(errors.items())),
        "server_cpu_s": round(server_cpu, 1) if server_cpu is not None else None,
        "server_cpu_share": round(server_cpu / elapsed, 2) if server_cpu is not None else None,
        "client_cpu_s": round(client_cpu, 1),
        "loadavg_before": load_before,
        "loadavg_after": common.loadavg(),
        "first_client_errors": sorted(e for t in done for e in t.error_times)[:20],
    }
    if name == "pairwise":
        summary["replay_post"] = percentiles([v for t in done for v in t.replay_ms])
    return summary, done


# --- the parent -------------------------------------------------------------------------------


def child_env(folder: Path) -> dict:
    env = dict(os.environ)
    for name in ("CHANGEBANK_DEBUG", "DATABASE_URL", "CHANGEBANK_SQLITE_PATH", "CHANGEBANK_HTTPS"):
        env.pop(name, None)  # production-like: DEBUG off, SQLite in the data folder, plain HTTP
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "changebank.settings",
            "CHANGEBANK_DATA_DIR": str(folder),
            "CHANGEBANK_SECRET_KEY": SECRET_KEY,
            "CHANGEBANK_TASKS_IN_PROCESS": "0",
            "CHANGEBANK_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
    )
    return env


def run_child(args: list[str], folder: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        env=child_env(folder),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child {args} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(kind: str, port: int, threads: int, connections: int) -> list[str]:
    """``waitress-serve`` on the WSGI application with a connection limit above the number of
    clients, or ``changebank serve`` (waitress with its default limit of 100 open connections,
    which 100 keep-alive voters plus one more connection reach: see the module docstring)."""
    if kind == "changebank":
        changebank = Path(sys.executable).with_name("changebank")
        return [str(changebank), "serve", "--host", "127.0.0.1", "--port", str(port)] + [
            "--threads",
            str(threads),
        ]
    return [
        str(Path(sys.executable).with_name("waitress-serve")),
        f"--listen=127.0.0.1:{port}",
        f"--threads={threads}",
        f"--connection-limit={connections}",
        "--ident=changebank",
        "changebank.wsgi:application",
    ]


def start_server(folder: Path, cmd: list[str], port: int) -> subprocess.Popen:
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        cmd, env=child_env(folder), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server stopped: {(folder / 'server.log').read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start within 60 s")


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (Linux), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_server(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=None, help="seconds per phase (60)")
    parser.add_argument("--quick", action="store_true", help="10 seconds per phase")
    parser.add_argument("--clients", type=int, default=100, help="concurrent voters (100)")
    parser.add_argument("--server-threads", type=int, default=16, help="waitress threads (16)")
    parser.add_argument(
        "--server",
        choices=("waitress", "changebank"),
        default="waitress",
        help="waitress-serve with a connection limit of twice the clients (default), or "
        "`changebank serve` (waitress's default limit of 100 connections)",
    )
    parser.add_argument(
        "--replay-share", type=float, default=0.05, help="share of votes posted twice (0.05)"
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

    duration = args.duration or (10.0 if args.quick else 60.0)
    info = bench_import.machine_info()
    print(
        f"changebank voting load test: {args.clients} voters for {duration:.0f} s a phase, "
        f"waitress with {args.server_threads} threads; {info['cpus_usable']} CPUs, "
        f"SQLite {info['sqlite']}; load {info['loadavg_at_start']}",
        flush=True,
    )
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    built = run_child(["--child", "build"], FOLDER)
    print(
        f"  database {FOLDER.relative_to(ROOT)} ({built['journal_mode']} journal): a survey of "
        f"{built['ideas']} ideas" + (", a conversation" if built.get("statement_path") else ""),
        flush=True,
    )
    port = free_port()
    command = server_command(args.server, port, args.server_threads, max(100, 2 * args.clients))
    server = start_server(FOLDER, command, port)
    report: dict = {
        "benchmark": "voting",
        "machine": info,
        "settings": {
            "clients": args.clients,
            "duration_s": duration,
            "server": " ".join(
                Path(command[0]).name if n == 0 else c for n, c in enumerate(command)
            ),
            "replay_share": args.replay_share,
            "client_timeout_s": args.timeout,
            "journal_mode": built["journal_mode"],
            "database": "SQLite in var/bench/voting/ (fresh each run)",
        },
        "build": built,
    }
    records: dict = {"survey": built["survey"], "conversation": built.get("conversation")}
    try:
        print("  phase 1, pairwise votes ...", flush=True)
        summary, tallies = run_phase(
            "pairwise",
            pairwise_voter,
            lambda n, deadline: (
                port,
                built["vote_path"],
                deadline,
                n,
                args.replay_share,
                args.timeout,
            ),
            args.clients,
            duration,
            server.pid,
        )
        report["pairwise"] = summary
        records["pairwise"] = {
            "clients": [
                {"acked": t.acked, "in_transit": t.in_transit, "replayed": t.replayed}
                for t in tallies
            ],
            "replays_counted": sum(t.replays_counted for t in tallies),
        }
        print_phase("pairwise", summary)
        if built.get("statement_path"):
            print("  phase 2, statement votes ...", flush=True)
            summary, tallies = run_phase(
                "statements",
                statement_voter,
                lambda n, deadline: (port, built["statement_path"], deadline, n, args.timeout),
                args.clients,
                duration,
                server.pid,
            )
            report["statements"] = summary
            records["statements"] = {
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
            print_phase("statements", summary)
        else:
            report["statements"] = {"skipped": "no page named decide:conversation_vote"}
            print("  phase 2 skipped: no page named decide:conversation_vote", flush=True)
    finally:
        code = stop_server(server)
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
    checks = run_child(["--child", "check", "--records", str(path)], FOLDER)
    report["checks"] = checks
    for phase, found in checks.items():
        report[phase]["check"] = found
    print_checks(checks, report["server"])
    ok = all(c.get("ok") for c in checks.values())
    report["ok"] = ok
    if not args.no_save:
        common.write_results("voting", report)
    return 0 if ok else 1


def print_phase(name: str, s: dict) -> None:
    post, get = s["vote_post"], s["page_get"]
    print(
        f"    {s['acknowledged_votes']:,} votes in {s['duration_s']:.1f} s: "
        f"{s['votes_per_s']:,.1f} votes/s ({s['requests_per_s']:,.1f} requests/s)\n"
        f"    vote POST ms: p50 {post.get('p50_ms')}, p95 {post.get('p95_ms')}, "
        f"p99 {post.get('p99_ms')}, max {post.get('max_ms')}\n"
        f"    page GET ms:  p50 {get.get('p50_ms')}, p95 {get.get('p95_ms')}, "
        f"p99 {get.get('p99_ms')}, max {get.get('max_ms')}\n"
        f"    responses: {s['responses']}; client errors: {s['client_errors'] or 'none'}\n"
        f"    CPU: server {s['server_cpu_s']} s ({s['server_cpu_share']} of one core), "
        f"clients {s['client_cpu_s']} s; load {s['loadavg_before']} -> {s['loadavg_after']}",
        flush=True,
    )


def print_checks(checks: dict, server: dict) -> None:
    p = checks["pairwise"]
    print(
        f"  check, pairwise: {p['acknowledged']:,} acknowledged, {p['answers_in_database']:,} "
        f"answers stored; lost {p['lost']}, counted twice {p['counted_twice']} "
        f"({p['replays']:,} replays), in transit {p['in_transit']} "
        f"({p['in_transit_counted']} counted), unexplained {p['unacknowledged_counted_unexplained']}"
        f": {'OK' if p['ok'] else 'FAILED'}",
        flush=True,
    )
    s = checks.get("statements")
    if s:
        print(
            f"  check, statements: {s['acknowledged_votes']:,} acknowledged votes by "
            f"{s['participants']} participants, {s['rows_in_database']:,} rows "
            f"(expected {s['expected_rows']:,}); lost {s['lost']}, not the latest "
            f"{s['not_the_latest_vote']}, unexpected {s['unexpected_rows']}, duplicates "
            f"{s['duplicate_rows']}: {'OK' if s['ok'] else 'FAILED'}",
            flush=True,
        )
    print(
        f"  server log: {server['database_is_locked_lines']} 'database is locked', "
        f"{server['tracebacks']} tracebacks, {server['task_queue_warnings']} task queue warnings, "
        f"{server['connection_limit_warnings']} connection limit warnings",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
