"""The one exception type the rest of Retouch sees from the image service, and the rules that
turn every failure shape (gateway JSON, OpenAI JSON, HTML error pages) into it; ``transport``
does the same for network trouble.

Two audiences read an error: the person whose edit failed (``message``: plain words, what
happens next, always in English since the edit stores it; ``translated_message`` says it in
the reader's language) and whoever debugs it (``detail``, ``status``, ``trace_id``,
``request_id``). The worker decides about retries from ``retryable`` and ``retry_after`` only,
so the mapping below, with the categories of ``error_messages``, is the single place that
knows which failures are worth another attempt.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext

from .error_messages import (
    CATEGORIES,
    TRIED,
    TRY_AGAIN,
    english,
    translate_pieces,
    translate_stored,
    without_retry,
)

# Retry-After beyond a day is almost certainly a parsing accident or a hostile value; the
# worker should not park an edit for longer than that on the server's word alone.
MAX_RETRY_AFTER = 24 * 60 * 60.0

_DETAIL_MAX_CHARS = 500

# Upstream codes (gateway ``error.code``, OpenAI ``error.code``/``error.type``) whose meaning
# is clear without an HTTP status — callbacks and task records carry no status.
_CODE_CATEGORY: dict[str, str] = {
    "bad_request": "bad_request",
    "invalid_request_error": "bad_request",
    "invalid_value": "bad_request",
    "invalid_image": "bad_image",
    "invalid_image_format": "bad_image",
    "image_too_large": "bad_image",
    "invalid_mask": "bad_mask",
    "moderation_blocked": "moderation",
    "content_policy_violation": "moderation",
    "content_filter": "moderation",
    "token_mismatched": "token_mismatched",
    "api_not_implemented": "api_not_implemented",
    "invalid_token": "invalid_token",
    "invalid_api_key": "invalid_token",
    "authentication_error": "invalid_token",
    "forbidden": "forbidden",
    "permission_error": "forbidden",
    "not_found": "not_found",
    "too_many_requests": "rate_limited",
    "rate_limit_exceeded": "rate_limited",
    "insufficient_quota": "insufficient_quota",
    "billing_hard_limit_reached": "insufficient_quota",
    "api_error": "server_error",
    "server_error": "server_error",
    "internal_error": "server_error",
    "bad_gateway": "unavailable",
    "service_unavailable": "unavailable",
    "overloaded": "unavailable",
    "gateway_timeout": "gateway_timeout",
    "timeout": "timeout",
    "connect_error": "connect_error",
    "connection_lost": "connection_lost",
    "malformed_response": "malformed_response",
    "download_failed": "download_failed",
    "result_host_refused": "result_host_refused",
    "too_large": "too_large",
}

# The code we report when the body names none, so logs and the worker always see one.
_STATUS_CODE: dict[int, str] = {
    400: "bad_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    408: "timeout",
    413: "payload_too_large",
    429: "too_many_requests",
    500: "api_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

# The category an HTTP status means by itself: the status decides whether to retry.
_STATUS_CATEGORY: dict[int, str] = {
    401: "invalid_token",
    402: "insufficient_quota",
    403: "forbidden",
    404: "not_found",
    408: "timeout",
    413: "payload_too_large",
    429: "rate_limited",
    500: "server_error",
    502: "unavailable",
    503: "unavailable",
    504: "gateway_timeout",
}

# The categories a body's code may put in place of its status's: the finer reasons the same
# status is sent for (a 429 for an exhausted quota is not worth retrying, unlike a rate limit).
_BAD_REQUEST_REASONS = frozenset(
    {
        "token_mismatched",
        "api_not_implemented",
        "moderation",
        "bad_mask",
        "bad_image",
        "insufficient_quota",
    }
)
_STATUS_REFINEMENTS: dict[int, frozenset[str]] = {
    400: _BAD_REQUEST_REASONS,
    422: _BAD_REQUEST_REASONS,
    403: frozenset({"moderation"}),
    429: frozenset({"insufficient_quota"}),
}

_PARAM_CATEGORY = {
    "mask": "bad_mask",
    "image": "bad_image",
    "image[]": "bad_image",
    "prompt": "bad_prompt",
}


class UpstreamError(Exception):
    """Anything that kept an edit (or a task lookup) from producing images.

    ``message`` is for the person using Retouch; ``detail`` is the service's own words.
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        detail: str = "",
        status: int | None = None,
        trace_id: str | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        param: str | None = None,
        task_id: str | None = None,
    ) -> None:
        category = _category(code, status, param, detail)
        pieces, default_retryable = CATEGORIES[category]
        self.code = code
        # Always English (stored on the edit, logged): ``translated_message`` says it in the
        # reader's language when a page shows it.
        self.message = message or english(pieces)
        self.detail = detail
        self.status = status
        self.trace_id = trace_id
        self.request_id = request_id
        self.retryable = default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.param = param
        # Set for failures reported by a callback or a task record, which name their task.
        self.task_id = task_id
        super().__init__(self.__str__())

    def __str__(self) -> str:
        head = self.code if self.status is None else f"{self.code} (HTTP {self.status})"
        ids = ", ".join(
            f"{name}={value}"
            for name, value in (("trace_id", self.trace_id), ("request_id", self.request_id))
            if value
        )
        text = f"{head}: {self.detail or self.message}"
        if self.retryable:
            text += " [retryable"
            if self.retry_after is not None:
                text += f" after {self.retry_after:g}s"
            text += "]"
        return f"{text} ({ids})" if ids else text

    def __repr__(self) -> str:
        return (
            f"UpstreamError(code={self.code!r}, status={self.status!r}, "
            f"retryable={self.retryable!r}, trace_id={self.trace_id!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor arguments are lost by Exception's default pickling, and
        # task queues and multiprocessing pickle exceptions.
        return (_rebuild_error, (self.as_dict(),))

    def as_dict(self) -> dict[str, Any]:
        """Every constructor argument, JSON-safe: what pickling rebuilds the error from, and a
        snapshot for logs."""
        return {
            "code": self.code,
            "message": self.message,
            "detail": self.detail,
            "status": self.status,
            "trace_id": self.trace_id,
            "request_id": self.request_id,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "param": self.param,
            "task_id": self.task_id,
        }

    def final_message(self) -> str:
        """``message`` for an edit Retouch has stopped retrying: without the promise of
        another attempt that retryable errors carry."""
        return " ".join(self.message.replace(TRY_AGAIN, "").split())

    def gave_up_message(self, attempts: int) -> str:
        """The English message for an edit that failed for good after ``attempts`` tries:
        ``final_message``, and how many tries it had when the failure was worth retrying."""
        if not self.retryable:
            return self.message
        return english((self.final_message(), TRIED.english(count=attempts)))


def translated_message(code: str, stored: str) -> str:
    """An edit's stored (English) error message in the active language, for a page.

    A message this module built (a category's, without the promise of another attempt once
    Retouch gave up, with the number of tries) is rebuilt from its pieces; any other that is
    exactly a message of the catalogue is translated whole; anything else is shown as it was
    stored. ``code`` (``Edit.error_code``) stands in for a message that was never stored.
    """
    if not (stored or "").strip():
        category = _CODE_CATEGORY.get(code)
        return translate_pieces(without_retry(CATEGORIES[category][0])) if category else ""
    translated = translate_stored(stored)
    if translated is not None:
        return translated
    return gettext(stored)


def _rebuild_error(state: dict[str, Any]) -> UpstreamError:
    return UpstreamError(**state)


def _category(code: str, status: int | None, param: str | None, detail: str) -> str:
    """Pick the category from the status first (it is authoritative about retrying), letting
    the code refine it only within what that status allows."""
    known = _CODE_CATEGORY.get(code)
    if status is None or 200 <= status < 300:
        # No status (callback, task record) or an error inside a 200: the code is all we have.
        if known is None:
            return "unknown_failure"
        if known == "bad_request":
            return _bad_request_category(param, detail)
        return known
    if known is not None and known in _STATUS_REFINEMENTS.get(status, ()):
        return known
    if status in (400, 422):
        return _bad_request_category(param, detail)
    if status in _STATUS_CATEGORY:
        return _STATUS_CATEGORY[status]
    return "unknown_server_error" if status >= 500 else "unknown_client_error"


def _bad_request_category(param: str | None, detail: str) -> str:
    if param in _PARAM_CATEGORY:
        return _PARAM_CATEGORY[param]
    if param:
        return "bad_setting"
    # The gateway names no param; its messages do mention the mask when that is the problem.
    if "mask" in detail.lower():
        return "bad_mask"
    return "bad_request"


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait, from ``Retry-After`` (delta-seconds or an HTTP date) or OpenAI's
    ``retry-after-ms``; None when absent or unreadable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms:
        try:
            return _clamp(float(ms) / 1000.0)
        except ValueError:
            pass
    value = (lowered.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return _clamp(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return _clamp(when.timestamp() - (time.time() if now is None else now))


def _clamp(seconds: float) -> float | None:
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def error_from_body(
    body: Mapping[str, Any],
    *,
    status: int | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> UpstreamError:
    """Both error shapes: the gateway's ``{success:false, error:{code,message}, trace_id}`` and
    OpenAI's ``{error:{message,type,param,code}}``; also a bare ``{message}``."""
    err = body.get("error")
    code = param = None
    detail = ""
    if isinstance(err, Mapping):
        code = _text(err.get("code")) or _text(err.get("type"))
        # OpenAI puts "insufficient_quota" in type on some endpoints and code on others.
        if _text(err.get("type")) == "insufficient_quota":
            code = "insufficient_quota"
        detail = _text(err.get("message")) or ""
        param = _text(err.get("param"))
    elif isinstance(err, str):
        detail = err
    if not detail:
        detail = _text(body.get("message")) or _text(body.get("detail")) or ""
    if not code:
        code = _STATUS_CODE.get(status or 0) or ("http_error" if status else "upstream_error")
    return UpstreamError(
        code,
        detail=_truncate(detail),
        status=status,
        trace_id=_text(body.get("trace_id")),
        request_id=request_id,
        retry_after=retry_after,
        param=param,
    )


def error_from_http(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    request_id: str | None = None,
) -> UpstreamError:
    """A non-2xx answer, whatever its body: JSON of either shape, or an HTML proxy page."""
    retry_after = parse_retry_after(headers)
    parsed = _loads(body)
    if isinstance(parsed, Mapping):
        return error_from_body(
            parsed, status=status, request_id=request_id, retry_after=retry_after
        )
    return UpstreamError(
        _STATUS_CODE.get(status, "http_error"),
        detail=_truncate(_plain_text(body)) or f"HTTP {status} with an empty body",
        status=status,
        request_id=request_id,
        retry_after=retry_after,
    )


def is_error_body(body: Mapping[str, Any]) -> bool:
    """A body that reports failure even if it came with a 2xx status (callbacks always do)."""
    return body.get("success") is False or bool(body.get("error"))


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


_TAG = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def _plain_text(body: bytes) -> str:
    """Proxy error pages are HTML; keep their words for the log, not their markup."""
    text = body[:20_000].decode("utf-8", errors="replace")
    return _SPACE.sub(" ", _TAG.sub(" ", text)).strip()


def _truncate(text: str) -> str:
    return text if len(text) <= _DETAIL_MAX_CHARS else text[: _DETAIL_MAX_CHARS - 1] + "…"
