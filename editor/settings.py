"""Retouch settings: one file, every knob an environment variable with a safe default.

The defaults run anywhere with nothing else installed (SQLite, media on local disk,
the database task queue); DATABASE_URL and the storage variables move a team onto
PostgreSQL and S3-compatible storage without code changes. The README's
configuration table lists every variable read here.
"""

import json
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

from editor.upstream import catalogue, extra_models  # plain Python, no Django: safe here

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int | None) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else default


def envfloat(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# pytest-django imports settings in-process; tests get the plain static storage and
# fast password hashing without a second settings module.
TESTING = "pytest" in sys.modules

# Everything Retouch writes at run time (SQLite, uploads, results, the dev secret key)
# lives under one git-ignored folder unless told otherwise.
DATA_DIR = Path(env("RETOUCH_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _dev_secret_key() -> str:
    """A random key generated once and kept on disk, so sessions survive restarts."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env("SECRET_KEY") or _dev_secret_key()
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")
# The public address of this Retouch, used in invitation links and upstream callbacks.
PUBLIC_URL = env("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "axes",
    "editor.teams",
    "editor.edits",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the browser's Accept-Language, or the header's switch (a cookie)...
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ...or, once signed in, the one remembered on the person's profile.
    "editor.teams.language.ProfileLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into its plain answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "editor.urls"
WSGI_APPLICATION = "editor.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "editor.teams.context_processors.current_team",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# SQLite by default, with Django's own engine: WAL lets readers run beside the one
# writer; IMMEDIATE transactions take the write lock when they begin, so a second
# writer waits in SQLite's busy handler (up to `timeout` seconds) instead of failing
# with "database is locked" half-way through. That suits one machine and a team's
# everyday pace; PostgreSQL is the engine for bursts of hundreds of edits and for
# more than one machine (README, "Databases").
if env("DATABASE_URL"):
    DATABASES = {
        "default": dj_database_url.parse(
            env("DATABASE_URL"), conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60)
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # Reused like PostgreSQL's: opening one runs the PRAGMAs below every time, and
            # each idle worker thread would otherwise reconnect on every poll.
            "CONN_MAX_AGE": envint("DATABASE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,  # SQLite's busy timeout, in seconds
                # Django turns foreign keys on by itself.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Sign-in throttling (django-axes): after RETOUCH_SIGNIN_FAILURES failed sign-ins for one
# account, or from one client address, further tries are refused for
# RETOUCH_SIGNIN_COOLOFF_MINUTES; a success resets the count. Staff lift a lock by deleting
# the "access attempt" in the admin. Behind a proxy the client address comes from
# X-Forwarded-For (set by the proxy); otherwise only the connection's address counts,
# so a forged header cannot dodge the limit.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("RETOUCH_SIGNIN_FAILURES", 10)
AXES_COOLOFF_TIME = timedelta(minutes=envfloat("RETOUCH_SIGNIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "teams/locked.html"
AXES_VERBOSE = False
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if envbool("BEHIND_PROXY", False) else ("REMOTE_ADDR",)
)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# English and Simplified Chinese. Catalogues: editor/locale (templates) and each app's
# locale/ folder; scripts/messages regenerates them, scripts/bootstrap compiles them.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "editor" / "locale"]
# Dates per language: templates name a format (DATE_FORMAT, DATETIME_FORMAT, ...).
FORMAT_MODULE_PATH = ["editor.formats"]
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

# Development and tests serve static files straight from static/ (no collectstatic).
WHITENOISE_USE_FINDERS = DEBUG or TESTING
WHITENOISE_AUTOREFRESH = DEBUG or TESTING

# Uploaded sources, results and thumbnails. Never served at a public URL: every file
# goes through a permission-checked view. MEDIA_STORAGE_BACKEND=s3 / MEDIA_STORAGE_OPTIONS
# (JSON) put them in an S3-compatible bucket instead ("Media in an S3-compatible bucket",
# at the end of this file).
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = None
MEDIA_STORAGE_BACKEND = env("MEDIA_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
if MEDIA_STORAGE_BACKEND.endswith("FileSystemStorage"):
    _media_options = {"location": str(MEDIA_ROOT)}
else:
    _media_options = json.loads(env("MEDIA_STORAGE_OPTIONS", "{}"))
STORAGES = {
    "default": {"BACKEND": MEDIA_STORAGE_BACKEND, "OPTIONS": _media_options},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}

# Uploads: Django spools anything bigger than this to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
RETOUCH_MAX_UPLOAD_MB = envint("RETOUCH_MAX_UPLOAD_MB", 50)
RETOUCH_MAX_PIXELS = envint("RETOUCH_MAX_PIXELS", 50_000_000)

# Background work: Django's task framework on the database queue.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

# The image editing API.
OPENAI_BASE_URL = env("OPENAI_BASE_URL", "https://api.acedata.cloud/openai").rstrip("/")
OPENAI_API_KEY = env("OPENAI_API_KEY")
OPENAI_TIMEOUT = envint("OPENAI_TIMEOUT", 300)
# "url" or "b64_json" to always ask for one; empty: ask for URLs only when the gateway
# needs them (several results per edit).
OPENAI_RESPONSE_FORMAT = env("OPENAI_RESPONSE_FORMAT")

# Delivery and reliability (README: "Delivery modes"). `sync`: a worker thread waits on
# the open request; `callback` (gateway only): the service posts the result to
# PUBLIC_URL/hooks/edits/... and the worker is free at once.
RETOUCH_DELIVERY = env("RETOUCH_DELIVERY", "sync").strip().lower()
# Attempts per edit (the first one included) before it fails for good; only 429, 5xx,
# time-outs and network errors are retried, with exponential backoff and jitter, never
# sooner than the service's Retry-After.
RETOUCH_MAX_ATTEMPTS = envint("RETOUCH_MAX_ATTEMPTS", 5)
RETOUCH_RETRY_BASE_SECONDS = envfloat("RETOUCH_RETRY_BASE_SECONDS", 5)
RETOUCH_RETRY_MAX_SECONDS = envfloat("RETOUCH_RETRY_MAX_SECONDS", 300)
# A worker renews its claim on an edit every third of this while it works; an edit whose
# claim ran out (the worker crashed) is picked up again by the reconciler.
RETOUCH_LEASE_SECONDS = envfloat("RETOUCH_LEASE_SECONDS", 60)
# How often `manage.py reconcile` runs the reconciler, and how long after the service
# accepted an edit its callback counts as overdue (then the Tasks API is asked).
RETOUCH_RECONCILE_SECONDS = envfloat("RETOUCH_RECONCILE_SECONDS", 30)
RETOUCH_CALLBACK_GRACE_SECONDS = envfloat("RETOUCH_CALLBACK_GRACE_SECONDS", 120)
# An edit still unfinished this long after its first attempt started fails, in words.
RETOUCH_EDIT_DEADLINE_SECONDS = envfloat("RETOUCH_EDIT_DEADLINE_SECONDS", 1800)
# Which service OPENAI_BASE_URL is ("auto": told from its host; "gateway"/"openai" say
# it, e.g. for a proxy), a deployment's own model entries, and the models offered
# (README: Configuration). A mistake in any of them stops start-up with a sentence.
RETOUCH_SERVICE = catalogue.parse_service_setting(env("RETOUCH_SERVICE", "auto"))
RETOUCH_EXTRA_MODELS = extra_models.load_extra_models(env("RETOUCH_EXTRA_MODELS"))
RETOUCH_MODELS = catalogue.parse_model_names(env("RETOUCH_MODELS"), RETOUCH_EXTRA_MODELS)
# Partial images (0-3) a sync edit asks for where the model streams, shown as previews
# until the result arrives; unset: 2 at OpenAI and unknown services, 0 at the gateway
# (editor/edits/delivery.py says why).
RETOUCH_PARTIAL_IMAGES = envint("RETOUCH_PARTIAL_IMAGES", None)
# Hosts result images may be downloaded from besides the API's own: exact names, or a
# leading dot for any subdomain. Addresses in private, loopback and link-local ranges
# are refused for every host but the API's own (editor/upstream/transport.py).
RETOUCH_RESULT_HOSTS = envlist(
    "RETOUCH_RESULT_HOSTS", ".acedata.cloud,oaidalleapiprodscus.blob.core.windows.net"
)
# Largest callback body accepted (413 beyond); it is streamed to storage, not memory.
RETOUCH_CALLBACK_MAX_MB = envint("RETOUCH_CALLBACK_MAX_MB", 64)
# Threads per `manage.py worker` process: each runs one task at a time.
# 25: the default 2 processes then run a full batch (RETOUCH_MAX_BATCH) at once in sync mode.
RETOUCH_WORKER_THREADS = envint("RETOUCH_WORKER_THREADS", 25)
# Open event streams (pages updated as edits change) each person may have in one web
# process; past that a page polls instead (editor/edits/stream.py).
RETOUCH_STREAMS_PER_PERSON = envint("RETOUCH_STREAMS_PER_PERSON", 8)
# Threads per web process for pages (everything but the event streams, which need none:
# editor/asgi.py); with WEB_CONCURRENCY processes, the requests served at once.
RETOUCH_WEB_THREADS = envint("RETOUCH_WEB_THREADS", 4)

# Spending. Edits each person may start per window, across all their teams: "N/second",
# "N/minute", "N/hour" or "N/day"; "0" or empty turns the limit off (editor/edits/limits.py).
# The default leaves room for a full batch (RETOUCH_MAX_BATCH photos) and a few more.
RETOUCH_RATE_LIMIT = env("RETOUCH_RATE_LIMIT", "100/hour")
# Photos in one "apply to each photo" batch (each becomes an edit of its own).
RETOUCH_MAX_BATCH = envint("RETOUCH_MAX_BATCH", 50)
# Prices for the cost estimates, JSON in the shape of costs.DEFAULT_PRICES; the models
# named here replace the built-in entries, the others keep them.
RETOUCH_PRICES = json.loads(env("RETOUCH_PRICES") or "{}")

# What personal teams may do: edit (default), view (look but not start edits), off (none
# made for new people; existing ones hidden). And the monthly budget in US dollars a new
# personal team starts with (empty: none); staff change it per team in the admin.
RETOUCH_PERSONAL_TEAMS = env("RETOUCH_PERSONAL_TEAMS", "edit").strip().lower()
RETOUCH_PERSONAL_BUDGET_USD = env("RETOUCH_PERSONAL_BUDGET_USD", "") or None

# Accounts: without an invitation, nobody can sign up unless this is on.
RETOUCH_OPEN_SIGNUP = envbool("RETOUCH_OPEN_SIGNUP", False)

MAILERS = {
    "default": {
        "BACKEND": env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"),
        "OPTIONS": json.loads(env("EMAIL_OPTIONS", "{}")),
    }
}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "retouch@localhost")

# Without EMAIL_BACKEND, invitation e-mails go to the log (the console backend) and the
# link is shown to copy, which is how most teams invite anyway: a deployment without
# mail is complete, so Django's "development-only e-mail backend" error is silenced
# for it (README, "Running in production"). A configured backend is checked as usual.
SILENCED_SYSTEM_CHECKS = [] if env("EMAIL_BACKEND") else ["mail.E001"]

# HTTPS. The README's production switches (SECURE_COOKIES=true and an https PUBLIC_URL)
# turn on everything `manage.py check --deploy` asks for; each can be overridden.
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
_HTTPS_ONLY = SESSION_COOKIE_SECURE and PUBLIC_URL.startswith("https://")
if envbool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", _HTTPS_ONLY)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if _HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _HTTPS_ONLY)
# Asking browsers to preload the domain is its owner's decision, not a default.
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
if not env("SECURE_HSTS_PRELOAD"):
    SILENCED_SYSTEM_CHECKS.append("security.W021")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy on every page (Django's own): scripts and styles only from this
# site (htmx's script tag carries the nonce), no inline event handlers or style
# attributes, no eval (htmx runs with allowEval off), images from this site or the
# photo picker's blob: previews, nothing may frame the site.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "blob:", "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"redact": {"()": "editor.logs.RedactSecrets"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Health and operations (README, "Running in production") -------------------------
# GET /healthz (editor/edits/health.py) is answered ahead of the other middleware, so a
# load balancer may probe by address and over plain HTTP; every request gets an id
# (X-Request-ID), and log lines carry it, the edit's id and the service's trace id where
# known (editor/logs.py).
MIDDLEWARE = [
    "editor.logs.RequestLogContext",
    "editor.edits.health.AnswerHealthChecks",
    *MIDDLEWARE,
]
# Each worker process records a heartbeat this often; /healthz fails (503) when one has
# been silent for longer than RETOUCH_WORKER_STALE_SECONDS, or when an edit has been due
# but left waiting in the queue for longer than RETOUCH_HEALTH_QUEUE_SECONDS.
RETOUCH_HEARTBEAT_SECONDS = envfloat("RETOUCH_HEARTBEAT_SECONDS", 10)
RETOUCH_WORKER_STALE_SECONDS = envfloat("RETOUCH_WORKER_STALE_SECONDS", 60)
RETOUCH_HEALTH_QUEUE_SECONDS = envfloat("RETOUCH_HEALTH_QUEUE_SECONDS", 300)
# `plain` lines end with [edit_id=… trace_id=… request_id=…]; `json` writes one JSON
# object per line (web, worker, reconciler and gunicorn's own lines alike).
LOG_FORMAT = env("LOG_FORMAT", "plain").strip().lower() or "plain"
if LOG_FORMAT not in {"plain", "json"}:
    raise ValueError(f"LOG_FORMAT must be plain or json, not “{LOG_FORMAT}”.")
LOGGING["formatters"] = {
    "plain": {
        "()": "editor.logs.PlainFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s",
    },
    "json": {"()": "editor.logs.JsonLines"},
}
LOGGING["filters"]["context"] = {"()": "editor.logs.AddLogContext"}
LOGGING["handlers"]["console"] |= {"formatter": LOG_FORMAT, "filters": ["context", "redact"]}

# --- Media in an S3-compatible bucket -----------------------------------------------------
# MEDIA_STORAGE_BACKEND=s3 keeps uploads, results and thumbnails in a private bucket
# (editor/edits/media.py, S3MediaStorage: `pip install -e ".[s3]"`), configured by
# MEDIA_STORAGE_OPTIONS (JSON: {"bucket_name": ..., "endpoint_url": ..., "region_name": ...})
# and the standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Any other value is a Django
# storage class's dotted path, the default a folder (MEDIA_ROOT).
if MEDIA_STORAGE_BACKEND == "s3":
    MEDIA_STORAGE_BACKEND = "editor.edits.media.S3MediaStorage"
    STORAGES["default"]["BACKEND"] = MEDIA_STORAGE_BACKEND
# Downloads and thumbnails answer with a redirect to a presigned URL valid for minutes
# (after the permission check), so web processes do not carry the bytes. Only with a
# bucket; pages may then show images from the bucket's address, and from nowhere else.
RETOUCH_MEDIA_REDIRECT = envbool("RETOUCH_MEDIA_REDIRECT", False)


def _bucket_origins(options: dict) -> list[str]:
    """Where presigned URLs of the bucket point: its endpoint (path-style) and the
    bucket's own host below it (virtual-hosted style); AWS's hosts without an endpoint."""
    from urllib.parse import urlsplit

    if options.get("custom_domain"):
        return [f"https://{options['custom_domain']}"]
    bucket = options.get("bucket_name", "")
    endpoint = options.get("endpoint_url")
    if endpoint:
        parts = urlsplit(endpoint)
        return [f"{parts.scheme}://{parts.netloc}", f"{parts.scheme}://{bucket}.{parts.netloc}"]
    origins = [f"https://{bucket}.s3.amazonaws.com"]
    region = options.get("region_name") or env("AWS_DEFAULT_REGION")
    if region:
        origins.append(f"https://{bucket}.s3.{region}.amazonaws.com")
    return origins


if RETOUCH_MEDIA_REDIRECT and MEDIA_STORAGE_BACKEND.endswith("S3MediaStorage"):
    SECURE_CSP["img-src"] = [*SECURE_CSP["img-src"], *_bucket_origins(_media_options)]

# --- PostgreSQL connection pool -------------------------------------------------------------
# RETOUCH_DB_POOL=N gives each process a pool of at most N PostgreSQL connections (Django's
# own, psycopg_pool) instead of one persistent connection per thread (CONN_MAX_AGE is then
# 0). A page or a task takes one and hands it back at its end; a worker's thread also
# while the service works on its edit (delivery.release_connection), so its threads share
# a few. Measured (benchmarks/db_pool.py): no change in page or burst latency, a sync
# burst's peak connections 62 -> 24. Off by default; worth it where machines share one
# PostgreSQL (README, "Running in production"). A web process needs RETOUCH_WEB_THREADS + 2.
RETOUCH_DB_POOL = envint("RETOUCH_DB_POOL", 0) or 0
if RETOUCH_DB_POOL and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": RETOUCH_DB_POOL,
        # A thread waits this long for a free connection before its page or task fails.
        "timeout": envfloat("RETOUCH_DB_POOL_TIMEOUT", 30),
    }
