"""What the simulator remembers about requests, and the faults tests can queue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = frozenset(
    {"http", "openai_error", "bare", "hang", "malformed", "disconnect", "callback"}
)
CALLBACK_MODES = frozenset({"lost", "duplicate", "late", "fail"})
DEFAULT_STATUS = {"http": 500, "openai_error": 400, "bare": 502}
DEFAULT_ERROR_CODES = {429: "too_many_requests", 500: "api_error"}
# The kinds that can break a stream mid-way (``after_partials``).
MID_STREAM_KINDS = frozenset({"http", "openai_error", "hang", "malformed", "disconnect"})


@dataclass
class RecordedRequest:
    """One edits, generations or tasks request as the simulator saw it (bodies are not kept).

    ``kind`` is ``edit``, ``generation`` or ``tasks``, so that readers of ``/_sim/requests``
    need not know the paths.

    ``status`` is ``None`` while the request is still being answered, and stays ``None`` when
    no response was sent (the ``disconnect`` fault, or a client that went away).
    """

    method: str
    path: str
    headers: dict[str, str]
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    body_size: int = 0
    status: int | None = None
    # A streamed answer: the ``type`` of each event sent, in order.
    events: list[str] = field(default_factory=list)
    kind: str = ""


@dataclass
class Fault:
    """A queued misbehaviour; ``options`` are the keyword arguments given to ``push_fault``."""

    kind: str
    options: dict[str, Any]

    @property
    def mid_stream(self) -> bool:
        """A fault that breaks a stream after some partial images, not the answer's start."""
        return self.options.get("after_partials") is not None


def make_fault(kind: str, **options: Any) -> Fault:
    """Check a fault description, raising ``ValueError`` for anything the simulator can't do."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
    if kind in DEFAULT_STATUS:
        status = options.get("status", DEFAULT_STATUS[kind])
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"fault {kind!r} needs an HTTP status, got {status!r}")
    if kind == "hang":
        seconds = options.get("seconds", 30)
        if not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"fault 'hang' needs seconds >= 0, got {seconds!r}")
    if kind == "callback":
        mode = options.get("mode")
        if mode not in CALLBACK_MODES:
            raise ValueError(f"fault 'callback' needs mode in {sorted(CALLBACK_MODES)}")
    after = options.get("after_partials")
    if after is not None:
        if kind not in MID_STREAM_KINDS:
            kinds = sorted(MID_STREAM_KINDS)
            raise ValueError(f"fault {kind!r} cannot break a stream; only {kinds} can")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ValueError(f"'after_partials' must be a whole number >= 0, got {after!r}")
    return Fault(kind, dict(options))


def new_trace_id() -> str:
    return str(uuid.uuid4())


def gateway_error(code: str, message: str, trace_id: str | None = None) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": code, "message": message},
        "trace_id": trace_id or new_trace_id(),
    }
