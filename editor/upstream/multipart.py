"""The body of an edit: multipart/form-data streamed from the caller's files.

Source images can be ~50 MB each and up to 16 of them, so the body is never assembled in
memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from django.utils.translation import gettext as _
from requests_toolbelt import MultipartEncoder

from .capabilities import (
    OPTIONS,
    InvalidEditRequest,
    ModelCapabilities,
    normalize_content_type,
    stream_size,
)
from .schema import EditRequest, ImageInput

# Optional fields, in the order they are sent; all go as text. ``user`` is the app's, not
# a setting of the model.
_OPTION_FIELDS = (*OPTIONS, "user")

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def edit_body(
    req: EditRequest,
    model: ModelCapabilities,
    *,
    callback: bool,
    extra: Iterable[tuple[str, str]] = (),
) -> MultipartEncoder:
    """The request body for ``req``, with ``extra`` text fields (how the answer is to come:
    ``stream``, ``partial_images``); raises InvalidEditRequest for a file it cannot size."""
    return MultipartEncoder(fields=list(_fields(req, model, callback=callback, extra=extra)))


def _fields(
    req: EditRequest,
    model: ModelCapabilities,
    *,
    callback: bool,
    extra: Iterable[tuple[str, str]] = (),
) -> Iterator[tuple]:
    yield "model", req.model
    yield "prompt", req.prompt
    for name in _OPTION_FIELDS:
        value = getattr(req, name)
        if name == "user" and not model.takes_user:
            # The app's own id, not a setting anyone chose: left out where the model takes
            # only model, prompt and image (nano-banana), rather than refused.
            continue
        if value is not None:
            yield name, str(value)
    if callback and req.callback_url:
        yield "callback_url", req.callback_url
    yield from extra
    # Text fields first: a server that rejects a setting can answer before the big files.
    for index, image in enumerate(req.images):
        yield model.image_field, _file_part(image, f"image{index + 1}", "images")
    if req.mask is not None:
        yield "mask", _file_part(req.mask, "mask", "mask")


def _file_part(image: ImageInput, fallback_name: str, field: str) -> tuple[str, Any, str]:
    content_type = normalize_content_type(image.content_type)
    filename = image.filename or f"{fallback_name}.{_EXTENSIONS.get(content_type, 'png')}"
    return filename, _UploadStream(image, field), content_type


class _UploadStream:
    """A caller's file as a sized, read-only stream for MultipartEncoder.

    Without it the encoder would copy a BytesIO whole (it calls ``getvalue()``) and could not
    size file-likes that have no descriptor. Reads stop at the size measured up front, so the
    body always matches the Content-Length we announced.
    """

    def __init__(self, image: ImageInput, field: str) -> None:
        fileobj: BinaryIO = image.fileobj
        try:
            # Rewound, so that a retry sends the whole file again.
            if fileobj.seekable():
                fileobj.seek(0)
        except (AttributeError, OSError, ValueError):
            pass
        size = stream_size(fileobj)
        if size is None:
            raise InvalidEditRequest(
                {
                    field: [
                        _("Retouch could not read “%(name)s”. Upload it again.")
                        % {"name": image.filename}
                    ]
                }
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
