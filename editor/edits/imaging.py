"""Checking what people upload and decoding what the service returns, safely.

Uploads are judged from their headers first (Pillow's `Image.open` reads the header only:
format, width, height, mode), so a renamed PDF, an unsupported format or a decompression
bomb is refused in plain words before a single pixel is decoded. Only then is the data
past the header read, and only as far as a check needs it:

- PNG: `verify()` walks every chunk to IEND checking its CRC, nothing inflated, so a
  truncated or corrupted file is refused at the cost of reading it once.
- JPEG: decoded at 1/8 scale (`draft`), which still reads every entropy-coded byte, so
  truncation shows, in about 1/64 of a full decode's memory (progressive files still
  buffer their coefficients: up to ~150 MB for 50 megapixels, hence the slot below).
- WebP: Pillow's demuxer refuses a truncated file when opening it; a full decode (4 bytes
  a pixel) would add nothing the service would not refuse itself.
- The mask is decoded whole, because its alpha channel must be read.

Everything past the header is read holding one of DECODE_SLOTS slots of this process, so
eight people uploading sixteen 50-megapixel photos at once cost one decode's memory per
web process, not 128. Measured with benchmarks/upload_decode.py (README).
"""

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
THUMBNAIL_SIZE = (640, 640)

# Full decodes at once in one process. One, because the largest (a 50-megapixel RGBA mask)
# needs ~250 MB, and with two cores and two web workers a second decode per process would
# only wait for the CPU while doubling the memory. A plain semaphore rather than a budget
# in pixels: what the header checks leave to decode is rare and bounded by
# RETOUCH_MAX_PIXELS, and the benchmark stays far under its target with it.
DECODE_SLOTS = 1
# How long a check waits for a slot before the form says "busy" rather than hanging.
DECODE_WAIT_SECONDS = 30.0
_decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)


@dataclass(frozen=True)
class ImageFacts:
    format: str
    content_type: str
    width: int
    height: int
    has_alpha: bool  # an alpha band or a transparent colour: what a mask needs


def pixel_limit(max_pixels: int) -> int:
    """RETOUCH_MAX_PIXELS, capped by Pillow's own decompression-bomb guard.

    Pillow warns above Image.MAX_IMAGE_PIXELS (~89 megapixels) and refuses to open above
    twice that; the warning is not turned into an error here (warnings filters are
    process-wide, not safe to change per request in a threaded server): this limit refuses
    those images instead, with their dimensions in the message.
    """
    guard = Image.MAX_IMAGE_PIXELS
    return min(max_pixels, guard) if guard else max_pixels


@contextmanager
def decode_slot(name: str | None = None, wait: float | None = None) -> Iterator[None]:
    """Hold one of this process's DECODE_SLOTS while decoding.

    When none frees up within `wait` seconds (DECODE_WAIT_SECONDS by default): a
    ValidationError for an upload (`name` given), else TimeoutError (an OSError, so
    thumbnails treat it as "not now").
    """
    if not _decode_slots.acquire(timeout=DECODE_WAIT_SECONDS if wait is None else wait):
        if name is None:
            raise TimeoutError("no decode slot became free")
        raise ValidationError(
            _(
                "Retouch is busy checking other photos and could not check “%(name)s”. "
                "Try again in a minute."
            )
            % {"name": name},
            code="busy",
        )
    try:
        yield
    finally:
        _decode_slots.release()


@contextmanager
def _reading(fileobj: BinaryIO, name: str) -> Iterator[None]:
    """Pillow's complaints about an upload as plain ValidationErrors; the file rewound."""
    fileobj.seek(0)
    try:
        yield
    except Image.DecompressionBombError as exc:
        raise ValidationError(
            _("“%(name)s” has too many pixels to process safely.") % {"name": name},
            code="too_many_pixels",
        ) from exc
    except UnidentifiedImageError as exc:
        raise ValidationError(
            _("“%(name)s” is not an image Retouch can read. Use PNG, JPEG or WebP.")
            % {"name": name},
            code="not_an_image",
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            _("“%(name)s” is damaged or incomplete and could not be opened.") % {"name": name},
            code="undecodable",
        ) from exc
    finally:
        fileobj.seek(0)


def read_header(
    fileobj: BinaryIO, name: str, *, max_bytes: int, max_pixels: int, size: int | None = None
) -> ImageFacts:
    """Check one upload from its size and header alone and describe it, or raise
    ValidationError in plain words. No pixel is decoded: check_data() reads the rest."""
    if size is None:
        fileobj.seek(0, io.SEEK_END)
        size = fileobj.tell()
    if size == 0:
        raise ValidationError(_("“%(name)s” is empty.") % {"name": name}, code="empty")
    if size > max_bytes:
        raise ValidationError(
            _("“%(name)s” is %(size)s; the limit is %(limit)s.")
            % {"name": name, "size": filesizeformat(size), "limit": filesizeformat(max_bytes)},
            code="too_large",
        )
    with _reading(fileobj, name), Image.open(fileobj) as image:
        width, height = image.size
        # Phones save photos as MPO: a JPEG with further pictures appended, which is a
        # JPEG to every reader (and to the API).
        fmt = "JPEG" if image.format == "MPO" else image.format or ""
        has_alpha = "A" in image.getbands() or "transparency" in image.info
    limit = pixel_limit(max_pixels)
    if width * height > limit:
        raise ValidationError(
            _(
                "“%(name)s” is %(size)s pixels, more than Retouch can process "
                "(%(megapixels)s megapixels at most)."
            )
            % {"name": name, "size": f"{width}×{height}", "megapixels": f"{limit / 1_000_000:.0f}"},
            code="too_many_pixels",
        )
    if fmt not in CONTENT_TYPES:
        if fmt:
            message = _("“%(name)s” is a %(format)s image. Use PNG, JPEG or WebP.")
        else:
            message = _("“%(name)s” is an image of an unknown format. Use PNG, JPEG or WebP.")
        raise ValidationError(message % {"name": name, "format": fmt}, code="unsupported_format")
    return ImageFacts(fmt, CONTENT_TYPES[fmt], width, height, has_alpha)


def check_data(fileobj: BinaryIO, name: str, facts: ImageFacts) -> None:
    """Prove that an upload read_header() accepted is whole (module docstring: how far
    each format is read), or raise ValidationError in plain words."""
    if facts.format == "WEBP":
        return  # the demuxer refused a truncated file when read_header() opened it
    with decode_slot(name), _reading(fileobj, name), Image.open(fileobj) as image:
        read_data(image)


def read_data(image: Image.Image, *, whole: bool = False) -> None:
    """Read an opened image past its header: all of it (`whole`), or as little as proving
    it whole needs. Every upload's data is read here, always holding a decode slot."""
    if whole:
        image.load()
    elif image.format == "PNG":
        image.verify()
    elif image.format in ("JPEG", "MPO"):
        image.draft(None, (max(1, image.width // 8), max(1, image.height // 8)))
        image.load()


def check_mask_header(facts: ImageFacts) -> None:
    """Refuse, from its header, a mask the service would refuse (ValidationError)."""
    if facts.format != "PNG":
        raise ValidationError(_("The mask must be a PNG image."), code="mask_alpha")
    if not facts.has_alpha:
        raise ValidationError(
            _(
                "The mask has no transparency. Paint the area to change, or upload a PNG "
                "whose transparent pixels mark it."
            ),
            code="mask_alpha",
        )


def check_mask_alpha(fileobj: BinaryIO) -> None:
    """Refuse a mask with nothing fully transparent (ValidationError). The one check that
    needs every pixel: the mask is decoded whole, holding a decode slot."""
    name = _("the mask")
    with decode_slot(name), _reading(fileobj, name), Image.open(fileobj) as image:
        read_data(image, whole=True)
        # A band of its own needs no conversion (a 50-megapixel RGBA copy saved);
        # a transparent colour or palette entry does.
        source = image if "A" in image.getbands() else image.convert("RGBA")
        low, _high = source.getchannel("A").getextrema()
    if low != 0:
        raise ValidationError(
            _("The mask has no fully transparent area, so nothing would change."),
            code="mask_alpha",
        )


def result_size(data: bytes) -> tuple[int, int]:
    """A result's width and height from its header (OSError when it is not an image).

    `Image.open` reads the header only (a PNG's IHDR, a JPEG's SOF marker): no pixel is
    decoded and BytesIO shares the bytes rather than copying them, so a 4K result costs
    microseconds and no memory here. Results are decoded once, by make_thumbnail(), from
    the same bytes before they are committed (services.store_results).
    """
    with Image.open(io.BytesIO(data)) as image:
        return image.size


# The last shrink is bilinear from at most this many times the thumbnail's size: reduce()
# (a box average by a whole factor, cheap) or a JPEG's reduced-scale decode get there.
REDUCING_GAP = 2.0


def make_thumbnail(fileobj: BinaryIO, wait: float | None = None) -> bytes:
    """Decode a result and shrink it to a WebP thumbnail for the gallery (one of
    DECODE_ERRORS when it cannot be decoded, or not now: no decode slot within `wait`
    seconds, DECODE_WAIT_SECONDS by default)."""
    with Image.open(fileobj) as image:
        guard = Image.MAX_IMAGE_PIXELS
        if guard and image.width * image.height > guard:
            raise Image.DecompressionBombError(
                f"{image.width}×{image.height} is more than {guard} pixels"
            )
        with decode_slot(wait=wait):
            # A JPEG is decoded at 1/2, 1/4 or 1/8 scale (draft, chosen before load; still
            # at least REDUCING_GAP times the thumbnail): a 3840×2160 one as 1920×1080,
            # a quarter of the pixels and memory. The scale is chosen before the EXIF turn,
            # which the square box makes no difference to. Other formats ignore draft: a
            # PNG is inflated whole once (no reduced decode exists for it), then shrunk by
            # reduce() inside thumbnail().
            image.draft(None, _draft_size(image.size))
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            thumb = image
            if thumb.mode not in ("RGB", "RGBA"):
                thumb = thumb.convert("RGBA" if "A" in thumb.getbands() else "RGB")
            # Bilinear (antialiased when shrinking), reducing_gap and WebP method 0 cost a
            # quarter of the defaults (~75 → ~20 ms for 1024²), at no visible loss in a card.
            thumb.thumbnail(THUMBNAIL_SIZE, Image.Resampling.BILINEAR, reducing_gap=REDUCING_GAP)
            out = io.BytesIO()
            thumb.save(out, "WEBP", quality=82, method=0)
    return out.getvalue()


def _draft_size(size: tuple[int, int]) -> tuple[int, int]:
    """The smallest decode a thumbnail of an image this size can be made from well."""
    width, height = size
    scale = min(THUMBNAIL_SIZE[0] / width, THUMBNAIL_SIZE[1] / height, 1.0) * REDUCING_GAP
    return max(1, round(width * scale)), max(1, round(height * scale))


# What decoding a damaged or hostile image can raise (TimeoutError, an OSError: no slot).
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)
