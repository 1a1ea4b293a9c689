"""What the service's answers mean: edit results, callbacks and task records, read into the
typed values of ``schema``.

Every success shape goes through ``parse_result``; every failure, whatever its shape, leaves
as ``UpstreamError`` (``malformed_response`` for an answer we cannot read), so nothing from
``json`` escapes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

from .errors import UpstreamError, error_from_body, is_error_body
from .result_hosts import ResultHosts
from .schema import Accepted, EditResult, ResultImage, TaskInfo
from .streamed_json import StreamedBase64, load_streamed
from .transport import Answer, Downloader, OneOffDownloader, SpooledAnswer, host

if TYPE_CHECKING:
    from .client import ImagesClient


def parse_edit(
    answer: Answer | SpooledAnswer, *, download: Downloader, started: float
) -> EditResult:
    """The answer to a synchronous edit.

    A spooled answer is read in chunks, its base64 images decoded as they pass
    (``load_streamed``), so memory holds each decoded image once and never the text of
    the answer (ten 4K answers at once: benchmarks/large_results.py).
    """
    data = json_object(answer) if isinstance(answer, Answer) else spooled_object(answer)
    return parse_result(
        data,
        request_id=answer.request_id,
        download=download,
        started=started,
        status=answer.status,
    )


def parse_accepted(answer: Answer) -> Accepted:
    """The answer to a callback-mode edit: the id of the task the result will arrive under."""
    data = json_object(answer)
    if is_error_body(data):
        raise error_from_body(data, status=answer.status, request_id=answer.request_id)
    task_id = _str(data.get("task_id"))
    trace_id = _str(data.get("trace_id"))
    if not task_id:
        raise malformed(
            "the answer to a callback-mode edit has no task_id",
            status=answer.status,
            request_id=answer.request_id,
            trace_id=trace_id,
        )
    return Accepted(task_id=task_id, trace_id=trace_id, request_id=answer.request_id)


def parse_callback(
    payload: bytes | str | Mapping[str, Any] | IO[bytes],
    *,
    client: ImagesClient | None = None,
    result_hosts: Iterable[str] | None = None,
) -> EditResult:
    """Read the gateway's callback body: an EditResult on success, UpstreamError otherwise
    (``malformed_response`` for anything that is not a callback body).

    ``payload`` may be a binary file: it is then read in chunks, and each long string in it
    (the base64 images) is decoded as it streams past (see ``load_streamed``), so memory
    holds the decoded images and not the text of the body several times over.

    The callback is unauthenticated (its URL is the only secret) and URL results are
    downloaded: with ``client``, from where it downloads and within its size cap; without,
    only from ``result_hosts`` (``DEFAULT_RESULT_HOSTS`` when None), never from a private
    address, and within the default cap.
    """
    started = time.monotonic()
    if isinstance(payload, Mapping):
        data: Any = payload
    elif hasattr(payload, "read"):
        try:
            data = load_streamed(payload)  # type: ignore[arg-type]
        except ValueError as exc:
            raise malformed(f"the callback body is not a callback: {exc}") from None
    else:
        try:
            data = json.loads(payload)
        except (ValueError, TypeError) as exc:
            raise malformed(f"the callback body is not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise malformed("the callback body is not a JSON object")
    try:
        if client is not None:
            return parse_result(data, request_id=None, download=client.download, started=started)
        with OneOffDownloader(ResultHosts(None, result_hosts)) as download:
            return parse_result(data, request_id=None, download=download, started=started)
    except UpstreamError as exc:
        # A failure callback still says which task it is about; the app checks that.
        exc.task_id = exc.task_id or _str(data.get("task_id"))
        raise


class CallbackTaskId:
    """Finds the task id in a callback body while the body streams past, holding only a
    small window of it, so a webhook can turn away a callback for the wrong task before
    storing megabytes of base64.

    The first ``"task_id": "..."`` pair wins; in the gateway's callback the outer and the
    nested one are the same task. Keys inside JSON strings cannot match: their quotes are
    escaped. ``parse_callback`` stays the authority once the whole body is read.
    """

    _PAIR = re.compile(rb'(?<!\\)"task_id"\s{0,20}:\s{0,20}"([^"\\]{1,200})"')
    _OVERLAP = 300

    def __init__(self) -> None:
        self.task_id: str | None = None
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        if self.task_id is not None:
            return
        window = self._tail + chunk
        match = self._PAIR.search(window)
        if match:
            self.task_id = match.group(1).decode("utf-8", errors="replace")
        else:
            self._tail = window[-self._OVERLAP :]


def parse_tasks_answer(answer: Answer) -> Mapping[str, Any]:
    """The Tasks API's answer: a task, a page of tasks, ``{}`` for an unknown id, or an error."""
    data = json_object(answer)
    if "id" not in data and is_error_body(data):
        raise error_from_body(data, status=answer.status, request_id=answer.request_id)
    return data


def parse_task(item: Mapping[str, Any], *, download: Downloader) -> TaskInfo:
    """One task record. Failures inside its stored response (including a result we could not
    download) land in ``TaskInfo.error`` rather than raising, so one bad task cannot hide the
    rest of a batch; ``error.retryable`` still says whether asking again may help."""
    task_id = str(item["id"])
    trace_id = _str(item.get("trace_id"))
    response = item.get("response")
    if isinstance(response, str | bytes):
        with contextlib.suppress(ValueError):
            response = json.loads(response)
    finished = response not in (None, {}, "", b"")
    result = error = None
    if finished:
        try:
            if not isinstance(response, Mapping):
                raise malformed("the task's response is not a JSON object")
            result = parse_result(
                response, request_id=None, download=download, started=time.monotonic()
            )
            result.task_id = result.task_id or task_id
            result.trace_id = result.trace_id or trace_id
        except UpstreamError as exc:
            error = exc
            error.trace_id = error.trace_id or trace_id
            error.task_id = error.task_id or task_id
    return TaskInfo(
        id=task_id,
        trace_id=trace_id,
        type=_str(item.get("type")),
        created_at=_float(item.get("created_at")),
        started_at=_float(item.get("started_at")),
        finished_at=_float(item.get("finished_at")),
        elapsed=_float(item.get("elapsed")),
        finished=finished,
        result=result,
        error=error,
    )


def parse_result(
    body: Mapping[str, Any],
    *,
    request_id: str | None,
    download: Downloader,
    started: float,
    status: int | None = None,
) -> EditResult:
    """The one parser for every success shape: the synchronous body (``data`` is the list of
    images) and the callback/task body (``data`` is the synchronous body itself)."""
    if is_error_body(body):
        raise error_from_body(body, status=status, request_id=request_id)
    outer_trace = _str(body.get("trace_id"))
    inner = body.get("data")
    payload: Mapping[str, Any] = body
    if isinstance(inner, Mapping):
        if is_error_body(inner):
            err = error_from_body(inner, status=status, request_id=request_id)
            err.trace_id = err.trace_id or outer_trace
            raise err
        payload = inner

    def pick(key: str) -> Any:
        value = payload.get(key)
        return body.get(key) if value is None else value

    trace_id = outer_trace or _str(payload.get("trace_id"))
    items = payload.get("data")
    if not isinstance(items, list) or not items:
        raise malformed(
            "the answer holds no images", status=status, request_id=request_id, trace_id=trace_id
        )
    images = [
        _result_image(item, index, download, status=status, request_id=request_id, trace=trace_id)
        for index, item in enumerate(items)
    ]
    usage = pick("usage")
    return EditResult(
        images=images,
        created=_int(pick("created")),
        usage=dict(usage) if isinstance(usage, Mapping) else None,
        trace_id=trace_id,
        task_id=_str(body.get("task_id")) or _str(payload.get("task_id")),
        request_id=request_id,
        elapsed=_float(pick("elapsed")),
        output_format=_str(pick("output_format")),
        size=_str(pick("size")),
        quality=_str(pick("quality")),
        background=_str(pick("background")),
        duration=time.monotonic() - started,
    )


def sniff_image_type(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _result_image(
    item: Any,
    index: int,
    download: Downloader,
    *,
    status: int | None,
    request_id: str | None,
    trace: str | None,
) -> ResultImage:
    def bad(why: str) -> UpstreamError:
        return malformed(why, status=status, request_id=request_id, trace_id=trace)

    if not isinstance(item, Mapping):
        raise bad(f"result {index + 1} is not an object")
    b64 = item.get("b64_json")
    url = _str(item.get("url"))
    if isinstance(b64, StreamedBase64) or (isinstance(b64, str) and b64):
        data = b64_bytes(b64)
        if data is None:
            raise bad(f"result {index + 1} is not valid base64")
        content_type = sniff_image_type(data)
        if content_type is None:
            raise bad(f"result {index + 1} is not a PNG, JPEG or WebP image")
        url = None
    elif url:
        data = download(url, trace)
        content_type = sniff_image_type(data)
        if content_type is None:
            raise UpstreamError(
                "download_failed",
                detail=f"{host(url)} sent something that is not a PNG, JPEG or WebP image",
                trace_id=trace,
                request_id=request_id,
            )
    else:
        raise bad(f"result {index + 1} has neither b64_json nor url")
    return ResultImage(
        data=data,
        content_type=content_type,
        revised_prompt=_str(item.get("revised_prompt")),
        url=url,
    )


def b64_bytes(value: str | StreamedBase64) -> bytes | None:
    if isinstance(value, StreamedBase64):
        return value.data()
    # Line breaks are allowed; the copy without them is only made for text that has some.
    for text in (value, None):
        try:
            return base64.b64decode(text or "".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def json_object(answer: Answer) -> Mapping[str, Any]:
    return _object(answer, lambda: json.loads(answer.body), lambda: answer.body[:60])


def spooled_object(answer: SpooledAnswer) -> Mapping[str, Any]:
    """A spooled JSON answer, its long strings (the base64 images) decoded as they pass."""
    body = answer.body

    def start() -> bytes:
        body.seek(0)
        return body.read(60)

    return _object(answer, lambda: load_streamed(body), start)


def _object(answer: Answer | SpooledAnswer, load, start) -> Mapping[str, Any]:
    """What `load()` reads from the answer, which must be a JSON object; `start()` gives
    the answer's first bytes for the message when it is not JSON at all."""
    try:
        data = load()
    except (ValueError, UnicodeDecodeError):
        raise malformed(
            f"the answer is not JSON (starts with {start()!r})",
            status=answer.status,
            request_id=answer.request_id,
        ) from None
    if not isinstance(data, Mapping):
        raise malformed(
            "the answer is not a JSON object", status=answer.status, request_id=answer.request_id
        )
    return data


def malformed(
    detail: str,
    *,
    status: int | None = None,
    request_id: str | None = None,
    trace_id: str | None = None,
) -> UpstreamError:
    return UpstreamError(
        "malformed_response",
        detail=detail,
        status=status,
        request_id=request_id,
        trace_id=trace_id,
    )


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    """``value`` as ``kind``, or None when it is missing or not a number (a bool is not)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    return _number(value, int)


def _float(value: Any) -> float | None:
    return _number(value, float)
