"""Previews: the partial images a streamed edit sends while it runs, kept small and only
until the edit is final.

A preview is shrunk to a WebP of at most PREVIEW_SIZE as it arrives (a few kilobytes)
and stored in the row itself, not as a file: it lives for a minute, is shown inline
(``data:`` URL, which the CSP allows for images) on the card and the detail page while
the edit is pending, and goes with its rows when the edit finishes, fails or is deleted,
on every path (a crashed worker or the reconciler included), with no file left behind.
"""

from __future__ import annotations

import base64
import io
import logging

from django.db import models, transaction
from django.utils import timezone
from PIL import Image

from ..imaging import DECODE_ERRORS, decode_slot
from .changes import Change
from .states import Status

log = logging.getLogger(__name__)

# A card shows its image at ~320 px; the detail page's preview is marked and softened.
PREVIEW_SIZE = (384, 384)


class PreviewImage(models.Model):
    edit = models.ForeignKey("edits.Edit", on_delete=models.CASCADE, related_name="previews")
    # The service's partial_image_index (0-based) within the attempt that sent it.
    index = models.PositiveSmallIntegerField()
    content_type = models.CharField(max_length=50, default="image/webp")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    data = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Preview {self.index} of edit {self.edit_id}"

    @property
    def data_url(self) -> str:
        encoded = base64.b64encode(bytes(self.data)).decode("ascii")
        return f"data:{self.content_type};base64,{encoded}"

    @classmethod
    def store(cls, edit, index: int, image: bytes) -> PreviewImage | None:
        """Keep a partial image of `edit` as a small preview, only while the caller still
        holds the edit's lease (a worker that lost it must not write for the edit any
        more); None when it did not, or the image does not decode."""
        try:
            data, (width, height) = shrink(image)
        except DECODE_ERRORS as exc:
            log.warning("Edit %s: preview %s skipped (%s)", edit.pk, index, exc)
            return None
        held = type(edit).objects.filter(
            pk=edit.pk, status=Status.RUNNING, lease_token=edit.lease_token
        )
        with transaction.atomic():
            if not edit.lease_token or not held.exists():
                return None
            preview = cls.objects.create(
                edit_id=edit.pk, index=index, width=width, height=height, data=data
            )
            Change.objects.record_edit(edit)  # open pages show it at once
            return preview

    @classmethod
    def discard(cls, edit) -> int:
        """Remove the previews of an edit that has its outcome."""
        deleted, _ = cls.objects.filter(edit_id=edit.pk).delete()
        return deleted


def shrink(image: bytes) -> tuple[bytes, tuple[int, int]]:
    """A partial image as a small WebP (one of DECODE_ERRORS when it does not decode). A
    partial is as large as the result (up to 4K), so it is decoded reduced where the
    format allows (JPEG) and holding one of the process's decode slots."""
    with Image.open(io.BytesIO(image)) as opened:
        guard = Image.MAX_IMAGE_PIXELS
        if guard and opened.width * opened.height > guard:
            raise Image.DecompressionBombError(f"{opened.width}×{opened.height} is too large")
        with decode_slot():
            opened.draft("RGB", (PREVIEW_SIZE[0] * 2, PREVIEW_SIZE[1] * 2))
            opened.load()
            small = opened if opened.mode in ("RGB", "RGBA") else opened.convert("RGBA")
            small.thumbnail(PREVIEW_SIZE, Image.Resampling.BILINEAR, reducing_gap=2.0)
            out = io.BytesIO()
            small.save(out, "WEBP", quality=60, method=0)
    return out.getvalue(), small.size
