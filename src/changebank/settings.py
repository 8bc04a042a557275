"""Django settings.

Everything that differs between a laptop and production comes from the environment:

- ``CHANGEBANK_DATA_DIR``: where the SQLite database, uploads and logs live (default ``./var``).
- ``CHANGEBANK_SECRET_KEY``: required when ``CHANGEBANK_DEBUG`` is off and not running tests.
- ``CHANGEBANK_DEBUG``: ``1`` for development.
- ``CHANGEBANK_ALLOWED_HOSTS``: comma-separated host names.
- ``DATABASE_URL``: ``postgres://user:pass@host:port/name`` for PostgreSQL; SQLite otherwise.
- ``CHANGEBANK_TASKS_IN_PROCESS``: ``1`` (default) runs background tasks in a thread of the web
  process; ``0`` leaves them to ``changebank worker`` processes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlparse

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
    else:
        # A fresh random key for this process; `changebank init` writes one to the data folder so that
        # sessions survive restarts.
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

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("CHANGEBANK_LOG_LEVEL", "WARNING")},
}

# Public submission form: how many submissions one address may make per hour.
CHANGEBANK_FORM_RATE_LIMIT = int(os.environ.get("CHANGEBANK_FORM_RATE_LIMIT", 20))
