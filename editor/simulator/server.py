"""A fake of the AceData Cloud gateway's Images Edits, Generations and Tasks APIs, over HTTP.

It is written from the API contract alone (no imports from ``editor.upstream``), so that the
client and its test double cannot share a misunderstanding. One process-wide ``Simulator``
serves both the offline demo and the test suite; faults queued with ``push_fault`` let tests
drive the client through every failure the contract describes.
"""

from __future__ import annotations

import copy
import json
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections import OrderedDict, deque
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from . import results
from .app import EDIT_PATHS, GENERATION_PATHS, App, RequestHandler
from .records import Fault, RecordedRequest, make_fault, new_trace_id
from .validation import BadRequest, EditJob

__all__ = ["Fault", "RecordedRequest", "Simulator"]

MAX_BODY_BYTES = 512 * 1024 * 1024
# Browser tests, workers and the benchmark's 200 concurrent edits may connect all at once.
LISTEN_BACKLOG = 256
CALLBACK_TIMEOUT = 10.0
# A long-running demo must not grow without limit; tests never come near these.
MAX_RECORDS = 1000
MAX_FILES = 500
# 4K results are several MB each: the served files are bounded in bytes too.
MAX_FILE_BYTES = 512 * 1024 * 1024
TASKS_LIMIT_DEFAULT = 12
TASKS_LIMIT_MAX = 100
FILE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
FILE_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
# A task's ``type`` by ``EditJob.kind``, as the contract's Tasks API names them.
TASK_TYPES = {"edit": "images_edits", "generation": "images"}


class Simulator:
    """The fake gateway. ``start()`` serves it from a background thread on ``host:port``.

    ``token=None`` (or ``""``) accepts any non-empty bearer token. ``latency`` is how long each
    edit "takes"; ``reset()`` restores it. ``max_body_bytes`` exists so that the 413 path can be
    tested without uploading half a gigabyte.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        latency: float = 0.0,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token or None
        self.max_body_bytes = max_body_bytes
        self.verbose = verbose
        self._initial_latency = float(latency)
        self._latency = float(latency)
        self._lock = threading.Lock()
        self._callbacks_changed = threading.Condition(self._lock)
        # Every wait (latency, hang, late callbacks) watches this so stop() is never held up.
        self._stopping = threading.Event()
        # Background work started before a reset() must not leak into the next test.
        self._generation = 0
        self._faults: deque[Fault] = deque()
        self._requests: deque[RecordedRequest] = deque(maxlen=MAX_RECORDS)
        self._tasks: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._files: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._file_bytes = 0
        self._callbacks: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDS)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind and serve in a daemon thread; returns ``self`` so it can be chained."""
        if self._server is not None:
            raise RuntimeError("the simulator is already started")
        self._stopping.clear()
        # Bound here so that a busy port raises OSError (Werkzeug would exit the process).
        # A thread per connection, like the real service's many machines: a request waiting
        # out its latency sleeps and holds no CPU.
        with socket.create_server((self.host, self.port), backlog=LISTEN_BACKLOG) as listener:
            self._server = make_server(
                self.host,
                self.port,
                App(self),
                threaded=True,
                request_handler=RequestHandler,
                fd=listener.fileno(),
            )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"simulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wake every waiting request or callback; safe to call twice."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI SDK or our client uses as its base URL."""
        return self.root_url + "/openai"

    # --- test controls ---------------------------------------------------------------------

    def reset(self) -> None:
        """Forget faults, requests, tasks, files and callbacks; latency back to the start."""
        with self._lock:
            self._generation += 1
            self._faults.clear()
            self._requests.clear()
            self._tasks.clear()
            self._files.clear()
            self._file_bytes = 0
            self._callbacks.clear()
            self._latency = self._initial_latency
            self._callbacks_changed.notify_all()

    def set_latency(self, seconds: float) -> None:
        seconds = float(seconds)
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            self._latency = seconds

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    def push_fault(self, kind: str, **options: Any) -> None:
        """Queue a fault; the next edits or generations request it applies to takes it (FIFO).

        Kinds and their options:

        - ``http``: ``status``, ``code`` (default by status), ``message``, ``retry_after``;
          answered in the gateway's error shape.
        - ``openai_error``: ``status``, ``type``, ``code``, ``param``, ``message``, in OpenAI's
          ``{"error": {...}}`` shape (no ``trace_id``).
        - ``bare``: ``status``, ``body``, ``content_type`` (default ``text/html``).
        - ``hang``: ``seconds`` to wait before answering normally.
        - ``malformed``: 200 with cut-off JSON.  ``disconnect``: close without answering.
        - ``callback``: ``mode`` ``lost``, ``duplicate``, ``late`` (``delay``) or ``fail``
          (``code``, ``message``); only callback-mode requests take it, and a synchronous
          request leaves it at the head of the queue.

        Faults are taken after authentication and before validation, so a faulted request
        need not be valid. Tasks API requests never take one.

        ``after_partials=k`` (kinds ``disconnect``, ``hang``, ``http``, ``openai_error``,
        ``malformed``) breaks a streamed answer instead, after its first ``k`` partial images:
        the connection drops, stalls for ``seconds``, gets an ``error`` event in the gateway's
        or OpenAI's shape, or an event with cut-off JSON. Such a fault waits at the head of the
        queue for a streaming request.
        """
        fault = make_fault(kind, **options)
        with self._lock:
            self._faults.append(fault)

    def push_faults(self, faults: list[dict[str, Any]]) -> None:
        """Queue several faults given as ``{"kind": ..., **options}``; all or none."""
        checked = [make_fault(**fault) for fault in faults]
        with self._lock:
            self._faults.extend(checked)

    @property
    def faults(self) -> list[Fault]:
        """The faults still queued (a copy)."""
        with self._lock:
            return [Fault(f.kind, dict(f.options)) for f in self._faults]

    @property
    def requests(self) -> list[RecordedRequest]:
        """Edits, generations and tasks requests, oldest first (copies: safe while serving)."""
        with self._lock:
            return copy.deepcopy(list(self._requests))

    @property
    def edit_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path in EDIT_PATHS]

    @property
    def generation_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path in GENERATION_PATHS]

    @property
    def callbacks(self) -> list[dict[str, Any]]:
        """Callbacks delivered: ``url``, ``payload``, ``status`` (None if unreachable), ``at``."""
        with self._lock:
            return [dict(c) for c in self._callbacks]

    @property
    def tasks(self) -> list[dict[str, Any]]:
        """The stored tasks, oldest first, as the Tasks API would return them."""
        with self._lock:
            return [json.loads(json.dumps(t)) for t in self._tasks.values()]

    def put_file(self, data: bytes, output_format: str = "png") -> str:
        """Serve ``data`` from ``/_sim/files/`` and return its URL (a source for JSON bodies)."""
        if output_format not in FILE_TYPES:
            raise ValueError(f"output_format must be one of {sorted(FILE_TYPES)}")
        return self._store_file(data, output_format)

    def served_files(self) -> list[str]:
        """Names (``<id>.<ext>``) of the result files ``/_sim/files/`` currently serves."""
        with self._lock:
            return list(self._files)

    def wait_for_callbacks(self, count: int, timeout: float = 10) -> bool:
        """Block until at least ``count`` callbacks were delivered; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._callbacks_changed:
            return self._callbacks_changed.wait_for(
                lambda: len(self._callbacks) >= count, timeout=max(0.0, deadline - time.monotonic())
            )

    # --- used by the app -----------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        return self.token is None or token == self.token

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def _pop_fault(self, callback_mode: bool, streaming: bool = False) -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            head = self._faults[0]
            # A callback fault waits at the head of the queue for a callback-mode request,
            # a mid-stream fault for a streaming one.
            if head.kind == "callback" and not callback_mode:
                return None
            if head.mid_stream and not streaming:
                return None
            return self._faults.popleft()

    def _store_file(self, data: bytes, output_format: str) -> str:
        name = f"{uuid.uuid4().hex}.{FILE_EXTENSIONS[output_format]}"
        with self._lock:
            self._files[name] = (data, FILE_TYPES[output_format])
            self._file_bytes += len(data)
            while len(self._files) > MAX_FILES or (
                self._file_bytes > MAX_FILE_BYTES and len(self._files) > 1
            ):
                _, (dropped, _) = self._files.popitem(last=False)
                self._file_bytes -= len(dropped)
        return f"{self.root_url}/_sim/files/{name}"

    def _file(self, name: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._files.get(name)

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the simulator stops first; True when it is stopping."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()

    def _edit_result(self, job: EditJob) -> dict[str, Any]:
        """The success body (without the gateway's additions), drawn at low priority."""
        return results.edit_body(job, results.render_final(job), self._store_file)

    def _create_task(self, job: EditJob, fields: dict[str, list[str]], fault: Fault | None) -> str:
        task_id = str(uuid.uuid4())
        now = time.time()
        task = {
            "id": task_id,
            "trace_id": new_trace_id(),
            "type": TASK_TYPES[job.kind],
            "created_at": now,
            "started_at": now,
            "finished_at": None,
            "elapsed": None,
            "request": {name: values[0] for name, values in fields.items() if values},
        }
        with self._lock:
            self._tasks[task_id] = task
            while len(self._tasks) > MAX_RECORDS:
                self._tasks.popitem(last=False)
            generation = self._generation
        thread = threading.Thread(
            target=self._run_task,
            args=(task_id, job, fault, generation),
            name=f"simulator-task:{task_id[:8]}",
            daemon=True,
        )
        thread.start()
        return task_id

    def _run_task(self, task_id: str, job: EditJob, fault: Fault | None, generation: int) -> None:
        results.lower_thread_priority()
        try:
            self._finish_task(task_id, job, fault, generation)
        except Exception:
            traceback.print_exc(file=sys.stderr)

    def _finish_task(
        self, task_id: str, job: EditJob, fault: Fault | None, generation: int
    ) -> None:
        started = time.monotonic()
        # Drawn half-way through the latency, and the rest waited out after: the edit takes
        # `latency` in all, and the drawing of a burst of edits falls between the burst of
        # requests and the burst of callbacks instead of competing with either.
        if self._wait(self.latency / 2):
            return
        with self._lock:
            task = self._tasks.get(task_id)
            trace_id = task["trace_id"] if task else new_trace_id()
        options = fault.options if fault else {}
        mode = options.get("mode")
        body: dict[str, Any]
        if mode == "fail":
            error = {
                "code": options.get("code", "api_error"),
                "message": options.get("message", "the upstream edit failed"),
            }
            body = {"success": False, "task_id": task_id, "trace_id": trace_id, "error": error}
        else:
            try:
                result = self._edit_result(job)
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                error = {"code": "api_error", "message": f"the simulator failed: {exc}"}
                body = {"success": False, "task_id": task_id, "trace_id": trace_id, "error": error}
            else:
                body = {"success": True, "task_id": task_id, "trace_id": trace_id, "data": result}
        if self._wait(self.latency - (time.monotonic() - started)):
            return
        with self._lock:
            if generation != self._generation:
                return
            task = self._tasks.get(task_id)
            if task is not None:
                task["finished_at"] = time.time()
                task["elapsed"] = round(task["finished_at"] - task["started_at"], 3)
                task["response"] = body
        if mode == "lost":
            return
        if mode == "late" and self._wait(float(options.get("delay", 5))):
            return
        assert job.callback_url is not None
        for _ in range(2 if mode == "duplicate" else 1):
            self._deliver(job.callback_url, body, generation)

    def _deliver(self, url: str, payload: dict[str, Any], generation: int) -> None:
        data = json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - the app gives us its own http(s) URL
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        status: int | None
        error: str | None = None
        try:
            with urllib.request.urlopen(request, timeout=CALLBACK_TIMEOUT) as response:  # noqa: S310
                status = response.status
                response.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (OSError, ValueError) as exc:
            status, error = None, str(exc)
        with self._lock:
            if generation != self._generation:
                return
            self._callbacks.append(
                {
                    "url": url,
                    "payload": payload,
                    "status": status,
                    "at": time.time(),
                    "error": error,
                }
            )
            self._callbacks_changed.notify_all()

    def _tasks_response(self, body: dict[str, Any]) -> dict[str, Any]:
        action = body.get("action")
        with self._lock:
            tasks = list(self._tasks.values())
        if action == "retrieve":
            task_id, trace_id = body.get("id"), body.get("trace_id")
            if not task_id and not trace_id:
                raise BadRequest("'id' or 'trace_id' is required to retrieve a task.")
            for task in tasks:
                if (task_id and task["id"] == task_id) or (
                    trace_id and task["trace_id"] == trace_id
                ):
                    return json.loads(json.dumps(task))
            return {}
        if action == "retrieve_batch":
            return self._batch(tasks, body)
        raise BadRequest(f"'action' must be retrieve or retrieve_batch (got {action!r}).")

    @staticmethod
    def _batch(tasks: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
        for name in ("ids", "trace_ids"):
            if name in body and not isinstance(body[name], list):
                raise BadRequest(f"'{name}' must be a list.")
        try:
            offset = int(body.get("offset", 0))
            limit = int(body.get("limit", TASKS_LIMIT_DEFAULT))
        except (TypeError, ValueError):
            raise BadRequest("'offset' and 'limit' must be whole numbers.") from None
        if offset < 0 or not 1 <= limit <= TASKS_LIMIT_MAX:
            raise BadRequest(f"'offset' must be >= 0 and 'limit' from 1 to {TASKS_LIMIT_MAX}.")
        selected = tasks
        if "ids" in body:
            ids = {value for value in body["ids"] if isinstance(value, str)}
            selected = [t for t in selected if t["id"] in ids]
        if "trace_ids" in body:
            trace_ids = {value for value in body["trace_ids"] if isinstance(value, str)}
            selected = [t for t in selected if t["trace_id"] in trace_ids]
        low, high = _number(body, "created_at_min"), _number(body, "created_at_max")
        if low is not None:
            selected = [t for t in selected if t["created_at"] >= low]
        if high is not None:
            selected = [t for t in selected if t["created_at"] <= high]
        # Newest first, like the gateway's own listing.
        selected = sorted(selected, key=lambda t: t["created_at"], reverse=True)
        page = selected[offset : offset + limit]
        return {"items": json.loads(json.dumps(page)), "count": len(selected)}


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"'{name}' must be a Unix timestamp.") from None
