"""The one place that talks HTTP to the image service: it posts, reads every answer within a
bound of size and time, and turns every network failure into ``UpstreamError``.

* Each call makes exactly one attempt. Retrying an edit costs money and time, so the worker
  decides, from ``UpstreamError.retryable`` and ``retry_after``.
* Nothing from ``requests`` or ``urllib3`` leaves this module; what the answer means is for
  ``parsing`` to say.
* Result images are downloaded only from the hosts ``result_hosts`` allows, through a session
  of their own whose connections enforce that rule, following redirects one checked hop at a
  time.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from .error_messages import INVALID_ADDRESS_PIECES, english
from .errors import UpstreamError, error_from_http
from .result_hosts import GuardedAdapter, RefusedResultHost, ResultHosts

USER_AGENT = "Retouch/0.1"
# A service that is up accepts a connection within seconds; only its answer may take minutes
# (80 s and more for one edit at the gateway), so the two waits have separate bounds.
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_TIMEOUT = (DEFAULT_CONNECT_TIMEOUT, 180.0)
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024

# Error pages are only read for their words; a proxy that streams megabytes of HTML at us
# must not cost memory.
_MAX_ERROR_BODY_BYTES = 1024 * 1024
_CHUNK = 64 * 1024
# A spooled answer stays in memory up to this size and goes to a temporary file beyond it:
# a 4K result's base64 (~15 MB) is never held as text (benchmarks/large_results.py).
SPOOL_IN_MEMORY_BYTES = 1024 * 1024
# A CDN may redirect to a signed URL once or twice; more is a loop or a detour.
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

# A single number is the read timeout (how long to wait for the answer); a pair is
# (connect, read), as in ``requests``.
Timeout = float | tuple[float, float]
Downloader = Callable[[str, str | None], bytes]


def connect_and_read(timeout: Timeout) -> tuple[float, float]:
    """The (connect, read) pair for ``timeout``; a single number never stretches the connect
    timeout, so a slow-to-answer service does not also mean waiting minutes for a dead one."""
    if isinstance(timeout, tuple):
        connect, read = timeout
        return float(connect), float(read)
    return DEFAULT_CONNECT_TIMEOUT, float(timeout)


@dataclass(frozen=True)
class Answer:
    """A 2xx answer, read whole. ``request_id`` is the service's ``x-request-id`` when it
    sent one, else the id we sent."""

    status: int
    body: bytes
    request_id: str


@dataclass(frozen=True)
class SpooledAnswer:
    """A 2xx answer read into a temporary file (rewound), for answers that hold images:
    ``parsing`` reads it in chunks and decodes the base64 as it passes. The caller closes
    ``body``."""

    status: int
    body: IO[bytes]
    request_id: str


class OpenAnswer:
    """A 2xx answer whose body has not been read yet (``Transport.open``): read it whole
    (``read``), into a temporary file (``spool``) or piece by piece as it arrives
    (``chunks``, for a stream of events), always within a bound of size and time. Every
    failure while reading leaves as ``UpstreamError``."""

    def __init__(self, response: requests.Response, request_id: str, seconds: float) -> None:
        self._response = response
        self.status = response.status_code
        self.request_id = request_id
        self._seconds = seconds

    @property
    def content_type(self) -> str:
        """The media type alone, lower-cased (``text/event-stream``, ``application/json``)."""
        value = self._response.headers.get("Content-Type", "")
        return value.split(";", 1)[0].strip().lower()

    def chunks(self, max_bytes: int) -> Iterator[bytes]:
        """The body as it arrives, at most ``max_bytes`` of it, all within the read timeout
        of the headers arriving."""
        status, request_id = self.status, self.request_id
        try:
            yield from bounded_chunks(self._response, max_bytes, self._seconds, strict=True)
        except BodyTooLarge as exc:
            raise UpstreamError(
                "too_large",
                detail=f"the response is larger than {max_bytes} bytes",
                status=status,
                request_id=request_id,
            ) from exc
        except BodyTooSlow as exc:
            raise UpstreamError(
                "timeout", detail=str(exc), status=status, request_id=request_id
            ) from exc
        except requests.RequestException as exc:
            raise network_error(exc, request_id) from exc

    def read(self, max_bytes: int) -> Answer:
        return Answer(self.status, b"".join(self.chunks(max_bytes)), self.request_id)

    def spool(self, max_bytes: int) -> SpooledAnswer:
        """The body in a temporary file: in memory while small, on disk beyond
        ``SPOOL_IN_MEMORY_BYTES``, so an answer of tens of megabytes is not held in memory
        while it is parsed (nor twice, as joining the pieces of a read would)."""
        spooled = spooled_file()
        try:
            for chunk in self.chunks(max_bytes):
                spooled.write(chunk)
            spooled.seek(0)
        except BaseException:
            spooled.close()
            raise
        return SpooledAnswer(self.status, spooled, self.request_id)


def spooled_file() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES, prefix="retouch-")


class Transport:
    """A session with the service's key and time limits. Not thread-safe (``requests.Session``
    is not)."""

    def __init__(
        self,
        api_key: str,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        user_agent: str = USER_AGENT,
        session: requests.Session | None = None,
        result_hosts: ResultHosts | None = None,
    ) -> None:
        self.timeout = connect_and_read(timeout)
        self.user_agent = user_agent
        self._api_key = api_key
        self._owns_session = session is None
        self.session = session or requests.Session()
        # No API host known: only the default allow-list, never a private address.
        self.result_hosts = result_hosts or ResultHosts(None)
        self._downloads: requests.Session | None = None

    def __repr__(self) -> str:
        # Never the key: clients end up in logs and tracebacks.
        return f"Transport(timeout={self.timeout!r})"

    def close(self) -> None:
        if self._owns_session:
            self.session.close()
        if self._downloads is not None:
            self._downloads.close()

    def post(self, url: str, data: Any, content_type: str, *, max_bytes: int) -> Answer:
        """POST ``data`` with our key and read the answer (at most ``max_bytes``); a non-2xx
        status or a network failure raises ``UpstreamError``."""
        with self.open(url, data, content_type) as answer:
            return answer.read(max_bytes)

    @contextmanager
    def open(
        self, url: str, data: Any, content_type: str, *, accept: str = "application/json"
    ) -> Iterator[OpenAnswer]:
        """POST ``data`` with our key and hand over the 2xx answer unread, for as long as the
        block runs; a non-2xx status or a network failure raises ``UpstreamError``."""
        request_id = str(uuid.uuid4())
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "X-Request-Id": request_id,
            "X-Client-Request-Id": request_id,
            "Accept": accept,
            "User-Agent": self.user_agent,
            "Content-Type": content_type,
        }
        try:
            # No redirects: following one would resend (or silently drop) a consumed body.
            response = self.session.post(
                url,
                data=data,
                headers=headers,
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise network_error(exc, request_id) from exc
        with response:
            request_id = response.headers.get("x-request-id") or request_id
            if not 200 <= response.status_code < 300:
                raise self._error(response, request_id)
            yield OpenAnswer(response, request_id, self.timeout[1])

    def _error(self, response: requests.Response, request_id: str) -> UpstreamError:
        status = response.status_code
        try:
            body = read_limited(response, _MAX_ERROR_BODY_BYTES, self.timeout[1])
        except (BodyTooLarge, BodyTooSlow, requests.RequestException):
            body = b""
        if 300 <= status < 400:
            body = f"redirected to {response.headers.get('Location', '?')}".encode()
        return error_from_http(status, response.headers, body, request_id=request_id)

    def download(self, url: str, *, max_bytes: int, trace_id: str | None) -> bytes:
        """GET a result image, without our key (the URL usually points at a CDN, not at the
        API), only from where ``result_hosts`` allows, since the URL may come from an
        unauthenticated callback. Each redirect is checked like the first URL."""

        def failed(detail: str, code: str = "download_failed") -> UpstreamError:
            return UpstreamError(code, detail=detail, trace_id=trace_id)

        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                self.result_hosts.check(current)
                response = self._download_session().get(
                    current,
                    stream=True,
                    timeout=self.timeout,
                    headers={"User-Agent": self.user_agent},
                    allow_redirects=False,
                )
            except RefusedResultHost as exc:
                raise refused_result(exc, url, current, trace_id) from None
            except requests.RequestException as exc:
                raise failed(f"{host(current)}: {describe(exc)}") from exc
            except OSError as exc:  # the check's own lookup (RequestException is one too)
                raise failed(f"{host(current)}: could not resolve ({describe(exc)})") from exc
            with response:
                location = response.headers.get("Location")
                if response.status_code in _REDIRECTS and location:
                    current = urljoin(current, location)
                    continue
                if response.status_code != 200:
                    raise failed(f"HTTP {response.status_code} from {host(current)}")
                try:
                    return read_limited(response, max_bytes, self.timeout[1], strict=True)
                except BodyTooLarge:
                    raise failed(
                        f"the image at {host(current)} is larger than {max_bytes} bytes",
                        code="too_large",
                    ) from None
                except (BodyTooSlow, requests.RequestException) as exc:
                    raise failed(f"{host(current)}: {describe(exc)}") from exc
        raise failed(f"{host(url)} redirected more than {MAX_REDIRECTS} times")

    def _download_session(self) -> requests.Session:
        """Downloads never share the API's session: theirs connects only where
        ``result_hosts`` allows, and redirects are ours to follow."""
        if self._downloads is None:
            self._downloads = requests.Session()
            adapter = GuardedAdapter(self.result_hosts)
            self._downloads.mount("http://", adapter)
            self._downloads.mount("https://", adapter)
        return self._downloads


def refused_result(
    exc: RefusedResultHost, url: str, current: str, trace_id: str | None
) -> UpstreamError:
    """Never retried: a host that is refused now will be refused next time. The detail says
    which host and why, and nothing any refused host sent (none was asked)."""
    via = f" (redirected from {host(url)})" if current != url else ""
    return UpstreamError(
        "result_host_refused",
        detail=f"did not download from {exc.host}{via}: {exc.reason}",
        trace_id=trace_id,
    )


class OneOffDownloader:
    """Downloads with the default limits through a session opened only if a callback actually
    holds URLs, and closed afterwards; from the hosts ``result_hosts`` allows (by default
    ``DEFAULT_RESULT_HOSTS``, and no API host, since none is known here)."""

    def __init__(self, result_hosts: ResultHosts | None = None) -> None:
        self._result_hosts = result_hosts
        self._transport: Transport | None = None

    def __enter__(self) -> Downloader:
        return self._download

    def __exit__(self, *exc_info: object) -> None:
        if self._transport is not None:
            self._transport.close()

    def _download(self, url: str, trace_id: str | None) -> bytes:
        if self._transport is None:
            self._transport = Transport(api_key="", result_hosts=self._result_hosts)
        return self._transport.download(
            url, max_bytes=DEFAULT_MAX_DOWNLOAD_BYTES, trace_id=trace_id
        )


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


def read_limited(
    response: requests.Response, max_bytes: int, seconds: float, *, strict: bool = False
) -> bytes:
    """The body, at most ``max_bytes`` of it, within ``seconds`` of the headers arriving
    (see ``bounded_chunks``); for bodies that are small or must be whole (a downloaded
    image, an error page)."""
    return b"".join(bounded_chunks(response, max_bytes, seconds, strict=strict))


def bounded_chunks(
    response: requests.Response, max_bytes: int, seconds: float, *, strict: bool = False
) -> Iterator[bytes]:
    """The body as it arrives, at most ``max_bytes`` of it, within ``seconds`` of the
    headers arriving.

    ``requests``' read timeout bounds each socket read, not the whole body; a server that
    trickles a byte at a time would otherwise hold a worker indefinitely. With ``strict``
    an oversized body is an error, without it the excess is dropped.
    """
    declared = response.headers.get("Content-Length", "")
    if strict and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge
    deadline = time.monotonic() + seconds
    total = 0
    for chunk in response.iter_content(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            if strict:
                raise BodyTooLarge
            yield chunk[: max_bytes - (total - len(chunk))]
            return
        yield chunk
        if time.monotonic() > deadline:
            raise BodyTooSlow(f"the answer took longer than {seconds:g}s to arrive")


def network_error(exc: BaseException, request_id: str) -> UpstreamError:
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
            english(INVALID_ADDRESS_PIECES),
            detail=describe(exc),
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
    return UpstreamError(code, detail=describe(exc), request_id=request_id)


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


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def host(url: str) -> str:
    """``host[:port]`` of ``url``, without any user name or password in it."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    return netloc[:100] or "the result URL"
