"""`GET /healthz`: can this Retouch do its work? For load balancers, platforms and monitors.

It answers 200 with a small JSON object when every check passes, and 503 naming the
ones that fail (`"failing": ["database"]`):

- `database`: a connection of its own, opened with short timeouts, answers a read;
- `storage`: a tiny file written and deleted through the default storage, under
  `healthz/`;
- `queue`: how long the edit waiting longest for a worker has been due (queued, its
  retry not in the future), failing past RETOUCH_HEALTH_QUEUE_SECONDS;
- `workers`: each worker process's last heartbeat (WorkerHeartbeat), failing when one
  is older than RETOUCH_WORKER_STALE_SECONDS.

`?checks=database,storage` runs only those: a load balancer deciding whether to send
requests to this web process should not take every web process out of rotation
because a worker stopped (README, "Running in production").

Nothing private is revealed: no host names, paths, settings or exception text, only a
category per failure ("timeout", "locked", "unreachable", "not writable", "error"), and
workers by short opaque ids. Nothing waits long: the database and storage probes run
side by side in threads of their own and are given up after `DEADLINE` seconds, since a
database host that swallows packets, or a bucket behind a dead network, would otherwise
hold the answer for the drivers' own timeouts (2 s at least for PostgreSQL's connect,
60 s for S3's). A probe still running is shared by the requests that come meanwhile,
so a dead dependency costs one thread per process, not one per request.

`AnswerHealthChecks` answers /healthz ahead of the rest of the middleware: probes
arrive by address (not a name in ALLOWED_HOSTS), over plain HTTP (no HTTPS redirect),
without cookies; the answer does not depend on the Host header, sets no cookie and
never touches the session.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from urllib.parse import quote

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F, Min, Q
from django.db.models.functions import Coalesce
from django.db.utils import load_backend
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .models import Edit, Status, WorkerHeartbeat

PATH = "/healthz"
# Seconds the database and storage probes get, together (they run at the same time).
DEADLINE = 1.5
CHECKS = ("database", "storage", "queue", "workers")
# A statement of the probe's own connection, or of the queue and worker reads, that
# runs longer than this is cancelled (PostgreSQL: a table locked by a migration).
STATEMENT_TIMEOUT_MS = 1000

_running: dict[str, Future] = {}
_running_lock = threading.Lock()


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    asked = request.GET.get("checks", "")
    wanted = [name for name in CHECKS if name in asked.split(",")] if asked else list(CHECKS)
    report = run_checks(wanted)
    failing = [name for name, result in report.items() if result["ok"] is False]
    body = {"status": "failing" if failing else "ok", "failing": failing, "checks": report}
    response = JsonResponse(body, status=503 if failing else 200)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


class AnswerHealthChecks:
    """Middleware placed before the others (settings.MIDDLEWARE): answers GET and HEAD
    /healthz itself, see the module's docstring."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.path_info == PATH and request.method in ("GET", "HEAD"):
            return healthz(request)
        return self.get_response(request)


def run_checks(wanted: list[str]) -> dict[str, dict]:
    """Each wanted check's result: {"ok": True/False, ...}; "ok": None when it could not
    run (the queue and the workers are read from the database)."""
    deadline = time.monotonic() + DEADLINE
    probes = {"database": probe_database, "storage": probe_storage}
    started = {name: _start(name, probes[name]) for name in wanted if name in probes}
    if "database" not in started and {"queue", "workers"} & set(wanted):
        started["database"] = _start("database", probe_database)  # they need it
    report = {name: _outcome(future, deadline) for name, future in started.items()}
    database_ok = report["database"]["ok"] if "database" in report else False
    if "database" not in wanted:
        report.pop("database", None)
    reads = [name for name in ("queue", "workers") if name in wanted]
    if reads and not database_ok:
        report |= {name: {"ok": None, "error": "database unavailable"} for name in reads}
    elif reads:
        report |= read_queue_and_workers(reads)
    return {name: report[name] for name in wanted}


def _start(name: str, probe: Callable[[], dict]) -> Future:
    """The probe `name` running in a thread of its own, or the one already running. Daemon
    threads, not an executor's: a process stopping must not wait for a stuck probe."""
    with _running_lock:
        future = _running.get(name)
        if future is None or future.done():
            future = _running[name] = Future()
            thread = threading.Thread(
                target=_run, args=(future, probe), name=f"healthz-{name}", daemon=True
            )
            thread.start()
        return future


def _run(future: Future, probe: Callable[[], dict]) -> None:
    try:
        future.set_result(probe())
    except BaseException as exc:
        future.set_exception(exc)


def _outcome(future: Future, deadline: float) -> dict:
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        return {"ok": False, "error": "timeout"}
    except Exception:
        return {"ok": False, "error": "error"}


# --- The probes ------------------------------------------------------------------------


def probe_database() -> dict:
    """A read on a connection of its own, never the pooled or persistent one: a broken
    one must not be reused, and a healthy one must not wait behind its owner's queries."""
    started = time.monotonic()
    probe = _probe_connection()
    try:
        with probe.cursor() as cursor:
            # SQLite: reading the schema takes a shared lock, so a database locked by a
            # writer shows here (after the short busy timeout) instead of in 20 s.
            sql = "SELECT count(*) FROM sqlite_master" if probe.vendor == "sqlite" else "SELECT 1"
            cursor.execute(sql)
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "error": database_error(exc)}
    finally:
        _close(probe)
    return {"ok": True, "seconds": round(time.monotonic() - started, 3)}


def _probe_connection():
    """A new connection wrapper for the default database, with the probe's timeouts:
    SQLite opened read-only with a 0.5 s busy timeout and none of the start-up PRAGMAs
    (they may write); PostgreSQL with the shortest connect timeout libpq allows (2 s,
    the deadline cuts it shorter) and a statement timeout, outside any pool."""
    configured = connections.settings[DEFAULT_DB_ALIAS]
    options = dict(configured.get("OPTIONS", {}))
    probe = {**configured}
    engine = configured["ENGINE"]
    if engine.endswith("sqlite3"):
        name = str(configured["NAME"])
        if not name.startswith("file:") and name != ":memory:":
            name = f"file:{quote(name)}?mode=ro"
        probe |= {"NAME": name}
        options = {"timeout": 0.5}
    elif engine.endswith("postgresql"):
        options.pop("pool", None)
        statement = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        options |= {
            "connect_timeout": 2,
            "options": f"{options.get('options', '')} {statement}".strip(),
        }
    probe |= {"OPTIONS": options, "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False}
    return load_backend(engine).DatabaseWrapper(probe, "healthz")


def _close(probe) -> None:
    try:
        probe.close()  # an in-memory SQLite database (the tests') is kept open by Django
    finally:
        if probe.connection is not None:
            probe.connection.close()


def database_error(exc: Exception) -> str:
    """A category, never the text: messages can name hosts, users and paths."""
    text = f"{exc} {exc.__cause__ or ''}".lower()
    if "locked" in text or "busy" in text:
        return "locked"
    if "timeout" in text or "timed out" in text or "canceling statement" in text:
        return "timeout"
    if type(exc).__name__ in {"OperationalError", "InterfaceError"}:
        return "unreachable"
    return "error"


def probe_storage() -> dict:
    """Write a few bytes and delete them, through the storage every image goes through."""
    name = f"healthz/probe-{uuid.uuid4().hex}.txt"
    try:
        stored = default_storage.save(name, ContentFile(b"ok"))
        default_storage.delete(stored)
    except Exception:
        return {"ok": False, "error": "not writable"}
    return {"ok": True}


# --- Reads of the queue and the workers ------------------------------------------------


def read_queue_and_workers(wanted: list[str]) -> dict[str, dict]:
    """On the ordinary connection (the probe found the database answering), each read
    bounded by a statement timeout on PostgreSQL."""
    now = timezone.now()
    checks = {"queue": queue_check, "workers": workers_check}
    report = {}
    for name in wanted:
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
                report[name] = checks[name](now)
        except Exception as exc:
            report[name] = {"ok": False, "error": database_error(exc)}
    return report


def oldest_due_since(now: datetime) -> datetime | None:
    """When the edit waiting longest for a worker became due: queued edits whose retry is
    not in the future, since their retry time or, for new and requeued ones, their last
    change (`updated_at`: queuing is the last thing that changed them)."""
    due = Edit.objects.filter(status=Status.QUEUED).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    return due.aggregate(since=Min(Coalesce(F("next_attempt_at"), F("updated_at"))))["since"]


def queue_check(now: datetime) -> dict:
    """None waiting: `oldest_queued_seconds` is null."""
    since = oldest_due_since(now)
    if since is None:
        return {"ok": True, "oldest_queued_seconds": None}
    age = max(0.0, (now - since).total_seconds())
    return {
        "ok": age <= settings.RETOUCH_HEALTH_QUEUE_SECONDS,
        "oldest_queued_seconds": round(age, 1),
    }


def workers_check(now: datetime) -> dict:
    """Every worker process that has beaten recently enough not to be pruned yet. None at
    all is not a failure here (the queue check notices edits left waiting)."""
    beats = list(WorkerHeartbeat.objects.all()[:100])
    stale = sum(beat.is_stale(now) for beat in beats)
    return {
        "ok": not stale,
        "count": len(beats),
        "stale": stale,
        "heartbeats": [
            {"id": beat.public_id, "age_seconds": round(beat.age_seconds(now), 1)} for beat in beats
        ],
    }
