"""Streamed edits and generations (``stream=true``): server-sent events with partial images,
then the result. Edits send ``image_edit.*`` events, generations ``image_generation.*``.

The wire format is the one the official ``openai`` SDK reads (``openai._streaming``): each
event is an ``event: <type>`` line and one ``data:`` line holding a JSON object whose ``type``
names the event again (the SDK picks the event class by that ``type``), then a blank line.
Partial images are spread over the latency and the completed event ends it, at ``latency``
like any edit; no ``[DONE]`` line. An ``error`` event carries an ``error`` object, which the
SDK raises as ``APIError``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

from werkzeug.wrappers import Response

from . import imaging, results
from .records import DEFAULT_ERROR_CODES, Fault, RecordedRequest, gateway_error
from .validation import EditJob

if TYPE_CHECKING:
    from .server import Simulator

PARTIAL = "image_edit.partial_image"
COMPLETED = "image_edit.completed"
GENERATION_PARTIAL = "image_generation.partial_image"
GENERATION_COMPLETED = "image_generation.completed"
# The (partial, completed) event types by ``EditJob.kind``, as the SDK's event classes name them.
EVENT_TYPES = {
    "edit": (PARTIAL, COMPLETED),
    "generation": (GENERATION_PARTIAL, GENERATION_COMPLETED),
}


def truncated_event(partial: str) -> bytes:
    """What the ``malformed`` fault sends mid-stream: an event whose JSON is cut off."""
    return f'event: {partial}\ndata: {{"type": "{partial}", "b64_json": "iVBORw0KGgo\n\n'.encode()


def sse_event(kind: str, payload: dict[str, Any]) -> bytes:
    """One server-sent event as the SDK's decoder reads it."""
    data = json.dumps({"type": kind, **payload})
    return f"event: {kind}\ndata: {data}\n\n".encode()


class EditStream:
    """The events of one streamed edit or generation, timed over the simulator's latency.

    Partial image ``i`` of ``p`` is sent at ``latency * (i + 1) / (p + 2)`` (2 partials: at a
    quarter and at half the latency), the completed event at ``latency``. The result is drawn
    once, at low priority, as the stream opens; the partials are coarse versions of it.
    """

    def __init__(
        self,
        sim: Simulator,
        job: EditJob,
        record: RecordedRequest,
        fault: Fault | None,
        started: float,
        drop: Callable[[], NoReturn],
    ) -> None:
        self.sim = sim
        self.job = job
        self.record = record
        self.fault = fault
        self.started = started
        self.drop = drop
        self.latency = sim.latency
        self.ended = False  # by a mid-stream fault
        self.partial_type, self.completed_type = EVENT_TYPES[job.kind]

    def response(self) -> Response:
        """A 200 ``text/event-stream`` answer whose events are written as they become due."""
        self.record.status = 200
        headers = {"Cache-Control": "no-cache"}
        return Response(
            iter(self), 200, headers, content_type="text/event-stream", direct_passthrough=True
        )

    def __iter__(self) -> Iterator[bytes]:
        job, spec = self.job, self.job.render_spec()
        count = job.partial_images
        yield b""  # the status line and headers go out now: the client knows it streams
        [final] = results.draw_final(job)
        for index in range(count):
            if self._fault_due(index):
                yield from self._break()
                if self.ended:
                    return
            self._wait_until(self.latency * (index + 1) / (count + 2))
            data = results.at_low_priority(lambda i=index: imaging.partial(final, spec, i, count))
            yield self._event(self.partial_type, data, {"partial_image_index": index})
        if self._fault_due(count):
            yield from self._break()
            if self.ended:
                return
        data = results.at_low_priority(lambda: imaging.encode(final, spec))
        self._wait_until(self.latency)
        yield self._event(self.completed_type, data, {"usage": job.usage()})

    def _event(self, kind: str, image: bytes, extra: dict[str, Any]) -> bytes:
        job = self.job
        payload = {
            "b64_json": base64.b64encode(image).decode("ascii"),
            "background": job.background,
            "created_at": int(time.time()),
            "output_format": job.output_format,
            "quality": job.quality,
            "size": job.size,
            **extra,
        }
        self.record.events.append(kind)
        return sse_event(kind, payload)

    def _wait_until(self, offset: float) -> None:
        if self.sim._wait(self.started + offset - time.monotonic()):
            self.drop()

    def _fault_due(self, partials_sent: int) -> bool:
        fault = self.fault
        if fault is None:
            return False
        after = int(fault.options.get("after_partials", 0))
        return after == partials_sent or (after > partials_sent == self.job.partial_images)

    def _break(self) -> Iterator[bytes]:
        """Apply the mid-stream fault (once); all but ``hang`` end the stream."""
        fault, self.fault = self.fault, None
        assert fault is not None
        options = fault.options
        if fault.kind == "disconnect":
            self.drop()
        if fault.kind == "hang":
            if self.sim._wait(float(options.get("seconds", 30))):
                self.drop()
            return
        self.ended = True
        if fault.kind == "malformed":
            self.record.events.append("malformed")
            yield truncated_event(self.partial_type)
            return
        status = int(options.get("status", 500 if fault.kind == "http" else 400))
        if fault.kind == "http":
            code = options.get("code") or DEFAULT_ERROR_CODES.get(status, "upstream_error")
            message = options.get("message") or f"simulated upstream failure ({status})"
            body = gateway_error(code, message)
        else:  # openai_error
            body = {
                "error": {
                    "message": options.get("message", "simulated OpenAI error"),
                    "type": options.get("type", "server_error"),
                    "param": options.get("param"),
                    "code": options.get("code"),
                }
            }
        self.record.events.append("error")
        yield sse_event("error", body)
