"""The HTTP client for the Images Edits endpoint (OpenAI or the AceData Cloud gateway).

This is the only module that knows the wire format. Three things shape it:

* Source images can be ~50 MB each and up to 16 of them, so the multipart body is streamed
  from the caller's files and never assembled in memory.
* Each method makes exactly one attempt. Retrying an edit costs money and time, so the worker
  decides, from ``UpstreamError.retryable`` and ``retry_after``.
* Every failure, whatever its shape, leaves as ``UpstreamError``; nothing from ``requests``
  or ``json`` escapes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests_toolbelt import MultipartEncoder

from .capabilities import ModelCapabilities, normalize_content_type, stream_size, validate
from .errors import (
    InvalidEditRequest,
    UpstreamError,
    error_from_body,
    error_from_http,
    is_error_body,
)
from .schema import Accepted, EditRequest, EditResult, ImageInput, ResultImage, TaskInfo

USER_AGENT = "Retouch/0.1"
DEFAULT_TIMEOUT = (10.0, 180.0)
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024

# Error pages are only read for their words; a proxy that streams megabytes of HTML at us
# must not cost memory.
_MAX_ERROR_BODY_BYTES = 1024 * 1024
_MAX_TASKS_BODY_BYTES = 16 * 1024 * 1024
_CHUNK = 64 * 1024

# Optional multipart fields, in the order they are sent; all go as text.
_OPTION_FIELDS = (
    "n",
    "size",
    "quality",
    "background",
    "output_format",
    "output_compression",
    "input_fidelity",
    "response_format",
    "user",
)

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}

Timeout = float | tuple[float, float]
Downloader = Callable[[str, str | None], bytes]


class ImagesClient:
    """One configured connection to the service. Not shared between threads (the underlying
    ``requests.Session`` is not thread-safe); create one per worker thread."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        session: requests.Session | None = None,
        *,
        max_response_bytes: int | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        base = base_url.rstrip("/")
        self.base_url = base
        self.edits_url = base + "/images/edits"
        self.tasks_url = base + "/tasks"
        self.timeout: tuple[float, float] = (
            (float(timeout[0]), float(timeout[1]))
            if isinstance(timeout, tuple)
            else (float(timeout), float(timeout))
        )
        self.max_download_bytes = max_download_bytes
        # base64 inflates by a third and a response may hold several images.
        self.max_response_bytes = max_response_bytes or 2 * max_download_bytes
        self.user_agent = user_agent
        self._api_key = api_key
        self._owns_session = session is None
        self.session = session or requests.Session()

    def __repr__(self) -> str:
        # Never the key: clients end up in logs and tracebacks.
        return f"ImagesClient(base_url={self.base_url!r})"

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> ImagesClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- edits ---------------------------------------------------------------------------

    def edit(self, req: EditRequest) -> EditResult:
        """Run an edit and wait for the images (synchronous mode)."""
        if req.callback_url is not None:
            raise InvalidEditRequest(
                {"callback_url": ["edit() waits for the result; use submit() for callbacks."]}
            )
        started = time.monotonic()
        status, _headers, body, request_id = self._post_edit(req, callback=False)
        data = _json_object(body, status=status, request_id=request_id)
        return parse_result(
            data,
            request_id=request_id,
            download=self.download,
            started=started,
            status=status,
        )

    def submit(self, req: EditRequest) -> Accepted:
        """Hand an edit to the gateway in callback mode; the images arrive at
        ``req.callback_url`` later (read them with ``parse_callback``)."""
        if not req.callback_url:
            raise InvalidEditRequest(
                {"callback_url": ["submit() needs a callback URL to deliver the result to."]}
            )
        status, _headers, body, request_id = self._post_edit(req, callback=True)
        data = _json_object(body, status=status, request_id=request_id)
        if is_error_body(data):
            raise error_from_body(data, status=status, request_id=request_id)
        task_id = _str(data.get("task_id"))
        if not task_id:
            raise _malformed(
                "the answer to a callback-mode edit has no task_id",
                status=status,
                request_id=request_id,
                trace_id=_str(data.get("trace_id")),
            )
        return Accepted(task_id=task_id, trace_id=_str(data.get("trace_id")), request_id=request_id)

    def parse_callback(self, payload: bytes | str | Mapping[str, Any]) -> EditResult:
        """Like the module-level ``parse_callback``, downloading URL results with this
        client's session and limits."""
        return parse_callback(payload, client=self)

    def _post_edit(
        self, req: EditRequest, *, callback: bool
    ) -> tuple[int, Mapping[str, str], bytes, str]:
        model = validate(req)
        encoder = MultipartEncoder(fields=list(_multipart_fields(req, model, callback=callback)))
        request_id = str(uuid.uuid4())
        headers = self._api_headers(request_id)
        headers["Content-Type"] = encoder.content_type
        try:
            # No redirects: following one would resend (or silently drop) a consumed body.
            response = self.session.post(
                self.edits_url,
                data=encoder,
                headers=headers,
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise _network_error(exc, request_id) from exc
        return self._finish(response, request_id, self.max_response_bytes)

    # -- tasks ---------------------------------------------------------------------------

    def retrieve(self, task_id: str) -> TaskInfo | None:
        """The task as the gateway stores it, or None when it does not know the id."""
        data, request_id = self._tasks_call({"action": "retrieve", "id": task_id})
        if not data:
            return None
        if not isinstance(data.get("id"), str):
            raise _malformed("a task without an id", status=200, request_id=request_id)
        return self._task_info(data, request_id)

    def retrieve_batch(self, task_ids: Iterable[str], *, page_size: int = 12) -> list[TaskInfo]:
        """The known tasks among ``task_ids``, in the order asked; unknown ids are left out.

        Asks for at most ``page_size`` ids at a time (the gateway's default page) and pages
        with offset/limit in case it returns fewer per page than asked for.
        """
        wanted = list(dict.fromkeys(task_ids))
        found: dict[str, TaskInfo] = {}
        for start in range(0, len(wanted), page_size):
            chunk = wanted[start : start + page_size]
            offset = 0
            # Each page that is not the last holds at least one item, so this many pages
            # always suffice; the bound stops a misbehaving server from looping us.
            for _page in range(len(chunk) + 1):
                data, request_id = self._tasks_call(
                    {"action": "retrieve_batch", "ids": chunk, "offset": offset, "limit": page_size}
                )
                items = data.get("items", [])
                if not isinstance(items, list):
                    raise _malformed("task list without items", status=200, request_id=request_id)
                for item in items:
                    if isinstance(item, Mapping) and item.get("id") in chunk:
                        found[item["id"]] = self._task_info(item, request_id)
                offset += len(items)
                count = data.get("count")
                if (
                    not items
                    or all(task_id in found for task_id in chunk)
                    or (isinstance(count, int) and offset >= count)
                ):
                    break
        return [found[task_id] for task_id in wanted if task_id in found]

    def _tasks_call(self, payload: dict[str, Any]) -> tuple[Mapping[str, Any], str]:
        request_id = str(uuid.uuid4())
        headers = self._api_headers(request_id)
        headers["Content-Type"] = "application/json"
        try:
            response = self.session.post(
                self.tasks_url,
                data=json.dumps(payload),
                headers=headers,
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise _network_error(exc, request_id) from exc
        status, _headers, body, request_id = self._finish(
            response, request_id, _MAX_TASKS_BODY_BYTES
        )
        data = _json_object(body, status=status, request_id=request_id)
        if "id" not in data and is_error_body(data):
            raise error_from_body(data, status=status, request_id=request_id)
        return data, request_id

    def _task_info(self, item: Mapping[str, Any], request_id: str) -> TaskInfo:
        """Failures inside the stored response (including a result we could not download)
        land in ``TaskInfo.error`` rather than raising, so one bad task cannot hide the rest
        of a batch; ``error.retryable`` still says whether asking again may help."""
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
                    raise _malformed("the task's response is not a JSON object")
                result = parse_result(
                    response, request_id=None, download=self.download, started=time.monotonic()
                )
                result.task_id = result.task_id or _str(item.get("id"))
                result.trace_id = result.trace_id or trace_id
            except UpstreamError as exc:
                error = exc
                error.trace_id = error.trace_id or trace_id
                error.task_id = error.task_id or str(item["id"])
        return TaskInfo(
            id=str(item["id"]),
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

    # -- downloads -----------------------------------------------------------------------

    def download(self, url: str, trace_id: str | None = None) -> bytes:
        """Fetch a result image the service left at a URL (we keep images, never hot-link).

        Sent without our API key: the URL usually points at a CDN, not at the API.
        """
        return _download(
            self.session,
            url,
            timeout=self.timeout,
            max_bytes=self.max_download_bytes,
            user_agent=self.user_agent,
            trace_id=trace_id,
        )

    # -- plumbing ------------------------------------------------------------------------

    def _api_headers(self, request_id: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key}",
            "X-Request-Id": request_id,
            "X-Client-Request-Id": request_id,
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }

    def _finish(
        self, response: requests.Response, request_id: str, max_bytes: int
    ) -> tuple[int, Mapping[str, str], bytes, str]:
        """Read the whole answer (bounded in size and time) and turn non-2xx into errors."""
        with response:
            request_id = response.headers.get("x-request-id") or request_id
            status = response.status_code
            if not 200 <= status < 300:
                try:
                    body = _read_limited(response, _MAX_ERROR_BODY_BYTES, self.timeout[1])
                except (_BodyTooLarge, _BodyTooSlow, requests.RequestException):
                    body = b""
                if 300 <= status < 400:
                    body = f"redirected to {response.headers.get('Location', '?')}".encode()
                raise error_from_http(status, response.headers, body, request_id=request_id)
            try:
                body = _read_limited(response, max_bytes, self.timeout[1], strict=True)
            except _BodyTooLarge as exc:
                raise UpstreamError(
                    "too_large",
                    detail=f"the response is larger than {max_bytes} bytes",
                    status=status,
                    request_id=request_id,
                ) from exc
            except _BodyTooSlow as exc:
                raise UpstreamError(
                    "timeout",
                    detail=str(exc),
                    status=status,
                    request_id=request_id,
                ) from exc
            except requests.RequestException as exc:
                raise _network_error(exc, request_id) from exc
            return status, response.headers, body, request_id


def parse_callback(
    payload: bytes | str | Mapping[str, Any], *, client: ImagesClient | None = None
) -> EditResult:
    """Read the gateway's callback body: an EditResult on success, UpstreamError otherwise
    (``malformed_response`` for anything that is not a callback body).

    The callback is unauthenticated (its URL is the only secret) and URL results are
    downloaded, so only http(s) URLs are fetched, with the size cap of ``client`` or the
    default one.
    """
    started = time.monotonic()
    if isinstance(payload, Mapping):
        data: Any = payload
    else:
        try:
            data = json.loads(payload)
        except (ValueError, TypeError) as exc:
            raise _malformed(f"the callback body is not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise _malformed("the callback body is not a JSON object")
    try:
        if client is not None:
            return parse_result(data, request_id=None, download=client.download, started=started)
        with _OneOffDownloader() as download:
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
        raise _malformed(
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
    def malformed(why: str) -> UpstreamError:
        return _malformed(why, status=status, request_id=request_id, trace_id=trace)

    if not isinstance(item, Mapping):
        raise malformed(f"result {index + 1} is not an object")
    b64 = item.get("b64_json")
    url = _str(item.get("url"))
    if isinstance(b64, str) and b64:
        try:
            data = base64.b64decode("".join(b64.split()), validate=True)
        except (binascii.Error, ValueError):
            raise malformed(f"result {index + 1} is not valid base64") from None
        content_type = sniff_image_type(data)
        if content_type is None:
            raise malformed(f"result {index + 1} is not a PNG, JPEG or WebP image")
        url = None
    elif url:
        data = download(url, trace)
        content_type = sniff_image_type(data)
        if content_type is None:
            raise UpstreamError(
                "download_failed",
                detail=f"{_host(url)} sent something that is not a PNG, JPEG or WebP image",
                trace_id=trace,
                request_id=request_id,
            )
    else:
        raise malformed(f"result {index + 1} has neither b64_json nor url")
    return ResultImage(
        data=data,
        content_type=content_type,
        revised_prompt=_str(item.get("revised_prompt")),
        url=url,
    )


def _download(
    session: requests.Session,
    url: str,
    *,
    timeout: tuple[float, float],
    max_bytes: int,
    user_agent: str,
    trace_id: str | None,
) -> bytes:
    def failed(detail: str, code: str = "download_failed", status: int | None = None):
        return UpstreamError(code, detail=detail, status=status, trace_id=trace_id)

    if urlsplit(url).scheme not in ("http", "https"):
        raise failed(f"refusing to download a result from a non-http URL ({url[:80]})")
    try:
        response = session.get(
            url, stream=True, timeout=timeout, headers={"User-Agent": user_agent}
        )
    except requests.RequestException as exc:
        raise failed(f"{_host(url)}: {_describe(exc)}") from exc
    with response:
        if response.status_code != 200:
            raise failed(f"HTTP {response.status_code} from {_host(url)}")
        try:
            return _read_limited(response, max_bytes, timeout[1], strict=True)
        except _BodyTooLarge:
            raise failed(
                f"the image at {_host(url)} is larger than {max_bytes} bytes", code="too_large"
            ) from None
        except (_BodyTooSlow, requests.RequestException) as exc:
            raise failed(f"{_host(url)}: {_describe(exc)}") from exc


class _OneOffDownloader:
    """A session opened only if a callback actually holds URLs, and closed afterwards."""

    def __init__(self) -> None:
        self._session: requests.Session | None = None

    def __enter__(self) -> Downloader:
        return self._download

    def __exit__(self, *exc_info: object) -> None:
        if self._session is not None:
            self._session.close()

    def _download(self, url: str, trace_id: str | None) -> bytes:
        if self._session is None:
            self._session = requests.Session()
        return _download(
            self._session,
            url,
            timeout=DEFAULT_TIMEOUT,
            max_bytes=DEFAULT_MAX_DOWNLOAD_BYTES,
            user_agent=USER_AGENT,
            trace_id=trace_id,
        )


# -- multipart -----------------------------------------------------------------------------


class _UploadStream:
    """A caller's file as a sized, read-only stream for MultipartEncoder.

    Without it the encoder would copy a BytesIO whole (it calls ``getvalue()``) and could not
    size file-likes that have no descriptor. Reads stop at the size measured up front, so the
    body always matches the Content-Length we announced.
    """

    def __init__(self, image: ImageInput, field: str) -> None:
        fileobj: BinaryIO = image.fileobj
        try:
            if fileobj.seekable():
                fileobj.seek(0)
        except (AttributeError, OSError, ValueError):
            pass
        size = stream_size(fileobj)
        if size is None:
            raise InvalidEditRequest(
                {field: [f"Retouch could not read “{image.filename}”. Upload it again."]}
            )
        self._fileobj = fileobj
        self._remaining = size

    @property
    def len(self) -> int:
        return self._remaining

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        want = self._remaining if size is None or size < 0 else min(size, self._remaining)
        chunk = self._fileobj.read(want)
        if not chunk:
            # The file shrank after we announced its length; a short body would make the
            # server wait for bytes that never come.
            raise OSError("a source image became shorter while it was being uploaded")
        self._remaining -= len(chunk)
        return chunk


def _multipart_fields(
    req: EditRequest, model: ModelCapabilities, *, callback: bool
) -> Iterator[tuple[str, Any]]:
    yield "model", req.model
    yield "prompt", req.prompt
    for name in _OPTION_FIELDS:
        value = getattr(req, name)
        if value is not None:
            yield name, str(value)
    if callback and req.callback_url:
        yield "callback_url", req.callback_url
    # Text fields first: a server that rejects a setting can answer before the big files.
    for index, image in enumerate(req.images):
        yield model.image_field, _file_part(image, f"image{index + 1}", "images")
    if req.mask is not None:
        yield "mask", _file_part(req.mask, "mask", "mask")


def _file_part(image: ImageInput, fallback_name: str, field: str) -> tuple[str, Any, str]:
    content_type = normalize_content_type(image.content_type)
    filename = image.filename or f"{fallback_name}.{_EXTENSIONS.get(content_type, 'png')}"
    return filename, _UploadStream(image, field), content_type


# -- reading answers -----------------------------------------------------------------------


class _BodyTooLarge(Exception):
    pass


class _BodyTooSlow(Exception):
    pass


def _read_limited(
    response: requests.Response, max_bytes: int, seconds: float, *, strict: bool = False
) -> bytes:
    """The body, at most ``max_bytes`` of it, within ``seconds`` of the headers arriving.

    ``requests``' read timeout bounds each socket read, not the whole body; a server that
    trickles a byte at a time would otherwise hold a worker indefinitely. With ``strict``
    an oversized body is an error, without it the excess is dropped.
    """
    declared = response.headers.get("Content-Length", "")
    if strict and declared.isdigit() and int(declared) > max_bytes:
        raise _BodyTooLarge
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_content(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            if strict:
                raise _BodyTooLarge
            chunks.append(chunk[: max_bytes - (total - len(chunk))])
            break
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise _BodyTooSlow(f"the answer took longer than {seconds:g}s to arrive")
    return b"".join(chunks)


def _json_object(body: bytes, *, status: int, request_id: str) -> Mapping[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _malformed(
            f"the answer is not JSON (starts with {body[:60]!r})",
            status=status,
            request_id=request_id,
        ) from None
    if not isinstance(data, Mapping):
        raise _malformed("the answer is not a JSON object", status=status, request_id=request_id)
    return data


def _malformed(
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


def _network_error(exc: BaseException, request_id: str) -> UpstreamError:
    """Tell apart 'never reached the service' from 'it stopped answering' and 'the
    connection broke': all retryable, but they mean different things in a log."""
    code = "connection_lost"
    if isinstance(
        exc,
        requests.ConnectTimeout | requests.exceptions.SSLError | requests.exceptions.ProxyError,
    ):
        code = "connect_error"
    elif isinstance(exc, requests.Timeout):
        code = "timeout"
    elif isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return UpstreamError(
            "not_found",
            "The image service address is not valid. An administrator must check OPENAI_BASE_URL.",
            detail=_describe(exc),
            request_id=request_id,
            retryable=False,
        )
    else:
        for cause in _causes(exc):
            if isinstance(
                cause,
                urllib3.exceptions.NewConnectionError
                | urllib3.exceptions.NameResolutionError
                | urllib3.exceptions.ConnectTimeoutError
                | ConnectionRefusedError,
            ):
                code = "connect_error"
                break
            if isinstance(cause, urllib3.exceptions.ReadTimeoutError | TimeoutError):
                code = "timeout"
                break
    return UpstreamError(code, detail=_describe(exc), request_id=request_id)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """requests wraps urllib3 wraps socket errors, in args, ``reason`` and ``__context__``."""
    seen: set[int] = set()
    stack = [exc]
    while stack and len(seen) < 20:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [getattr(current, "reason", None), current.__cause__, current.__context__]
        linked.extend(current.args)
        stack.extend(item for item in linked if isinstance(item, BaseException))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def _host(url: str) -> str:
    return urlsplit(url).netloc or "the result URL"


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
