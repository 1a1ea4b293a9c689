"""Decoding uploads and drawing the fake "edited" (or generated) results.

The results have to look edited at a glance (so a demo is convincing and a test can tell a
result from its source) while staying deterministic and fast: the sources are laid out on one
canvas, tinted, and the prompt is written in a banner. A mask limits all of that to its
transparent area, exactly like the real API is supposed to. A generation has no sources: its
canvas is a gradient and a disc in colours taken from the prompt, then drawn on the same way.
"""

from __future__ import annotations

import colorsys
import io
import math
import warnings
import zlib
from dataclasses import dataclass
from typing import IO

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

# The formats the API accepts as sources, named as Pillow names them.
ACCEPTED_FORMATS = frozenset({"PNG", "JPEG", "WEBP"})
# Sources are shrunk to this right after decoding so that holding them (e.g. until a callback
# task runs) costs little.
WORKING_SIZE = 2048
# Results are drawn with their longer side at most this and scaled up (nearest neighbour) to
# the size asked for: a 3840x2160 PNG then costs about 0.2 s of CPU instead of 0.6 s, because
# repeated pixels are cheap to compress. A fake needs no more detail than that.
DRAW_SIZE = 1536
BACKGROUND = (32, 32, 36, 255)
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


@dataclass
class Decoded:
    """What the simulator learnt from one uploaded file."""

    format: str | None
    width: int | None
    height: int | None
    mode: str | None
    has_alpha: bool
    image: Image.Image | None = None
    error: str | None = None


def decode(fp: IO[bytes]) -> Decoded:
    """Decode an uploaded image fully (a truncated file must fail here, not later)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(fp)
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return Decoded(None, None, None, None, False, error=_describe(exc))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return Decoded(None, None, None, None, False, error="the image has too many pixels")
    info = Decoded(
        format=image.format,
        width=image.width,
        height=image.height,
        mode=image.mode,
        has_alpha=_has_alpha(image),
    )
    working = _to_rgba(image)
    working.thumbnail((WORKING_SIZE, WORKING_SIZE))
    info.image = working
    return info


def _describe(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "it is not an image the server can decode"
    return f"it could not be decoded ({exc})"


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _to_rgba(image: Image.Image) -> Image.Image:
    if image.mode == "RGBA":
        return image
    try:
        return image.convert("RGBA")
    except ValueError:
        # 16-bit and float greyscale have no direct path to RGBA.
        return image.convert("L").convert("RGBA")


@dataclass
class RenderSpec:
    """Everything that shapes the results of one edits request."""

    prompt: str
    width: int
    height: int
    n: int
    output_format: str  # png, jpeg or webp
    compression: int | None  # 0-100, jpeg/webp only
    transparent: bool
    generated: bool = False  # from the prompt alone (no sources)


def render(sources: list[Image.Image], mask: Image.Image | None, spec: RenderSpec) -> list[bytes]:
    """Encode ``spec.n`` edited images, each tinted a little differently."""
    return [encode(image, spec) for image in draw(sources, mask, spec)]


def draw(
    sources: list[Image.Image], mask: Image.Image | None, spec: RenderSpec
) -> list[Image.Image]:
    """The ``spec.n`` edited images, at the drawing scale (``encode`` brings them to size)."""
    size = draw_size(spec.width, spec.height)
    if not sources:
        sources = [_generated_canvas(spec.prompt, size, spec.transparent)]
    if not spec.transparent and all(_opaque(source) for source in sources):
        # Nothing to keep see-through: drawing without an alpha channel is about 3× cheaper.
        sources = [source.convert("RGB") for source in sources]
    original = ImageOps.fit(sources[0], size, Image.Resampling.BILINEAR)
    canvas = original if len(sources) == 1 else _compose(sources, size, spec.transparent)
    editable = _editable_area(mask, size)
    seed = zlib.crc32(spec.prompt.encode("utf-8"))
    return [_one_result(original, canvas, editable, spec, seed, index) for index in range(spec.n)]


def draw_size(width: int, height: int) -> tuple[int, int]:
    """The size a ``width`` x ``height`` result is drawn at (itself up to ``DRAW_SIZE``)."""
    scale = math.ceil(max(width, height) / DRAW_SIZE)
    return max(1, round(width / scale)), max(1, round(height / scale))


def encode(image: Image.Image, spec: RenderSpec) -> bytes:
    """A drawn image at the size asked for, in the output format asked for."""
    if image.size != (spec.width, spec.height):
        image = image.resize((spec.width, spec.height), Image.Resampling.NEAREST)
    return _encode(image, spec)


def partial(image: Image.Image, spec: RenderSpec, index: int, count: int) -> bytes:
    """Partial image ``index`` of ``count``: the result in coarse blocks, finer each time."""
    block = 2 ** (count - index + 3)  # 2 partials: 32 then 16 pixel blocks
    small = image.resize(
        (max(1, image.width // block), max(1, image.height // block)), Image.Resampling.BOX
    )
    return encode(small, spec)


def _generated_canvas(prompt: str, size: tuple[int, int], transparent: bool) -> Image.Image:
    """A plain picture for a prompt: a vertical gradient and a disc, colours from the prompt.

    Drawn from a 256-pixel gradient scaled up, so it costs about what laying out a source does.
    With a transparent background only the disc is opaque.
    """
    seed = zlib.crc32(prompt.encode("utf-8"))
    top, bottom, disc = (
        tuple(round(c * 255) for c in colorsys.hsv_to_rgb((seed >> shift) % 360 / 360, s, v))
        for shift, s, v in ((0, 0.55, 0.35), (9, 0.65, 0.85), (18, 0.8, 0.95))
    )
    if transparent:
        canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    else:
        gradient = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
        lower, upper = Image.new("RGB", size, bottom), Image.new("RGB", size, top)
        canvas = Image.composite(lower, upper, gradient)
    width, height = size
    radius = min(width, height) // 4
    centre = (width // 2 + (seed % 5 - 2) * width // 10, height * 2 // 5)
    box = (centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius)
    ImageDraw.Draw(canvas).ellipse(box, fill=(*disc, 255)[: len(canvas.mode)])
    return canvas


def _opaque(image: Image.Image) -> bool:
    return image.mode != "RGBA" or image.getchannel("A").getextrema() == (255, 255)


def _compose(sources: list[Image.Image], size: tuple[int, int], transparent: bool) -> Image.Image:
    """Several sources side by side in a grid, each cropped to fill its cell."""
    width, height = size
    mode = sources[0].mode
    background = (0, 0, 0, 0) if transparent else BACKGROUND
    canvas = Image.new(mode, size, background[: len(mode)])
    cols = math.ceil(math.sqrt(len(sources)))
    rows = math.ceil(len(sources) / cols)
    gutter = max(2, width // 128)
    cell_w = (width - gutter * (cols + 1)) // cols
    cell_h = (height - gutter * (rows + 1)) // rows
    for index, source in enumerate(sources):
        row, col = divmod(index, cols)
        cell = ImageOps.fit(source, (cell_w, cell_h), Image.Resampling.BILINEAR)
        x = gutter + col * (cell_w + gutter)
        y = gutter + row * (cell_h + gutter)
        canvas.paste(cell, (x, y), cell if cell.mode == "RGBA" else None)
    return canvas


def _editable_area(mask: Image.Image | None, size: tuple[int, int]) -> Image.Image | None:
    """255 where the edit may change the image (mask alpha 0), 0 where it must not."""
    if mask is None:
        return None
    alpha = ImageOps.fit(mask, size, Image.Resampling.NEAREST).getchannel("A")
    return alpha.point(lambda a: 255 if a == 0 else 0)


def _one_result(
    original: Image.Image,
    canvas: Image.Image,
    editable: Image.Image | None,
    spec: RenderSpec,
    seed: int,
    index: int,
) -> Image.Image:
    hue = ((seed % 360) + index * 67) % 360 / 360
    red, green, blue = (round(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.75, 0.95))
    tint = Image.new(canvas.mode, canvas.size, (red, green, blue, 255)[: len(canvas.mode)])
    edited = Image.blend(canvas, tint, 0.35)
    if canvas.mode == "RGBA":
        # Blending with an opaque tint would fill the transparent background; keep it clear.
        edited.putalpha(canvas.getchannel("A"))
    _draw_banner(edited, spec, index, (red, green, blue))
    if spec.transparent:
        _clear_frame(edited)
    result = edited if editable is None else Image.composite(edited, original, editable)
    if spec.transparent or result.mode == "RGB":
        return result
    # Sources with alpha would otherwise turn black where transparent once saved without alpha.
    return Image.alpha_composite(Image.new("RGBA", result.size, BACKGROUND), result)


def _draw_banner(image: Image.Image, spec: RenderSpec, index: int, accent: tuple) -> None:
    width, height = image.size
    font_size = max(10, min(width, height) // 28)
    font = _font(font_size)
    draw = ImageDraw.Draw(image, "RGBA")  # blends the half-transparent band on RGB too
    band = font_size * 2
    draw.rectangle((0, height - band, width, height), fill=(0, 0, 0, 200))
    draw.rectangle((0, height - band, width // 64 + 4, height), fill=(*accent, 255))
    # Only the start of a long prompt can fit; measuring 32,000 characters would be slow.
    label = f"#{index + 1}/{spec.n}  {' '.join(spec.prompt[:400].split())}"
    text = _fit_text(draw, label, font, width - band)
    draw.text((width // 64 + 4 + font_size // 2, height - band + font_size // 2), text, font=font)
    badge = "SIMULATED IMAGE" if spec.generated else "SIMULATED EDIT"
    draw.text((font_size // 2, font_size // 2), badge, font=font, fill=(255, 255, 255, 230))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):
        # Pillow without FreeType only has the small bitmap font.
        return ImageFont.load_default()


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: object, max_width: int) -> str:
    if draw.textlength(text, font=font) <= max_width:  # type: ignore[arg-type]
        return text
    # Binary search for the longest prefix that fits, with an ellipsis.
    low, high = 0, len(text)
    for _ in range(32):
        if low >= high:
            break
        mid = (low + high + 1) // 2
        if draw.textlength(text[:mid] + "…", font=font) <= max_width:  # type: ignore[arg-type]
            low = mid
        else:
            high = mid - 1
    return text[:low] + "…"


def _clear_frame(image: Image.Image) -> None:
    """Make a border transparent, so a transparent-background result really has alpha 0 pixels."""
    width, height = image.size
    border = max(4, min(width, height) // 32)
    alpha = image.getchannel("A")
    draw = ImageDraw.Draw(alpha)
    draw.rectangle((0, 0, width - 1, height - 1), outline=0, width=border)
    image.putalpha(alpha)


def _encode(image: Image.Image, spec: RenderSpec) -> bytes:
    out = io.BytesIO()
    quality = 90 if spec.compression is None else spec.compression
    if spec.output_format == "jpeg":
        image.convert("RGB").save(out, "JPEG", quality=max(1, min(95, quality)))
    elif spec.output_format == "webp":
        if not spec.transparent:
            image = image.convert("RGB")
        image.save(out, "WEBP", quality=quality, method=0)
    else:
        if not spec.transparent:
            image = image.convert("RGB")
        # Level 1: encoding speed matters more than size for a local fake.
        image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def content_type(output_format: str) -> str:
    """The MIME type of an output format."""
    return CONTENT_TYPES[output_format]
