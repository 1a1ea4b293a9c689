"""``ImagesClient``: the Images Edits and Generations endpoints and the Tasks API (OpenAI or
the AceData Cloud gateway), as the app calls them.

The client only says what to send and where: ``multipart`` builds an edit's body,
``json_body`` a generation's (the same options as JSON, no images),
``transport`` sends it and reads the answer, ``parsing`` says what the answer means
(``edit_stream`` and ``sse`` for a streamed edit's events). Every failure leaves as
``UpstreamError``; each method makes exactly one attempt.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import requests
from requests_toolbelt import MultipartEncoder

from .capabilities import InvalidEditRequest, validate, validate_generation
from .edit_stream import MAX_PARTIAL_IMAGES, EditStream, PlainEdit
from .json_body import JSON_TYPE, generation_body
from .multipart import edit_body
from .parsing import (
    malformed,
    parse_accepted,
    parse_callback,
    parse_edit,
    parse_task,
    parse_tasks_answer,
)
from .result_hosts import ResultHosts
from .schema import Accepted, EditRequest, EditResult, GenerateRequest, TaskInfo
from .transport import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_TIMEOUT,
    USER_AGENT,
    Answer,
    Timeout,
    Transport,
)

_MAX_TASKS_BODY_BYTES = 16 * 1024 * 1024
# Either kind of request: an edit of photos, or an image created from the prompt alone.
AnyRequest = EditRequest | GenerateRequest


class ImagesClient:
    """One configured connection to the service. Not shared between threads (the underlying
    ``requests.Session`` is not thread-safe); create one per worker thread.

    ``timeout`` is (connect, read) in seconds, or a single number: the read timeout, how long
    to wait for an answer, with connecting bounded by ``DEFAULT_CONNECT_TIMEOUT``.

    Result images are downloaded from the API's own host and port and from ``result_hosts``
    (host names, or ``.domain`` for a domain and its subdomains; ``DEFAULT_RESULT_HOSTS``
    when None), never from a private, loopback or link-local address but the API's: see
    ``result_hosts``. ``session`` is for talking to the API only; downloads use their own.
    """

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
        result_hosts: Iterable[str] | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        self.base_url = base
        self.edits_url = base + "/images/edits"
        self.generations_url = base + "/images/generations"
        self.tasks_url = base + "/tasks"
        self.max_download_bytes = max_download_bytes
        # base64 inflates by a third and a response may hold several images.
        self.max_response_bytes = max_response_bytes or 2 * max_download_bytes
        self.result_hosts = ResultHosts(base, result_hosts)
        self.transport = Transport(
            api_key,
            timeout=timeout,
            user_agent=user_agent,
            session=session,
            result_hosts=self.result_hosts,
        )

    @property
    def timeout(self) -> tuple[float, float]:
        return self.transport.timeout

    @property
    def session(self) -> requests.Session:
        return self.transport.session

    def __repr__(self) -> str:
        # Never the key: clients end up in logs and tracebacks.
        return f"ImagesClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> ImagesClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- edits ---------------------------------------------------------------------------

    def edit(self, req: EditRequest) -> EditResult:
        """Run an edit and wait for the images (synchronous mode).

        The answer is spooled to a temporary file and its images decoded as they are read,
        so a 4K result costs about its decoded size in memory, not three times its base64.
        """
        if not isinstance(req, EditRequest):
            raise TypeError("edit() takes an EditRequest; use generate() without photos.")
        self._check_sync(req, "edit")
        started = time.monotonic()
        body = self.edit_body(req)
        with self.transport.open(self.edits_url, body, body.content_type) as answer:
            spooled = answer.spool(self.max_response_bytes)
        with spooled.body:
            return parse_edit(spooled, download=self.download, started=started)

    def generate(self, req: GenerateRequest) -> EditResult:
        """Create images from the prompt alone and wait for them (synchronous mode). The
        answer has the edits' shapes and is read the same way."""
        if not isinstance(req, GenerateRequest):
            raise TypeError("generate() takes a GenerateRequest; use edit() for photos.")
        self._check_sync(req, "generate")
        started = time.monotonic()
        url, body, content_type = self.request_body(req)
        with self.transport.open(url, body, content_type) as answer:
            spooled = answer.spool(self.max_response_bytes)
        with spooled.body:
            return parse_edit(spooled, download=self.download, started=started)

    def run(self, req: AnyRequest) -> EditResult:
        """``edit`` or ``generate``, as the request's type says."""
        return self.generate(req) if isinstance(req, GenerateRequest) else self.edit(req)

    def edit_stream(self, req: AnyRequest, partial_images: int) -> EditStream:
        """Run an edit (or a generation) asking for up to ``partial_images`` (0-3) previews
        while it runs.

        Iterate over the returned ``EditStream`` for the ``PartialImage`` previews as they
        arrive; afterwards its ``result`` is the ``EditResult``. The stream carries one
        base64 image at a time, so an edit asking for several results or for links, or for
        no previews, is sent as a plain edit (the iteration then yields nothing). Whether
        the model streams at the service is the caller's question (``can_stream``).
        """
        self._check_sync(req, "edit_stream")
        if not 0 <= partial_images <= MAX_PARTIAL_IMAGES:
            raise InvalidEditRequest(
                {"partial_images": [f"Ask for 0 to {MAX_PARTIAL_IMAGES} partial images."]}
            )
        if partial_images == 0 or (req.n or 1) != 1 or req.response_format == "url":
            return PlainEdit(self, req, 0)
        return EditStream(self, req, partial_images)

    def edit_body(
        self, req: EditRequest, extra: Iterable[tuple[str, str]] = ()
    ) -> MultipartEncoder:
        """The multipart body of a synchronous edit (validated first), with ``extra``
        fields that say how the answer is to come."""
        return edit_body(req, validate(req), callback=False, extra=extra)

    def request_body(
        self, req: AnyRequest, extra: Iterable[tuple[str, str]] = (), *, callback: bool = False
    ) -> tuple[str, bytes | MultipartEncoder, str]:
        """Where a request goes, its body (validated first) and its content type: an edit
        as multipart to images/edits, a generation as JSON to images/generations.
        ``extra`` are text fields; in JSON, ``stream`` goes as a boolean and numbers as
        numbers."""
        if isinstance(req, GenerateRequest):
            model = validate_generation(req)
            fields = [(name, _json_value(value)) for name, value in extra]
            body = generation_body(req, model, callback=callback, extra=fields)
            return self.generations_url, body, JSON_TYPE
        encoder = edit_body(req, validate(req), callback=callback, extra=extra)
        return self.edits_url, encoder, encoder.content_type

    @staticmethod
    def _check_sync(req: AnyRequest, name: str) -> None:
        if req.callback_url is not None:
            raise InvalidEditRequest(
                {"callback_url": [f"{name}() waits for the result; use submit() for callbacks."]}
            )

    def submit(self, req: AnyRequest) -> Accepted:
        """Hand an edit (or a generation) to the gateway in callback mode; the images
        arrive at ``req.callback_url`` later (read them with ``parse_callback``)."""
        if not req.callback_url:
            raise InvalidEditRequest(
                {"callback_url": ["submit() needs a callback URL to deliver the result to."]}
            )
        url, body, content_type = self.request_body(req, callback=True)
        answer = self.transport.post(url, body, content_type, max_bytes=self.max_response_bytes)
        return parse_accepted(answer)

    def parse_callback(self, payload: bytes | str | Mapping[str, Any]) -> EditResult:
        """Like the module-level ``parse_callback``, downloading URL results with this
        client's session and limits."""
        return parse_callback(payload, client=self)

    # -- tasks ---------------------------------------------------------------------------

    def retrieve(self, task_id: str) -> TaskInfo | None:
        """The task as the gateway stores it, or None when it does not know the id."""
        answer, data = self._tasks_call({"action": "retrieve", "id": task_id})
        if not data:
            return None
        if not isinstance(data.get("id"), str):
            raise malformed("a task without an id", status=200, request_id=answer.request_id)
        return parse_task(data, download=self.download)

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
                answer, data = self._tasks_call(
                    {"action": "retrieve_batch", "ids": chunk, "offset": offset, "limit": page_size}
                )
                items = data.get("items", [])
                if not isinstance(items, list):
                    raise malformed(
                        "task list without items", status=200, request_id=answer.request_id
                    )
                for item in items:
                    if isinstance(item, Mapping) and item.get("id") in chunk:
                        found[item["id"]] = parse_task(item, download=self.download)
                offset += len(items)
                count = data.get("count")
                if (
                    not items
                    or all(task_id in found for task_id in chunk)
                    or (isinstance(count, int) and offset >= count)
                ):
                    break
        return [found[task_id] for task_id in wanted if task_id in found]

    def _tasks_call(self, payload: dict[str, Any]) -> tuple[Answer, Mapping[str, Any]]:
        answer = self.transport.post(
            self.tasks_url,
            json.dumps(payload),
            "application/json",
            max_bytes=_MAX_TASKS_BODY_BYTES,
        )
        return answer, parse_tasks_answer(answer)

    # -- downloads -----------------------------------------------------------------------

    def download(self, url: str, trace_id: str | None = None) -> bytes:
        """Fetch a result image the service left at a URL (we keep images, never hot-link)."""
        return self.transport.download(url, max_bytes=self.max_download_bytes, trace_id=trace_id)


def _json_value(value: str) -> object:
    """A stream field as JSON wants it: ``"true"`` a boolean, ``"2"`` a number."""
    if value in ("true", "false"):
        return value == "true"
    return int(value) if value.isdigit() else value
