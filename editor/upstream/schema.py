"""The typed values that cross the boundary between the image service client and the app.

Nothing here knows the wire format; the client fills these in from whatever the service sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from .errors import UpstreamError


@dataclass(frozen=True)
class ImageInput:
    """A file to upload. The caller opens and closes it; the client only seeks and reads,
    so the same input can be sent again on a retry."""

    filename: str
    content_type: str
    fileobj: BinaryIO


@dataclass
class EditRequest:
    model: str
    prompt: str
    images: list[ImageInput]
    mask: ImageInput | None = None
    n: int | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    input_fidelity: str | None = None
    response_format: str | None = None
    user: str | None = None
    callback_url: str | None = None


@dataclass
class GenerateRequest:
    """An image created from the prompt alone (``images/generations``): the options of an
    edit without its images, mask and ``input_fidelity`` (which is about matching source
    images). A type of its own, not an ``EditRequest`` without images, so that an edit
    whose photos went missing is refused rather than quietly sent as a generation."""

    model: str
    prompt: str
    n: int | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    response_format: str | None = None
    user: str | None = None
    callback_url: str | None = None


@dataclass(frozen=True)
class ResultImage:
    data: bytes = field(repr=False)
    content_type: str
    revised_prompt: str | None = None
    url: str | None = None


@dataclass
class EditResult:
    images: list[ResultImage]
    created: int | None = None
    usage: dict | None = None
    trace_id: str | None = None
    task_id: str | None = None
    request_id: str | None = None
    elapsed: float | None = None
    output_format: str | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    duration: float = 0.0


@dataclass(frozen=True)
class Accepted:
    """The gateway took an edit in callback mode; the result arrives later at the callback
    URL (or through the Tasks API under ``task_id``)."""

    task_id: str
    trace_id: str | None = None
    request_id: str | None = None


@dataclass
class TaskInfo:
    id: str
    trace_id: str | None = None
    type: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    elapsed: float | None = None
    finished: bool = False
    result: EditResult | None = None
    error: UpstreamError | None = None
