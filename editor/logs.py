"""Log lines: which edit and request they are about, one JSON object each if asked,
and no secrets.

Context. A line written while the web handles a request carries that request's id
(`request_id`: the proxy's X-Request-ID when it sent a usable one, else a new one, and
sent back in the answer's X-Request-ID); on the URLs of one edit it also carries
`edit_id`. A line written while a worker runs a task for an edit carries `edit_id`, and
once the image service has answered, its `trace_id` and `request_id` (the ids its
support asks for, also stored on the edit). The values live in a context variable set
around the request or the task (`log_context`), so code deep down, the API client
included, needs no logger of its own to be traceable; `AddLogContext` copies them onto
each record. Plain lines end with ``[edit_id=… trace_id=… request_id=…]``;
`LOG_FORMAT=json` writes one JSON object per line instead (python-json-logger, with the
ids as fields).

Secrets. A callback's URL carries the edit's secret token (`/hooks/edits/<id>/<token>/`):
it is the only proof that a callback is real, so it must not reach access logs or
Django's request warnings, which are often shipped to places with wider access than
the database. Django's log records pass through `RedactSecrets` (settings.LOGGING) and
both formatters redact the finished line once more (a traceback can name a URL too);
gunicorn's access log goes through `GunicornLogger` (`--logger-class` in the Procfile).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.utils.log import log_response
from gunicorn.glogging import Logger
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

_access = logging.getLogger("retouch.access")
_CALLBACK_TOKEN = re.compile(r"(/hooks/edits/\d+/)[^/\s?\"]+")

# The fields a line may carry, in the order plain lines show them.
CONTEXT_FIELDS = ("edit_id", "trace_id", "request_id")
# None outside any `log_context` block, so a stray `bind` cannot stick to a thread.
_context: ContextVar[dict[str, object] | None] = ContextVar("retouch_log_context", default=None)
# A usable incoming X-Request-ID: what proxies send (UUIDs, hex, AWS's Root=1-…), no
# spaces or quotes that could forge the rest of a line.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:;=+/-]{1,200}", re.ASCII)


def redact(text: str) -> str:
    return _CALLBACK_TOKEN.sub(r"\1[token]", text)


def json_wanted() -> bool:
    """LOG_FORMAT=json, read from the environment: gunicorn's logger starts before Django
    reads its settings."""
    return os.environ.get("LOG_FORMAT", "").strip().lower() == "json"


# --- Which edit and request a line is about ----------------------------------------


def _given(values: dict[str, object]) -> dict[str, object]:
    return {name: value for name, value in values.items() if value not in (None, "")}


@contextmanager
def log_context(**values: object) -> Iterator[None]:
    """Lines logged inside the block carry `values` (besides any an outer block set);
    empty values are left out."""
    token = _context.set({**(_context.get() or {}), **_given(values)})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**values: object) -> None:
    """Add `values` to the innermost `log_context` block from here to its end (an id that
    became known on the way, such as the service's trace id); outside one, nothing."""
    current = _context.get()
    if current is not None:
        _context.set({**current, **_given(values)})


def current_context() -> dict[str, object]:
    return dict(_context.get() or {})


class AddLogContext(logging.Filter):
    """Copies the current `log_context` onto each record, as attributes the formatters
    show (an `extra=` the caller passed wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class RequestLogContext:
    """Middleware, first of all: gives each request its id, puts it (and the edit's id
    on the URLs of one edit) on every line logged while the request is handled, and
    sends it back in X-Request-ID so a person's report can be found in the logs."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        with log_context(request_id=request_id):
            response = self.get_response(request)
            if response.status_code >= 400:
                # What Django's handler would log after the middleware, logged here so the
                # line carries the ids (Django then skips it as already logged).
                log_response(
                    "%s: %s",
                    response.reason_phrase,
                    request.path,
                    response=response,
                    request=request,
                )
            # The access line, here rather than the server's: it carries the ids too
            # (uvicorn's own access log, which cannot, is off: editor/web_worker.py).
            _access.info(
                '%s "%s %s" %s',
                request.META.get("REMOTE_ADDR", "-"),
                request.method,
                request.get_full_path(),
                response.status_code,
            )
        response.headers["X-Request-ID"] = request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs) -> None:
        match = request.resolver_match
        if match and "pk" in view_kwargs and "edits/<int:pk>/" in match.route:
            bind(edit_id=view_kwargs["pk"])  # edits/<pk>/… and the callback, hooks/edits/<pk>/…


# --- Formats -----------------------------------------------------------------------------


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger: message [edit_id=… trace_id=… request_id=…]``, redacted."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        ids = [(name, getattr(record, name, None)) for name in CONTEXT_FIELDS]
        known = " ".join(f"{name}={value}" for name, value in ids if value not in (None, ""))
        return f"{line} [{known}]" if known else line

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLines(JsonFormatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, the context ids when known, ``exc_info`` for a traceback, and any
    `extra=` a caller gave, except the request object Django attaches (its repr names
    the URL; the request id says which one it was)."""

    def __init__(self, **options) -> None:
        options.setdefault("fmt", "%(levelname)s %(name)s %(message)s")
        options.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        options.setdefault("timestamp", "time")
        options.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "server_time"])
        super().__init__(**options)
        # Python's warnings would print plain text among the JSON lines: log them instead.
        logging.captureWarnings(True)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# --- Filters and gunicorn -----------------------------------------------------------------


class RedactSecrets(logging.Filter):
    """Rewrites a record whose message names a callback URL, token replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class GunicornLogger(Logger):
    """gunicorn's logger, with the request line and path of the access log redacted;
    with LOG_FORMAT=json its error and access lines are JSON objects too, each access
    line carrying the request id the app answered with."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        if json_wanted():
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonLines())
                    handler.addFilter(AddLogContext())

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms

    def access(self, resp, req, environ, request_time) -> None:
        headers = {name.lower(): value for name, value in getattr(resp, "headers", ())}
        with log_context(request_id=headers.get("x-request-id")):
            super().access(resp, req, environ, request_time)
