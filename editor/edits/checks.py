"""`manage.py check` (and every server start) warns about delivery settings that cannot
work, instead of letting edits fail one by one later."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"}  # noqa: S104 - compared, not bound


@checks.register(checks.Tags.compatibility)
def check_delivery(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    mode = settings.RETOUCH_DELIVERY
    if mode not in ("sync", "callback"):
        return [
            checks.Error(
                f"RETOUCH_DELIVERY is {mode!r}; it must be 'sync' or 'callback'.",
                id="edits.E001",
            )
        ]
    messages: list[checks.CheckMessage] = []
    if settings.RETOUCH_MAX_ATTEMPTS < 1:
        messages.append(checks.Error("RETOUCH_MAX_ATTEMPTS must be 1 or more.", id="edits.E002"))
    if mode != "callback":
        return messages
    if "api.openai.com" in settings.OPENAI_BASE_URL:
        messages.append(
            checks.Error(
                "RETOUCH_DELIVERY=callback needs the AceData Cloud gateway; OpenAI itself "
                "has no callbacks. Use RETOUCH_DELIVERY=sync with api.openai.com.",
                id="edits.E003",
            )
        )
    api_host = urlsplit(settings.OPENAI_BASE_URL).hostname or ""
    public_host = urlsplit(settings.PUBLIC_URL).hostname or ""
    if public_host in LOOPBACK and api_host not in LOOPBACK:
        messages.append(
            checks.Warning(
                f"PUBLIC_URL is {settings.PUBLIC_URL}, which the image service cannot reach: "
                "callbacks will not arrive and every edit will wait for the reconciler.",
                hint="Set PUBLIC_URL to the address the internet reaches Retouch at.",
                id="edits.W001",
            )
        )
    return messages


@checks.register(checks.Tags.compatibility)
def check_rate_limit(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A mistyped RETOUCH_RATE_LIMIT is reported at start-up, not as an error page on
    someone's first edit."""
    from django.core.exceptions import ImproperlyConfigured

    from .limits import parse_rate

    try:
        parse_rate(settings.RETOUCH_RATE_LIMIT)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="edits.E004")]
    return []


@checks.register(checks.Tags.compatibility)
def check_sqlite_search(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """On SQLite the prompt search's index is an FTS5 table with the trigram tokenizer
    (SQLite 3.34 or newer): said at start-up rather than as a failing migration."""
    import sqlite3

    from django.db import connection

    if connection.vendor != "sqlite" or sqlite3.sqlite_version_info >= (3, 34):
        return []
    return [
        checks.Error(
            f"SQLite {sqlite3.sqlite_version} is too old for the prompt search's index "
            "(FTS5's trigram tokenizer needs SQLite 3.34 or newer).",
            hint="Use a Python linked against a newer SQLite, or PostgreSQL (DATABASE_URL).",
            id="edits.E005",
        )
    ]
