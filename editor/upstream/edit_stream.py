"""A streamed edit (``stream=true`` with ``partial_images``): the partial images as they
arrive, then the result. A streamed generation is read the same way.

The service answers with server-sent events (``sse``): ``image_edit.partial_image``
events (``image_generation.*`` for a generation; ``b64_json``, ``partial_image_index``,
...) and one ``image_edit.completed`` event
(the final ``b64_json`` and ``usage``), or an ``error`` event. Each event's JSON is read
with ``load_streamed``, so an image is decoded as it passes and never held as text.

Every failure leaves as ``UpstreamError``: a stream that ends before its completed event
is ``connection_lost`` (retryable, like any broken connection), an event we cannot read
``malformed_response``, an ``error`` event the error it carries.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import UpstreamError, error_from_body, is_error_body
from .parsing import b64_bytes, malformed, parse_edit, parse_result, sniff_image_type
from .sse import EventTooLarge, read_events
from .streamed_json import StreamedBase64, load_streamed

if TYPE_CHECKING:
    from .client import ImagesClient
    from .schema import EditRequest, EditResult, GenerateRequest

PARTIAL_SUFFIX = ".partial_image"
COMPLETED_SUFFIX = ".completed"
MAX_PARTIAL_IMAGES = 3
_SETTINGS = ("background", "output_format", "quality", "size")


@dataclass(frozen=True)
class PartialImage:
    """One preview the service sent while it worked: ``index`` counts from 0."""

    index: int
    data: bytes = field(repr=False)
    content_type: str


class EditStream:
    """Iterate over it for the partial images as they arrive; once the iteration has ended,
    ``result`` is the edit's ``EditResult`` and ``partials`` how many previews came.

    A service (or model) that answers a streamed request in one piece is read like a
    plain answer: the iteration yields nothing and ``result`` is set all the same.
    """

    def __init__(
        self, client: ImagesClient, req: EditRequest | GenerateRequest, partial_images: int
    ) -> None:
        self._client = client
        self._req = req
        self._partial_images = partial_images
        self.result: EditResult | None = None
        self.partials = 0

    def __iter__(self) -> Iterator[PartialImage]:
        client, started = self._client, time.monotonic()
        extra = [("stream", "true"), ("partial_images", str(self._partial_images))]
        url, body, content_type = client.request_body(self._req, extra=extra)
        # Every event holds at most one image, and there are at most this many of them.
        max_bytes = client.max_response_bytes * (self._partial_images + 1)
        with client.transport.open(url, body, content_type, accept="text/event-stream") as answer:
            if answer.content_type != "text/event-stream":
                spooled = answer.spool(client.max_response_bytes)
                with spooled.body:
                    self.result = parse_edit(spooled, download=client.download, started=started)
                return
            ids = {"status": answer.status, "request_id": answer.request_id}
            try:
                events = read_events(
                    answer.chunks(max_bytes), max_event_bytes=client.max_response_bytes
                )
                for event in events:
                    try:
                        payload = load_streamed(event.data)
                    except (ValueError, UnicodeDecodeError) as exc:
                        detail = f"an event of the stream is not JSON: {exc}"
                        raise malformed(detail, **ids) from None
                    if not isinstance(payload, Mapping):
                        raise malformed("an event of the stream is not a JSON object", **ids)
                    kind = str(payload.get("type") or event.type)
                    if kind == "error" or is_error_body(payload):
                        raise error_from_body(payload, **ids)
                    if kind.endswith(PARTIAL_SUFFIX):
                        partial = _partial_image(payload, self.partials)
                        self.partials += 1
                        if partial is not None:
                            yield partial
                    elif kind.endswith(COMPLETED_SUFFIX):
                        self.result = _completed(payload, client, started, **ids)
                        return
            except EventTooLarge as exc:
                raise UpstreamError("too_large", detail=str(exc), **ids) from None
        raise UpstreamError(
            "connection_lost",
            detail=f"the stream ended after {self.partials} partial image(s), before the result",
            **ids,
        )


class PlainEdit(EditStream):
    """An edit that streams no previews, behind the same interface: one plain request,
    its result set when the (empty) iteration starts."""

    def __iter__(self) -> Iterator[PartialImage]:
        self.result = self._client.run(self._req)
        return iter(())


def _partial_image(payload: Mapping[str, Any], seen: int) -> PartialImage | None:
    """The preview in a partial-image event; None when it holds no image we can read (a
    preview is a nicety: one that is damaged is skipped, not a failed edit)."""
    b64 = payload.get("b64_json")
    if not isinstance(b64, StreamedBase64 | str) or not b64:
        return None
    data = b64_bytes(b64)
    content_type = sniff_image_type(data) if data else None
    if data is None or content_type is None:
        return None
    index = payload.get("partial_image_index")
    if not isinstance(index, int) or isinstance(index, bool):
        index = seen
    return PartialImage(index=index, data=data, content_type=content_type)


def _completed(
    payload: Mapping[str, Any],
    client: ImagesClient,
    started: float,
    *,
    status: int,
    request_id: str,
) -> EditResult:
    """The completed event as the one-piece answer it stands for."""
    item = {"b64_json": payload.get("b64_json")}
    if payload.get("revised_prompt"):
        item["revised_prompt"] = payload["revised_prompt"]
    body: dict[str, Any] = {
        "created": payload.get("created_at", payload.get("created")),
        "data": [item],
        "usage": payload.get("usage"),
        **{name: payload.get(name) for name in _SETTINGS},
    }
    for name in ("trace_id", "task_id", "elapsed"):
        if payload.get(name) is not None:
            body[name] = payload[name]
    return parse_result(
        body, request_id=request_id, download=client.download, started=started, status=status
    )
