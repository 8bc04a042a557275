"""A throwaway PostgreSQL server for the test suite: Debian's binaries, a temporary folder, loopback.

``make test`` runs the suite a second time through this script::

    python tests/pgserver.py -- python -m pytest

It finds ``initdb`` (Debian keeps it in ``/usr/lib/postgresql/N/bin``), initialises a cluster in a
temporary folder, starts it on 127.0.0.1 on a free port, runs the command with ``DATABASE_URL``
pointing at it, then stops the server and removes the folder, whatever the command's outcome. As
root (a CI container), the server runs as the ``postgres`` user that Debian's package creates,
because PostgreSQL refuses to run as root. Nothing is written outside the temporary folder.

Tests that need a database of their own (a command run in a subprocess) call
:func:`create_database` with the URL in ``DATABASE_URL``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

SUPERUSER = "changebank"


def find_bin_dir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``: $PG_BIN_DIR, the newest Debian version, or
    the PATH."""
    if os.environ.get("PG_BIN_DIR"):
        return Path(os.environ["PG_BIN_DIR"])
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise SystemExit(
        "PostgreSQL's initdb was not found: install Debian's 'postgresql' package "
        "(make test does this when it is missing) or set PG_BIN_DIR."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    """Run ``cmd`` as the ``postgres`` user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", _server_user(), "--", *cmd]


def _server_user() -> str:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise SystemExit("running as root and neither a 'postgres' nor a 'nobody' user exists")


@contextlib.contextmanager
def server() -> Iterator[str]:
    """Start a temporary PostgreSQL server; yield its URL (database ``changebank``)."""
    bin_dir = find_bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="changebank-pg-"))
    data = folder / "data"
    port = _free_port()
    if os.geteuid() == 0:
        user = pwd.getpwnam(_server_user())
        os.chown(folder, user.pw_uid, user.pw_gid)
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "--username",
                    SUPERUSER,
                    "--auth",
                    "trust",  # the server listens on loopback only and lives for one test run
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C.UTF-8",
                    "--no-sync",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=folder,  # the server's user may not enter the caller's folder
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c shared_buffers=256MB"
        )
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(folder / "server.log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=folder,  # the server's user may not enter the caller's folder
        )
        url = f"postgres://{SUPERUSER}@127.0.0.1:{port}/changebank"
        _createdb(url, "changebank")
        yield url
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                check=False,
                stdout=subprocess.DEVNULL,
                cwd=folder,
            )
        shutil.rmtree(folder, ignore_errors=True)


def admin_connection(url: str):  # noqa: ANN201
    """An autocommit connection to the ``postgres`` database of ``url``'s server: CREATE and
    DROP DATABASE run there."""
    import psycopg

    parts = urlparse(url)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port,
        user=parts.username,
        dbname="postgres",
        autocommit=True,
    )


def _createdb(url: str, name: str) -> None:
    with admin_connection(url) as con:
        con.execute(f'CREATE DATABASE "{name}"')


def create_database(url: str) -> str:
    """A new empty database on the server of ``url``; returns its URL."""
    name = f"cb_{uuid.uuid4().hex[:12]}"
    _createdb(url, name)
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def drop_database(url: str) -> None:
    """Drop the database of ``url`` (closing its connections first)."""
    name = urlparse(url).path.lstrip("/")
    with admin_connection(url) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: python tests/pgserver.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    started = time.monotonic()
    with server() as url:
        print(f"PostgreSQL running at {url} ({time.monotonic() - started:.1f} s)", flush=True)
        return subprocess.run(
            command, env={**os.environ, "DATABASE_URL": url}, check=False
        ).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
