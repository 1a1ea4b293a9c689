"""The HTTP side of the simulator: a WSGI app that routes, reads uploads and answers.

``images/edits`` and ``images/generations`` differ only in how the request is read (multipart
or JSON with images, JSON without); from validation on they share one path (``_serve``):
faults, callbacks and tasks, streaming and the synchronous answer.

State (faults, tasks, files, the request log) lives on ``Simulator``; this module only speaks
HTTP, so the wire format and the fake's behaviour can be read separately. Werkzeug does the
HTTP work (chunked bodies, multipart parsing with uploads spooled to disk, routing).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import (
    ClientDisconnected,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
)
from werkzeug.formparser import FormDataParser
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from . import json_body
from .records import (
    DEFAULT_ERROR_CODES,
    DEFAULT_STATUS,
    Fault,
    RecordedRequest,
    gateway_error,
    new_trace_id,
)
from .streaming import EditStream
from .validation import BadRequest, EditJob, Upload, uploads_of, validate, validate_generation

if TYPE_CHECKING:
    from .server import Simulator

MAX_JSON_BODY = 1024 * 1024
MAX_TEXT_FIELD = 1024 * 1024
MAX_PARTS = 256
EDIT_PATHS = frozenset({"/v1/images/edits", "/openai/images/edits"})
GENERATION_PATHS = frozenset({"/v1/images/generations", "/openai/images/generations"})
FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
JSON_TYPE = "application/json"
# What the ``malformed`` fault sends: the start of a success body, cut off mid-string.
TRUNCATED_JSON = b'{"success": true, "task_id": "0b9c", "data": [{"b64_json": "iVBORw0KGgoAAAANS'

ROUTES = Map(
    [
        *(Rule(path, endpoint="edits", methods=["POST"]) for path in sorted(EDIT_PATHS)),
        *(Rule(p, endpoint="generations", methods=["POST"]) for p in sorted(GENERATION_PATHS)),
        Rule("/v1/tasks", endpoint="tasks", methods=["POST"]),
        Rule("/openai/tasks", endpoint="tasks", methods=["POST"]),
        Rule("/_sim/files/<name>", endpoint="file", methods=["GET"]),
        Rule("/_sim/files", endpoint="put_file", methods=["POST"]),
        Rule("/_sim/health", endpoint="health", methods=["GET"]),
        Rule("/_sim/requests", endpoint="requests", methods=["GET"]),
        Rule("/_sim/callbacks", endpoint="callbacks", methods=["GET"]),
        Rule("/_sim/tasks", endpoint="listed_tasks", methods=["GET"]),
        Rule("/_sim/reset", endpoint="reset", methods=["POST"]),
        Rule("/_sim/latency", endpoint="latency", methods=["POST"]),
        Rule("/_sim/faults", endpoint="faults", methods=["POST"]),
    ],
    strict_slashes=False,
    merge_slashes=False,
)


class RequestHandler(WSGIRequestHandler):
    """Werkzeug's threaded handler, quiet unless the simulator is verbose."""

    # Idle connections and stalled uploads give up after this long.
    timeout = 60

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error" or self.server.app.sim.verbose:  # type: ignore[attr-defined]
            super().log(type, message, *args)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status, headers, content_type="application/json")


def drop_connection(environ: dict[str, Any]) -> NoReturn:
    """Close the connection without an answer: the client sees it go away under it.

    Werkzeug's server treats a ``ConnectionError`` from the app as a dropped connection and
    writes nothing more.
    """
    with contextlib.suppress(OSError, KeyError):
        environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
    raise ConnectionAbortedError("the simulator dropped the connection")


class App:
    """The WSGI callable; one per ``Simulator``, called from the server's threads."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = ROUTES.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request, **args)
        except NotFound:
            message = f"no route for {request.method} {request.path}"
            response = json_response(404, gateway_error("not_found", message))
        except MethodNotAllowed:
            message = f"{request.method} is not allowed"
            response = json_response(405, gateway_error("method_not_allowed", message))
        except (ConnectionError, ClientDisconnected):
            drop_connection(environ)
        except Exception as exc:
            # A simulator bug must look like a server error, not a hung client.
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, gateway_error("api_error", f"simulator error: {exc}"))
        response.headers["x-request-id"] = (
            request.headers.get("x-request-id") or f"req_{uuid.uuid4().hex}"
        )
        return response(environ, start_response)

    # --- images/edits ----------------------------------------------------------------------

    def _admit(self, request: Request, kind: str) -> tuple[RecordedRequest, Response | None]:
        """The request's record, and the answer when it is too large or not authorized."""
        sim = self.sim
        record = RecordedRequest("POST", request.path, _headers(request), kind=kind)
        record.body_size = request.content_length or 0
        if record.body_size > sim.max_body_bytes:
            return record, self._reject(record, 413, _too_large(sim.max_body_bytes))
        if not sim._authorized(request.headers.get("Authorization")):
            return record, self._reject(record, 401, _invalid_token())
        return record, None

    def on_edits(self, request: Request) -> Response:
        sim = self.sim
        started = time.monotonic()
        record, refusal = self._admit(request, "edit")
        if refusal is not None:
            return refusal
        if request.mimetype == JSON_TYPE:
            return self._json_edit(request, record, started)
        if request.mimetype not in FORM_TYPES:
            got = request.content_type or "nothing"
            message = f"Content-Type must be multipart/form-data or application/json, got {got!r}"
            return self._reject(record, 400, gateway_error("bad_request", message))
        parser = FormDataParser(
            max_form_memory_size=MAX_TEXT_FIELD,
            max_content_length=sim.max_body_bytes,
            max_form_parts=MAX_PARTS,
            silent=False,
        )
        try:
            stream, form, files = parser.parse_from_environ(request.environ)
        except RequestEntityTooLarge:
            if request.content_length is None:  # a chunked body over the limit
                return self._reject(record, 413, _too_large(sim.max_body_bytes))
            message = f"a text field is over {MAX_TEXT_FIELD} bytes or over {MAX_PARTS} parts came"
            return self._reject(record, 400, gateway_error("bad_request", message))
        except ValueError as exc:
            message = f"the multipart body is malformed (is its closing boundary missing?): {exc}"
            return self._reject(record, 400, gateway_error("bad_request", message))
        record.body_size = request.content_length or stream.tell()
        record.fields = form.to_dict(flat=False)
        uploads = [_upload(name, storage) for name, storage in files.items(multi=True)]
        try:
            return self._edit(request, record, uploads, started)
        finally:
            for upload in uploads:
                upload.file.close()

    def _json_edit(self, request: Request, record: RecordedRequest, started: float) -> Response:
        """A JSON body: its fields read like form fields, its image URLs fetched (our own)."""
        sim = self.sim
        try:
            body = _json_body(request)
            record.fields = json_body.fields_of(body)
            urls = json_body.image_urls(body)
            record.fields["image"] = urls
            uploads = json_body.fetch_images(urls, sim.host, sim.port, sim._file)
        except BadRequest as exc:
            return self._reject(record, 400, gateway_error(exc.code, exc.message))
        return self._edit(request, record, uploads, started)

    def _edit(
        self, request: Request, record: RecordedRequest, uploads: list[Upload], started: float
    ) -> Response:
        images, mask = uploads_of(uploads)
        # Described (and decoded) before any answer, so the log is complete once a client
        # has its response, even for faults.
        record.files = [upload.describe() for upload in [*images, *([mask] if mask else [])]]
        return self._serve(request, record, started, lambda: validate(record.fields, images, mask))

    # --- images/generations ----------------------------------------------------------------

    def on_generations(self, request: Request) -> Response:
        """A JSON body and no images; otherwise served exactly as an edit is."""
        started = time.monotonic()
        record, refusal = self._admit(request, "generation")
        if refusal is not None:
            return refusal
        if request.mimetype != JSON_TYPE:
            got = request.content_type or "nothing"
            message = f"Content-Type must be application/json, got {got!r}"
            return self._reject(record, 400, gateway_error("bad_request", message))
        try:
            record.fields = json_body.generation_fields(_json_body(request))
        except BadRequest as exc:
            return self._reject(record, 400, gateway_error(exc.code, exc.message))
        return self._serve(request, record, started, lambda: validate_generation(record.fields))

    # --- what edits and generations share --------------------------------------------------

    def _serve(
        self,
        request: Request,
        record: RecordedRequest,
        started: float,
        check: Callable[[], EditJob],
    ) -> Response:
        """Log the request, apply a queued fault, validate with ``check`` and answer."""
        sim = self.sim
        sim._record(record)
        callback_mode = bool(record.fields.get("callback_url"))
        streaming = (record.fields.get("stream") or [""])[0].strip().lower() == "true"
        fault = sim._pop_fault(callback_mode, streaming)
        if fault is not None and fault.mid_stream:
            mid_stream_fault, fault = fault, None
        else:
            mid_stream_fault = None
        if fault is not None and fault.kind == "hang":
            if sim._wait(float(fault.options.get("seconds", 30))):
                drop_connection(request.environ)
        elif fault is not None and fault.kind != "callback":
            return self._fault(request, record, fault)
        try:
            job = check()
        except BadRequest as exc:
            return self._answer(record, 400, gateway_error(exc.code, exc.message))

        if callback_mode:
            callback_fault = fault if fault and fault.kind == "callback" else None
            task_id = sim._create_task(job, record.fields, callback_fault)
            return self._answer(record, 200, {"task_id": task_id})
        if job.stream:
            drop = lambda: drop_connection(request.environ)  # noqa: E731
            return EditStream(sim, job, record, mid_stream_fault, started, drop).response()
        # Drawn (at low priority) half-way through the latency and the rest waited out
        # after: an edit takes `latency` in all, like the real service whose work is
        # elsewhere, and a burst of edits is not drawn at the instant the burst arrives.
        latency = sim.latency
        if sim._wait(latency / 2 - (time.monotonic() - started)):
            drop_connection(request.environ)
        result = sim._edit_result(job)
        if sim._wait(latency - (time.monotonic() - started)):
            drop_connection(request.environ)
        payload = {
            "success": True,
            "task_id": str(uuid.uuid4()),
            "trace_id": new_trace_id(),
            "created": result.pop("created"),
            "elapsed": round(time.monotonic() - started, 3),
            **result,
        }
        return self._answer(record, 200, payload)

    def _fault(self, request: Request, record: RecordedRequest, fault: Fault) -> Response:
        options = fault.options
        headers = {}
        if options.get("retry_after") is not None:
            headers["Retry-After"] = str(options["retry_after"])
        # Only the kinds with a default status take one; ``malformed`` is always a 200.
        status = (
            int(options.get("status", DEFAULT_STATUS[fault.kind]))
            if fault.kind in DEFAULT_STATUS
            else 200
        )
        if fault.kind == "disconnect":
            # No status line at all: the record keeps status None.
            drop_connection(request.environ)
        record.status = status
        if fault.kind == "http":
            code = options.get("code") or DEFAULT_ERROR_CODES.get(status, "upstream_error")
            message = options.get("message") or f"simulated upstream failure ({status})"
            return json_response(status, gateway_error(code, message), headers)
        if fault.kind == "openai_error":
            error = {
                "message": options.get("message", "simulated OpenAI error"),
                "type": options.get("type", "invalid_request_error"),
                "param": options.get("param"),
                "code": options.get("code"),
            }
            return json_response(status, {"error": error}, headers)
        if fault.kind == "bare":
            body = str(options.get("body", f"<html><body><h1>{status}</h1></body></html>"))
            content_type = options.get("content_type", "text/html")
            return Response(body, status, headers, content_type=content_type)
        return Response(TRUNCATED_JSON, 200, content_type="application/json")  # malformed

    @staticmethod
    def _answer(record: RecordedRequest, status: int, payload: Any) -> Response:
        record.status = status
        return json_response(status, payload)

    def _reject(self, record: RecordedRequest, status: int, payload: Any) -> Response:
        """Log a request turned away before its form was read, and answer it."""
        self.sim._record(record)
        return self._answer(record, status, payload)

    # --- tasks -----------------------------------------------------------------------------

    def on_tasks(self, request: Request) -> Response:
        sim = self.sim
        record = RecordedRequest("POST", request.path, _headers(request), kind="tasks")
        sim._record(record)
        record.body_size = request.content_length or 0
        if record.body_size > MAX_JSON_BODY:
            return self._answer(record, 413, _too_large(MAX_JSON_BODY))
        if not sim._authorized(request.headers.get("Authorization")):
            return self._answer(record, 401, _invalid_token())
        try:
            body = _json_body(request)
            if not isinstance(body, dict):
                raise BadRequest("the request body must be a JSON object.")
            record.fields = {name: json_body.field_values(value) for name, value in body.items()}
            payload = sim._tasks_response(body)
        except BadRequest as exc:
            return self._answer(record, 400, gateway_error(exc.code, exc.message))
        return self._answer(record, 200, payload)

    # --- simulator controls ----------------------------------------------------------------

    def on_file(self, request: Request, name: str) -> Response:
        stored = self.sim._file(name)
        if stored is None:
            return json_response(404, gateway_error("not_found", "no such file"))
        data, content_type = stored
        headers = {"Cache-Control": "public, max-age=86400"}
        return Response(data, 200, headers, content_type=content_type)

    def on_put_file(self, request: Request) -> Response:
        """Serve the body from ``/_sim/files/`` (a source image for JSON edits requests)."""
        formats = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
        output_format = formats.get(request.mimetype)
        if output_format is None:
            message = f"Content-Type must be one of {', '.join(formats)}"
            return json_response(400, gateway_error("bad_request", message))
        request.max_content_length = self.sim.max_body_bytes
        url = self.sim.put_file(request.get_data(cache=False), output_format)
        return json_response(200, {"url": url})

    def on_health(self, request: Request) -> Response:
        return json_response(200, {"ok": True})

    def on_requests(self, request: Request) -> Response:
        return json_response(200, [dataclasses.asdict(r) for r in self.sim.requests])

    def on_callbacks(self, request: Request) -> Response:
        return json_response(200, self.sim.callbacks)

    def on_listed_tasks(self, request: Request) -> Response:
        return json_response(200, self.sim.tasks)

    def on_reset(self, request: Request) -> Response:
        self.sim.reset()
        return json_response(200, {"ok": True})

    def on_latency(self, request: Request) -> Response:
        return self._control(request, self._set_latency)

    def on_faults(self, request: Request) -> Response:
        return self._control(request, self._push_faults)

    def _control(self, request: Request, change: Callable[[Any], dict[str, Any]]) -> Response:
        try:
            return json_response(200, {"ok": True, **change(_json_body(request))})
        except BadRequest as exc:
            return json_response(400, gateway_error(exc.code, exc.message))
        except (ValueError, TypeError) as exc:
            return json_response(400, gateway_error("bad_request", str(exc)))

    def _set_latency(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or "seconds" not in body:
            raise ValueError('expected {"seconds": <number>}')
        self.sim.set_latency(body["seconds"])
        return {"latency": self.sim.latency}

    def _push_faults(self, body: Any) -> dict[str, Any]:
        faults = body.get("faults") if isinstance(body, dict) else None
        if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
            raise ValueError('expected {"faults": [{"kind": ..., ...}, ...]}')
        self.sim.push_faults(faults)
        return {"queued": len(self.sim.faults)}


def _invalid_token() -> dict[str, Any]:
    return gateway_error("invalid_token", "The Authorization bearer token is missing or wrong.")


def _too_large(limit: int) -> dict[str, Any]:
    # Werkzeug's server reads what is left of the body after answering, so the client sees
    # this answer rather than a connection reset.
    return gateway_error("request_too_large", f"The request body is over {limit} bytes.")


def _upload(name: str, storage: FileStorage) -> Upload:
    storage.stream.seek(0, 2)
    size = storage.stream.tell()
    storage.stream.seek(0)
    return Upload(name, storage.filename, storage.content_type, storage.stream, size)


def _headers(request: Request) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


def _json_body(request: Request) -> Any:
    request.max_content_length = MAX_JSON_BODY
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise BadRequest("the request body is too large.") from None
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("the request body is not valid JSON.") from None
