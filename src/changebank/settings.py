"""Django settings.

Everything that differs between a laptop and production comes from the environment:

- ``CHANGEBANK_DATA_DIR``: where the SQLite database, uploads and logs live (default ``./var``).
- ``CHANGEBANK_SECRET_KEY``: the key that signs sessions and CSRF tokens. Without it the key comes
  from the ``secret_key`` file that ``changebank init`` writes to the data folder; with neither,
  changebank refuses to start (``ImproperlyConfigured``) unless ``CHANGEBANK_DEBUG`` is on or the
  test suite is running, which use a random key for the process.
- ``CHANGEBANK_DEBUG``: ``1`` for development.
- ``CHANGEBANK_ALLOWED_HOSTS``: comma-separated host names.
- ``DATABASE_URL``: ``postgres://user:pass@host:port/name`` for PostgreSQL; SQLite otherwise.
- ``CHANGEBANK_TASKS_IN_PROCESS``: ``1`` (default) runs background tasks in a thread of the web
  process; ``0`` leaves them to ``changebank worker`` processes.
- ``CHANGEBANK_HTTPS``: ``1`` for secure cookies, HSTS and redirects to HTTPS.
- ``CHANGEBANK_PROXY_HEADERS``: ``1`` behind a reverse proxy (nginx) that sets
  ``X-Forwarded-Proto`` and ``X-Forwarded-Host``: requests are taken as HTTPS when
  ``X-Forwarded-Proto: https`` (``SECURE_PROXY_SSL_HEADER``) and their host from
  ``X-Forwarded-Host`` (``USE_X_FORWARDED_HOST``). Only for a proxy that sets or strips both
  headers on every request: a client could otherwise claim HTTPS or another host.
- ``CHANGEBANK_CSRF_TRUSTED_ORIGINS``: comma-separated origins (``https://consult.example.org``)
  trusted for unsafe requests (``CSRF_TRUSTED_ORIGINS``), when the site is reached under a
  scheme or host other than the one the request says.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("CHANGEBANK_DATA_DIR", "var")).resolve()
CHANGEBANK_DATA_DIR = DATA_DIR
CHANGEBANK_TASKS_IN_PROCESS = os.environ.get("CHANGEBANK_TASKS_IN_PROCESS", "1") != "0"

DEBUG = os.environ.get("CHANGEBANK_DEBUG", "") == "1"
SECRET_KEY = os.environ.get("CHANGEBANK_SECRET_KEY", "")
if not SECRET_KEY:
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        SECRET_KEY = key_file.read_text().strip()
if not SECRET_KEY:
    if not DEBUG and "pytest" not in sys.modules:
        # Never a per-process key in production: each worker would sign sessions and CSRF tokens
        # with its own key, and every restart would sign everyone out.
        raise ImproperlyConfigured(
            f"no secret key: set CHANGEBANK_SECRET_KEY, or run `changebank init`, which writes "
            f"one to {DATA_DIR / 'secret_key'} (CHANGEBANK_DATA_DIR). For development only, "
            "CHANGEBANK_DEBUG=1 uses a random key for each process."
        )
    # Development and the test suite: a fresh random key for this process.
    SECRET_KEY = secrets.token_urlsafe(50)

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("CHANGEBANK_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "changebank.core",
    "changebank.listen",
    "changebank.understand",
    "changebank.decide",
    "changebank.evaluate",
    "changebank.share",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "changebank.core.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "changebank.urls"
WSGI_APPLICATION = "changebank.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "environment": "changebank.core.jinja.environment",
            "autoescape": True,
            "context_processors": ["changebank.core.context.page"],
        },
    },
]


def _database_from_env() -> dict:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        parts = urlparse(url)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("CHANGEBANK_SQLITE_PATH", str(DATA_DIR / "changebank.sqlite3")),
        "OPTIONS": {
            # WAL lets readers carry on while an import writes; the busy timeout waits for a lock
            # rather than failing at once; IMMEDIATE takes the write lock at the start of a transaction.
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        },
    }


DATABASES = {"default": _database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "core:login"
LOGIN_REDIRECT_URL = "listen:submission_list"
LOGOUT_REDIRECT_URL = "core:home"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Set CHANGEBANK_STATIC_ROOT and run `changebank manage collectstatic` in production; on a laptop the
# files are served straight from the installed packages.
STATIC_ROOT = os.environ.get("CHANGEBANK_STATIC_ROOT") or None
NODE_MODULES = Path(
    os.environ.get("CHANGEBANK_NODE_MODULES", PACKAGE_DIR.parents[1] / "node_modules")
)
STATICFILES_DIRS = [d for d in [NODE_MODULES / "nhsuk-frontend" / "dist" / "nhsuk"] if d.is_dir()]
WHITENOISE_USE_FINDERS = True
# The NHS.UK stylesheet refers to its icons at /assets/images/…: serve the package's folder at the
# site root too (only public, static design-system files live there).
_NHSUK_DIST = NODE_MODULES / "nhsuk-frontend" / "dist" / "nhsuk"
WHITENOISE_ROOT = str(_NHSUK_DIST) if _NHSUK_DIST.is_dir() else None

MEDIA_ROOT = DATA_DIR / "uploads"

# Uploads: files are streamed to disk above 2.5 MB; the import size limit is enforced by the view.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
CHANGEBANK_MAX_UPLOAD_BYTES = int(os.environ.get("CHANGEBANK_MAX_UPLOAD_BYTES", 500 * 1024 * 1024))

# Security defaults (production hardening is switched on when DEBUG is off).
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if os.environ.get("CHANGEBANK_HTTPS", "") == "1":
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
if os.environ.get("CHANGEBANK_PROXY_HEADERS", "") == "1":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CHANGEBANK_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("CHANGEBANK_LOG_LEVEL", "WARNING")},
}

# Public submission form: how many submissions one address may make per hour.
CHANGEBANK_FORM_RATE_LIMIT = int(os.environ.get("CHANGEBANK_FORM_RATE_LIMIT", 20))
