"""The HTTP side of the simulator: routing, reading uploads, answering in the gateway's shapes.

State (faults, tasks, files, the request log) lives on ``Simulator``; this module only speaks
HTTP, so the wire format and the fake's behaviour can be read separately.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import socket
import sys
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from .multipart import (
    BodyIncomplete,
    BodyTooLarge,
    MultipartError,
    parse_any_form,
    spool_body,
)
from .records import (
    DEFAULT_ERROR_CODES,
    DEFAULT_STATUS,
    Fault,
    RecordedRequest,
    gateway_error,
    new_trace_id,
)
from .validation import BadRequest, Upload, uploads_of, validate

if TYPE_CHECKING:
    from .server import Simulator, _Server

MAX_JSON_BODY = 1024 * 1024
# After answering 413 the rest of the upload is read and dropped (up to this much) so that the
# client sees the response instead of a connection reset.
DRAIN_AFTER_413 = 16 * 1024 * 1024
EDIT_PATHS = frozenset({"/v1/images/edits", "/openai/images/edits"})
TASK_PATHS = frozenset({"/v1/tasks", "/openai/tasks"})
FILE_PATH = re.compile(r"^/_sim/files/([0-9a-f]{32}\.(?:png|jpg|webp))$")
# What the ``malformed`` fault sends: the start of a success body, cut off mid-string.
TRUNCATED_JSON = b'{"success": true, "task_id": "0b9c", "data": [{"b64_json": "iVBORw0KGgoAAAANS'


class Handler(BaseHTTPRequestHandler):
    """One connection; keep-alive, because the SDK and ``requests`` pool connections."""

    protocol_version = "HTTP/1.1"
    server_version = "RetouchSimulator/1.0"
    # Idle keep-alive connections and stalled uploads give up after this long.
    timeout = 60
    server: _Server

    @property
    def sim(self) -> Simulator:
        return self.server.simulator

    def parse_request(self) -> bool:
        # One handler serves every request of a keep-alive connection: start each one afresh.
        self.request_id: str | None = None
        return super().parse_request()

    def send_response(self, code: int, message: str | None = None) -> None:
        # Here rather than in _send so that http.server's own errors carry the header too.
        super().send_response(code, message)
        self.send_header("x-request-id", self._request_id())

    def _request_id(self) -> str:
        if getattr(self, "request_id", None) is None:
            headers = getattr(self, "headers", None)
            sent = headers.get("x-request-id") if headers is not None else None
            self.request_id = sent or f"req_{uuid.uuid4().hex}"
        return self.request_id  # type: ignore[return-value]

    def log_message(self, format: str, *args: Any) -> None:
        if self.sim.verbose:
            super().log_message(format, *args)

    # --- dispatch --------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path in EDIT_PATHS or path in TASK_PATHS:
                if method != "POST":
                    self._method_not_allowed()
                elif path in EDIT_PATHS:
                    self._edits(path)
                else:
                    self._tasks(path)
            elif path.startswith("/_sim/"):
                self._control(method, path)
            else:
                self._discard_body()
                self._json(404, gateway_error("not_found", f"no route for {method} {path}"))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            # A simulator bug must look like a server error, not a hung client.
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._json(500, gateway_error("api_error", f"simulator error: {exc}"))

    # --- responses -------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    def _method_not_allowed(self) -> None:
        self._discard_body()
        self._json(405, gateway_error("method_not_allowed", f"{self.command} is not allowed"))

    def _discard_body(self) -> None:
        try:
            with spool_body(self.rfile, self.headers, self.sim.max_body_bytes):
                pass
        except (BodyTooLarge, BodyIncomplete):
            self.close_connection = True

    def _read_json_body(self) -> Any:
        with spool_body(self.rfile, self.headers, MAX_JSON_BODY) as body:
            return _parse_json(body.read())

    def _headers_dict(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    # --- images/edits ----------------------------------------------------------------------

    def _edits(self, path: str) -> None:
        sim = self.sim
        started = time.monotonic()
        record = RecordedRequest("POST", path, self._headers_dict())
        try:
            body = spool_body(self.rfile, self.headers, sim.max_body_bytes)
        except BodyTooLarge as exc:
            record.body_size = int(exc.args[0])
            sim._record(record)
            self._too_large(record)
            return
        except BodyIncomplete:
            self.close_connection = True
            return
        with body:
            body.seek(0, 2)
            record.body_size = body.tell()
            body.seek(0)
            if not sim._authorized(self.headers.get("Authorization")):
                sim._record(record)
                self._unauthorized(record)
                return
            try:
                content_type = self.headers.get("Content-Type", "")
                form = parse_any_form(body, record.body_size, content_type)
            except MultipartError as exc:
                sim._record(record)
                self._bad_request(record, str(exc))
                return
        try:
            record.fields = form.fields()
            images, mask = uploads_of(form)
            self._edit_form(record, record.fields, images, mask, started)
        finally:
            form.close()

    def _edit_form(
        self,
        record: RecordedRequest,
        fields: dict[str, list[str]],
        images: list[Upload],
        mask: Upload | None,
        started: float,
    ) -> None:
        sim = self.sim
        # Described (and decoded) before any answer, so the log is complete once a client
        # has its response, even for faults.
        record.files = [upload.describe() for upload in [*images, *([mask] if mask else [])]]
        sim._record(record)
        callback_mode = bool(fields.get("callback_url"))
        fault = sim._pop_fault(callback_mode)
        if fault is not None and fault.kind == "hang":
            if sim._wait(float(fault.options.get("seconds", 30))):
                self.close_connection = True
                return
        elif fault is not None and fault.kind != "callback":
            self._answer_fault(record, fault)
            return
        try:
            job = validate(fields, images, mask)
        except BadRequest as exc:
            self._bad_request(record, exc.message, exc.code)
            return

        if callback_mode:
            task_id = sim._create_task(
                job, fields, fault if fault and fault.kind == "callback" else None
            )
            record.status = 200
            self._json(200, {"task_id": task_id})
            return
        # The edit is rendered first and the rest of the latency waited out after, so an
        # edit takes `latency` in all (like the real service, whose work is elsewhere)
        # and many concurrent edits do not all render at the same instant.
        result = sim._edit_result(job)
        if sim._wait(sim.latency - (time.monotonic() - started)):
            self.close_connection = True
            return
        payload = {
            "success": True,
            "task_id": str(uuid.uuid4()),
            "trace_id": new_trace_id(),
            "created": result.pop("created"),
            "elapsed": round(time.monotonic() - started, 3),
            **result,
        }
        record.status = 200
        self._json(200, payload)

    def _answer_fault(self, record: RecordedRequest, fault: Fault) -> None:
        options = fault.options
        headers = {}
        if options.get("retry_after") is not None:
            headers["Retry-After"] = str(options["retry_after"])
        if fault.kind == "http":
            status = int(options.get("status", DEFAULT_STATUS["http"]))
            code = options.get("code") or DEFAULT_ERROR_CODES.get(status, "upstream_error")
            message = options.get("message") or f"simulated upstream failure ({status})"
            record.status = status
            self._json(status, gateway_error(code, message), headers)
        elif fault.kind == "openai_error":
            status = int(options.get("status", DEFAULT_STATUS["openai_error"]))
            error = {
                "message": options.get("message", "simulated OpenAI error"),
                "type": options.get("type", "invalid_request_error"),
                "param": options.get("param"),
                "code": options.get("code"),
            }
            record.status = status
            self._json(status, {"error": error}, headers)
        elif fault.kind == "bare":
            status = int(options.get("status", DEFAULT_STATUS["bare"]))
            body = str(options.get("body", f"<html><body><h1>{status}</h1></body></html>"))
            content_type = options.get("content_type", "text/html")
            record.status = status
            self._send(status, body.encode("utf-8"), content_type, headers)
        elif fault.kind == "malformed":
            record.status = 200
            self._send(200, TRUNCATED_JSON, "application/json")
        elif fault.kind == "disconnect":
            # No status line at all: the client sees the connection close under it.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _unauthorized(self, record: RecordedRequest) -> None:
        record.status = 401
        self._json(
            401,
            gateway_error("invalid_token", "The Authorization bearer token is missing or wrong."),
        )

    def _bad_request(
        self, record: RecordedRequest, message: str, code: str = "bad_request"
    ) -> None:
        record.status = 400
        self._json(400, gateway_error(code, message))

    def _too_large(self, record: RecordedRequest) -> None:
        record.status = 413
        self.close_connection = True
        limit = self.sim.max_body_bytes
        self._json(
            413,
            gateway_error("request_too_large", f"The request body is over {limit} bytes."),
        )
        self._drain(int(self.headers.get("Content-Length") or 0))

    def _drain(self, length: int) -> None:
        remaining = min(length, DRAIN_AFTER_413)
        try:
            self.connection.settimeout(2)
            for _ in range(remaining // 65536 + 2):
                if remaining <= 0:
                    break
                data = self.rfile.read(min(65536, remaining))
                if not data:
                    break
                remaining -= len(data)
        except OSError:
            pass

    # --- tasks -----------------------------------------------------------------------------

    def _tasks(self, path: str) -> None:
        sim = self.sim
        record = RecordedRequest("POST", path, self._headers_dict())
        sim._record(record)
        try:
            with spool_body(self.rfile, self.headers, MAX_JSON_BODY) as body:
                raw = body.read()
        except BodyTooLarge:
            self._too_large(record)
            return
        except BodyIncomplete:
            self.close_connection = True
            return
        record.body_size = len(raw)
        if not sim._authorized(self.headers.get("Authorization")):
            self._unauthorized(record)
            return
        try:
            body = _parse_json(raw)
            if not isinstance(body, dict):
                raise BadRequest("the request body must be a JSON object.")
            record.fields = {name: _field_values(value) for name, value in body.items()}
            payload = sim._tasks_response(body)
        except BadRequest as exc:
            self._bad_request(record, exc.message)
            return
        record.status = 200
        self._json(200, payload)

    # --- simulator controls ----------------------------------------------------------------

    def _control(self, method: str, path: str) -> None:
        sim = self.sim
        file_match = FILE_PATH.match(path)
        if file_match and method == "GET":
            stored = sim._file(file_match[1])
            if stored is None:
                self._json(404, gateway_error("not_found", "no such file"))
            else:
                self._send(200, stored[0], stored[1], {"Cache-Control": "public, max-age=86400"})
            return
        routes = {
            ("GET", "/_sim/health"): self._health,
            ("GET", "/_sim/requests"): self._list_requests,
            ("GET", "/_sim/callbacks"): self._list_callbacks,
            ("GET", "/_sim/tasks"): self._list_tasks,
            ("POST", "/_sim/reset"): self._reset,
            ("POST", "/_sim/latency"): self._set_latency,
            ("POST", "/_sim/faults"): self._push_faults,
        }
        handler = routes.get((method, path))
        if handler is None:
            known = any(route_path == path for _, route_path in routes) or file_match
            if known:
                self._method_not_allowed()
            else:
                self._discard_body()
                self._json(404, gateway_error("not_found", f"no route for {method} {path}"))
            return
        if method == "POST":
            try:
                body = self._read_json_body()
            except (BodyTooLarge, BodyIncomplete):
                self.close_connection = True
                self._json(400, gateway_error("bad_request", "unreadable body"))
                return
            except BadRequest as exc:
                self._json(400, gateway_error(exc.code, exc.message))
                return
            try:
                handler(body)  # type: ignore[operator]
            except (ValueError, TypeError) as exc:
                self._json(400, gateway_error("bad_request", str(exc)))
        else:
            handler()  # type: ignore[operator]

    def _health(self) -> None:
        self._json(200, {"ok": True})

    def _list_requests(self) -> None:
        self._json(200, [dataclasses.asdict(r) for r in self.sim.requests])

    def _list_callbacks(self) -> None:
        self._json(200, self.sim.callbacks)

    def _list_tasks(self) -> None:
        self._json(200, self.sim.tasks)

    def _reset(self, body: Any) -> None:
        self.sim.reset()
        self._json(200, {"ok": True})

    def _set_latency(self, body: Any) -> None:
        if not isinstance(body, dict) or "seconds" not in body:
            raise ValueError('expected {"seconds": <number>}')
        self.sim.set_latency(body["seconds"])
        self._json(200, {"ok": True, "latency": self.sim.latency})

    def _push_faults(self, body: Any) -> None:
        faults = body.get("faults") if isinstance(body, dict) else None
        if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
            raise ValueError('expected {"faults": [{"kind": ..., ...}, ...]}')
        self.sim.push_faults(faults)
        self._json(200, {"ok": True, "queued": len(self.sim.faults)})


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("the request body is not valid JSON.") from None


def _field_values(value: Any) -> list[str]:
    if isinstance(value, list):
        return [item if isinstance(item, str) else json.dumps(item) for item in value]
    return [value if isinstance(value, str) else json.dumps(value)]
