"""Secure headers, production settings (``check --deploy``), secrets from the environment, and
the rate limits of public endpoints that other tests do not already cover."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "CHANGEBANK_DEBUG": "0",
    "CHANGEBANK_HTTPS": "1",
    "CHANGEBANK_SECRET_KEY": "k" * 20 + "-Zq8vX2pL9mN4bR7tY1wE5uI3oA6sD0fG-" + "h" * 10,
    "CHANGEBANK_ALLOWED_HOSTS": "example.org",
}


def clean_environ() -> dict[str, str]:
    """This process's environment without the test run's own settings: no CHANGEBANK_* and no
    DJANGO_ALLOW_ASYNC_UNSAFE (the browser tests set it here; check --deploy rightly refuses it)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CHANGEBANK_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }


def run_python(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    full = clean_environ()
    full.update(
        env, CHANGEBANK_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="changebank.settings"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=full,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_security_headers_on_a_page(client, db):
    response = client.get(reverse("core:home"))
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "script-src 'self' 'nonce-" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "base-uri 'self'" in csp and "form-action 'self'" in csp
    html = response.content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or f'nonce="{nonce}"' in tag, tag
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    # a fresh nonce on every response
    again = client.get(reverse("core:home"))["Content-Security-Policy"]
    assert again != csp


def test_session_and_csrf_cookies_are_httponly_and_lax(client, analyst):
    response = client.post(
        reverse("core:login"), {"username": "ana", "password": "a-long-test-password"}
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"


def test_https_settings_hsts_and_secure_cookies(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.DEBUG, s.ALLOWED_HOSTS)"
    )
    out = run_python(code, PRODUCTION, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "31536000",
        "True",
        "True",
        "True",
        "True",
        "False",
        "['example.org']",
    ]


def test_hsts_header_when_https(tmp_path):
    code = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client().get('/accessibility/', secure=True, HTTP_HOST='example.org'); "
        "print(r.status_code, r.headers.get('Strict-Transport-Security')); "
        "r = Client().get('/accessibility/', HTTP_HOST='example.org'); "
        "print(r.status_code, r.headers.get('Location'))"
    )
    out = run_python(code, PRODUCTION, tmp_path)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.strip().splitlines()[-2:]
    assert first == "200 max-age=31536000; includeSubDomains; preload"
    assert second == "301 https://example.org/accessibility/"


BEHIND_A_PROXY = (
    "import django; django.setup(); from django.conf import settings as s; "
    "from django.test import RequestFactory; "
    "from django.middleware.csrf import CsrfViewMiddleware, _get_new_csrf_string; "
    "r = RequestFactory().get('/', HTTP_HOST='127.0.0.1:8000', HTTP_X_FORWARDED_PROTO='https', "
    "HTTP_X_FORWARDED_HOST='example.org'); "
    "print(r.is_secure(), r.get_host() if s.USE_X_FORWARDED_HOST else '-', s.CSRF_TRUSTED_ORIGINS); "
    "token = _get_new_csrf_string(); "
    "r = RequestFactory().post('/', {'csrfmiddlewaretoken': token}, secure=True, "
    "HTTP_HOST='example.org', HTTP_ORIGIN='https://consult.example.org'); "
    "r.COOKIES['csrftoken'] = token; "
    "m = CsrfViewMiddleware(lambda r: None); m.process_request(r); "
    "refused = m.process_view(r, lambda r: None, (), {}); "
    "print(refused.status_code if refused else 'accepted')"
)


def test_behind_a_proxy_forwarded_headers_and_trusted_origins(tmp_path):
    """CHANGEBANK_PROXY_HEADERS=1 trusts X-Forwarded-Proto and X-Forwarded-Host (nginx sets them);
    CHANGEBANK_CSRF_TRUSTED_ORIGINS lets another origin post forms."""
    hosts = {"CHANGEBANK_ALLOWED_HOSTS": "example.org,127.0.0.1"}
    plain = run_python(BEHIND_A_PROXY, {**PRODUCTION, **hosts}, tmp_path)
    assert plain.returncode == 0, plain.stderr
    first, status = plain.stdout.strip().splitlines()[-2:]
    assert first == "False - []"  # the headers are ignored by default: a client could send them
    assert status == "403"  # a form posted from another origin
    proxied = run_python(
        BEHIND_A_PROXY,
        {
            **PRODUCTION,
            **hosts,
            "CHANGEBANK_PROXY_HEADERS": "1",
            "CHANGEBANK_CSRF_TRUSTED_ORIGINS": " https://consult.example.org, https://b.example ,",
        },
        tmp_path,
    )
    assert proxied.returncode == 0, proxied.stderr
    first, status = proxied.stdout.strip().splitlines()[-2:]
    assert first == "True example.org ['https://consult.example.org', 'https://b.example']"
    assert status == "accepted"


def test_check_deploy_passes_in_production(tmp_path):
    full = clean_environ()
    full.update(PRODUCTION, CHANGEBANK_DATA_DIR=str(tmp_path))
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "changebank"),
            "manage",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        env=full,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_check_deploy_fails_with_debug_on(tmp_path):
    full = clean_environ()
    full.update(PRODUCTION, CHANGEBANK_DEBUG="1", CHANGEBANK_DATA_DIR=str(tmp_path))
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "changebank"),
            "manage",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        env=full,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
    )
    assert out.returncode != 0 and "DEBUG" in out.stdout + out.stderr


def test_secret_key_comes_from_the_environment(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    out = run_python(code, PRODUCTION, tmp_path)
    assert out.stdout.strip() == PRODUCTION["CHANGEBANK_SECRET_KEY"]
    (tmp_path / "secret_key").write_text("from-the-key-file")
    env = {k: v for k, v in PRODUCTION.items() if k != "CHANGEBANK_SECRET_KEY"}
    assert run_python(code, env, tmp_path).stdout.strip() == "from-the-key-file"


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    code = "import django; django.setup(); print('started')"
    env = {k: v for k, v in PRODUCTION.items() if k != "CHANGEBANK_SECRET_KEY"}
    out = run_python(code, env, tmp_path)
    assert out.returncode != 0 and "started" not in out.stdout
    assert "ImproperlyConfigured" in out.stderr and "CHANGEBANK_SECRET_KEY" in out.stderr
    assert "changebank init" in out.stderr
    # An empty key file is no key either.
    (tmp_path / "secret_key").write_text("\n")
    assert run_python(code, env, tmp_path).returncode != 0
    # In development (DEBUG on) a random key for the process is enough.
    out = run_python(code, {**env, "CHANGEBANK_DEBUG": "1"}, tmp_path)
    assert out.returncode == 0 and "started" in out.stdout, out.stderr


def test_commands_without_a_secret_key_say_to_run_init(tmp_path):
    """Every command but init (and demo, which runs init) needs the key; init writes it."""
    full = clean_environ()
    full["CHANGEBANK_DATA_DIR"] = str(tmp_path)
    changebank = str(Path(sys.executable).parent / "changebank")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [changebank, *args], env=full, capture_output=True, text=True, cwd=ROOT, timeout=300
        )

    refused = run("programme", "list")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("changebank: no secret key")
    assert "CHANGEBANK_SECRET_KEY" in refused.stderr and "changebank init" in refused.stderr
    assert run("init").returncode == 0
    listed = run("programme", "list")
    assert listed.returncode == 0, listed.stderr


def test_init_writes_the_key_file_readable_by_the_owner_only(tmp_path):
    full = clean_environ()
    full["CHANGEBANK_DATA_DIR"] = str(tmp_path)
    out = subprocess.run(
        [str(Path(sys.executable).parent / "changebank"), "init"],
        env=full,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600
    assert len((tmp_path / "secret_key").read_text()) >= 50


def test_the_key_file_is_never_readable_by_others(tmp_path, monkeypatch, settings):
    from changebank import cli

    settings.DATA_DIR = tmp_path
    modes = []
    real_chmod = Path.chmod

    def spy(self: Path, mode: int) -> None:
        if self.name == "secret_key":
            modes.append(stat.S_IMODE(self.stat().st_mode))
        real_chmod(self, mode)

    monkeypatch.setattr(Path, "chmod", spy)
    monkeypatch.delenv("CHANGEBANK_SECRET_KEY", raising=False)
    monkeypatch.setattr("django.core.management.call_command", lambda *a, **k: None)
    old = os.umask(0o022)
    try:
        cli.cmd_init(type("Args", (), {"verbose": False})())
    finally:
        os.umask(old)
    assert modes and all(m & 0o077 == 0 for m in modes), oct(modes[0])


# --- rate limits not covered elsewhere ------------------------------------------------------------
# Covered already: the form (tests/listen/test_web.py), pulse (tests/evaluate/test_pulse.py),
# experiences and you-said (tests/share/test_catalogue.py), API submissions
# (tests/share/test_api.py), pairwise votes and ideas (tests/decide/test_pairwise.py) and
# conversation statements (tests/decide/test_opinion.py).


def test_choice_experiment_answers_are_rate_limited(client, programme, monkeypatch):
    from django.core.cache import cache

    from changebank.decide.views import choice
    from tests.decide.test_choice import Status, make_experiment

    cache.clear()
    exp = make_experiment(programme, status=Status.OPEN)
    monkeypatch.setattr(choice, "ANSWER_RATE_LIMIT", 0)
    url = reverse("decide:experiment_take", args=[programme.slug, exp.slug])
    assert client.get(url).status_code == 200
    response = client.post(url, {"choice_set": "1", "chosen": "0"})
    assert response.status_code == 429
    assert not exp.answers.exists()
    cache.clear()


def test_sign_in_is_rate_limited(client, analyst):
    url = reverse("core:login")
    for _ in range(30):
        client.post(url, {"username": "ana", "password": "wrong-password"})
    response = client.post(url, {"username": "ana", "password": "wrong-password"})
    assert response.status_code == 429
