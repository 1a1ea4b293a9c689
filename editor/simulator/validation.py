"""The gateway's request rules for ``images/edits`` and ``images/generations``, written from
the API contract: a generation is checked like an edit without images.

Every rejection is a ``BadRequest`` whose message names the offending field in plain words,
because that message is what the app ends up showing to a person.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

from PIL import Image

from . import imaging, models

MB = 1024 * 1024
BACKGROUNDS = ("transparent", "opaque", "auto")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
INPUT_FIDELITIES = ("high", "low")
RESPONSE_FORMATS = ("url", "b64_json")
BOOLEANS = {"true": True, "false": False}
MAX_PARTIAL_IMAGES = 3
IMAGE_FIELD = re.compile(r"^image(\[\d*\])?$")
# Output tokens per 1024x1024 image, scaled by area for other sizes.
OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "standard": 1056}
TOKENS_PER_INPUT_IMAGE = 323
# What each streamed partial image adds to the output tokens (the contract's "about 100").
TOKENS_PER_PARTIAL_IMAGE = 100


class BadRequest(Exception):
    """A request the gateway rejects with 400."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Upload:
    """One uploaded file with what decoding it told us (for the request log, too)."""

    name: str
    filename: str | None
    content_type: str | None
    file: IO[bytes]
    size: int
    decoded: imaging.Decoded | None = None

    def decode(self) -> imaging.Decoded:
        """Decode the file the first time; the request log and validation share the result."""
        if self.decoded is None:
            self.file.seek(0)
            self.decoded = imaging.decode(self.file)
        return self.decoded

    def describe(self) -> dict:
        """The request-log entry (a file too large to be valid is not decoded)."""
        decoded = self.decode() if self.size < 50 * MB else None
        return {
            "field": self.name,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "format": decoded.format if decoded else None,
            "width": decoded.width if decoded else None,
            "height": decoded.height if decoded else None,
            "mode": decoded.mode if decoded else None,
            "has_alpha": decoded.has_alpha if decoded else False,
        }


@dataclass
class EditJob:
    """A validated edits or generations request: what to render and how to answer.

    ``kind`` is ``edit`` or ``generation``; a generation has no ``sources`` and its result
    is drawn from the prompt alone.
    """

    model: str
    prompt: str
    n: int
    width: int
    height: int
    quality: str
    background: str
    output_format: str
    compression: int | None
    response_format: str
    callback_url: str | None
    sources: list[Image.Image] = field(repr=False)
    mask: Image.Image | None = field(repr=False)
    stream: bool = False
    partial_images: int = 0
    kind: str = "edit"

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def rules(self) -> models.Model:
        return models.MODELS[self.model]

    def render_spec(self) -> imaging.RenderSpec:
        return imaging.RenderSpec(
            prompt=self.prompt,
            width=self.width,
            height=self.height,
            n=self.n,
            output_format=self.output_format,
            compression=self.compression,
            transparent=self.background == "transparent",
            generated=self.kind == "generation",
        )

    def usage(self) -> dict:
        """Token counts: deterministic, so tests and the cost display can rely on them."""
        text_tokens = max(1, math.ceil(len(self.prompt) / 4))
        image_tokens = TOKENS_PER_INPUT_IMAGE * len(self.sources)
        per_image = OUTPUT_TOKENS[self.quality] * self.width * self.height / (1024 * 1024)
        output_tokens = round(per_image) * self.n
        if self.stream:
            output_tokens += TOKENS_PER_PARTIAL_IMAGE * self.partial_images
        input_tokens = text_tokens + image_tokens
        return {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
        }


def uploads_of(uploads: Iterable[Upload]) -> tuple[list[Upload], Upload | None]:
    """The source images (``image[]`` and ``image`` alike) and the mask, in the order sent."""
    images = [upload for upload in uploads if IMAGE_FIELD.match(upload.name)]
    masks = [upload for upload in uploads if upload.name == "mask"]
    return images, masks[0] if masks else None


def validate(fields: dict[str, list[str]], images: list[Upload], mask: Upload | None) -> EditJob:
    """Check an edits request against its model's rules; decode its images on the way."""
    model, rules, prompt = _model_and_prompt(fields)
    _check_fields_taken(model, rules, fields, mask)

    _check_image_count(model, rules, images)
    for position, upload in enumerate(images, start=1):
        _check_image(rules, upload, position)
    if mask is not None:
        _check_mask(mask, images[0])
    _choice(fields, "input_fidelity", INPUT_FIDELITIES, model)
    return _job(fields, model, rules, prompt, images, mask)


def validate_generation(fields: dict[str, list[str]]) -> EditJob:
    """Check a generations request: the same models and rules as edits, without images."""
    model, rules, prompt = _model_and_prompt(fields)
    if _first(fields, "input_fidelity") is not None:
        raise BadRequest(
            "'input_fidelity' is about matching source images; images/generations takes none."
        )
    _check_fields_taken(model, rules, fields, None)
    return _job(fields, model, rules, prompt, [], None)


def _model_and_prompt(fields: dict[str, list[str]]) -> tuple[str, models.Model, str]:
    model = _first(fields, "model") or models.DEFAULT_MODEL
    rules = models.MODELS.get(model)
    if rules is None:
        raise BadRequest(f"'model' must be one of {', '.join(models.MODELS)} (got {model!r}).")
    prompt = _first(fields, "prompt")
    if prompt is None or not prompt.strip():
        raise BadRequest("'prompt' is required and must not be empty.")
    if len(prompt) > rules.max_prompt:
        raise BadRequest(
            f"'prompt' is {len(prompt)} characters long; {model} accepts at most "
            f"{rules.max_prompt}."
        )
    return model, rules, prompt


def _job(
    fields: dict[str, list[str]],
    model: str,
    rules: models.Model,
    prompt: str,
    images: list[Upload],
    mask: Upload | None,
) -> EditJob:
    """The options both kinds of request share, checked; ``images`` empty for a generation."""
    n = _int_field(fields, "n", default=1)
    if not 1 <= n <= rules.max_n:
        raise BadRequest(f"'n' must be between 1 and {rules.max_n} (got {n}).")
    width, height = _size(model, rules, _first(fields, "size"), images[0] if images else None)
    quality = _choice(fields, "quality", rules.qualities, model)
    background = _choice(fields, "background", BACKGROUNDS, model) or "auto"
    output_format = _choice(fields, "output_format", OUTPUT_FORMATS, model) or "png"
    if background == "transparent" and output_format == "jpeg":
        raise BadRequest(
            "'background' transparent needs 'output_format' png or webp; jpeg has no alpha."
        )
    compression = None
    if _first(fields, "output_compression") is not None:
        compression = _int_field(fields, "output_compression", default=100)
        if not 0 <= compression <= 100:
            raise BadRequest(f"'output_compression' must be between 0 and 100 (got {compression}).")
    response_format = _response_format(model, rules, fields, n)

    callback_url = _first(fields, "callback_url")
    if callback_url is not None and not re.match(r"^https?://[^\s/]+", callback_url):
        raise BadRequest(f"'callback_url' must be an http or https URL (got {callback_url!r}).")
    stream, partial_images = _streaming(fields, n, callback_url)

    return EditJob(
        model=model,
        prompt=prompt,
        n=n,
        width=width,
        height=height,
        quality=_resolved_quality(quality, rules.square_png),
        background="transparent" if background == "transparent" else "opaque",
        output_format=output_format,
        compression=compression,
        response_format=response_format,
        callback_url=callback_url,
        sources=[upload.decode().image for upload in images],  # type: ignore[misc]
        mask=mask.decode().image if mask is not None else None,
        stream=stream,
        partial_images=partial_images,
        kind="edit" if images else "generation",
    )


def _check_fields_taken(
    model: str, rules: models.Model, fields: dict[str, list[str]], mask: Upload | None
) -> None:
    """Refuse what the model does not take, so that a client sending it anyway finds out."""
    sent = [name for name in models.KNOWN_FIELDS if _first(fields, name) is not None]
    if mask is not None:
        sent.append("mask")
    for name in sent:
        if name not in rules.takes:
            hint = f" ({rules.hint})" if rules.hint else ""
            raise BadRequest(f"'{name}' is not supported by {model}{hint}.")


def _response_format(model: str, rules: models.Model, fields: dict[str, list[str]], n: int) -> str:
    if rules.url_only:
        return "url"
    chosen = _choice(fields, "response_format", RESPONSE_FORMATS, model)
    if rules.b64_only_single and n > 1:
        if chosen == "b64_json":
            raise BadRequest(
                f"'response_format' b64_json needs n=1 for {model}; ask for url results "
                f"when n is {n}."
            )
        return "url"
    return chosen or "b64_json"


def _streaming(fields: dict[str, list[str]], n: int, callback_url: str | None) -> tuple[bool, int]:
    raw = _first(fields, "stream")
    stream = False
    if raw is not None:
        if raw.strip().lower() not in BOOLEANS:
            raise BadRequest(f"'stream' must be true or false (got {raw!r}).")
        stream = BOOLEANS[raw.strip().lower()]
    partial_images = _int_field(fields, "partial_images", default=0)
    if not 0 <= partial_images <= MAX_PARTIAL_IMAGES:
        raise BadRequest(
            f"'partial_images' must be between 0 and {MAX_PARTIAL_IMAGES} (got {partial_images})."
        )
    if stream and n != 1:
        raise BadRequest(f"'stream' needs n=1 (got n={n}).")
    if stream and _first(fields, "response_format") == "url":
        raise BadRequest("'stream' sends base64 images; it cannot be combined with url results.")
    if stream and callback_url is not None:
        raise BadRequest("'stream' cannot be combined with 'callback_url'.")
    return stream, partial_images


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def _int_field(fields: dict[str, list[str]], name: str, default: int) -> int:
    raw = _first(fields, name)
    if raw is None:
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise BadRequest(f"'{name}' must be a whole number (got {raw!r}).") from None


def _choice(
    fields: dict[str, list[str]], name: str, allowed: tuple[str, ...], model: str
) -> str | None:
    value = _first(fields, name)
    if value is not None and value not in allowed:
        raise BadRequest(
            f"'{name}' must be one of {', '.join(allowed)} for {model} (got {value!r})."
        )
    return value


def _check_image_count(model: str, rules: models.Model, images: list[Upload]) -> None:
    if not images:
        raise BadRequest("'image[]' is required: send at least one source image.")
    if rules.max_images == 1 and len(images) != 1:
        raise BadRequest(f"'image' must be exactly one image for {model} (got {len(images)}).")
    if len(images) > rules.max_images:
        raise BadRequest(
            f"'image[]' accepts at most {rules.max_images} images for {model} (got {len(images)})."
        )


def _label(upload: Upload, position: int) -> str:
    name = f" ({upload.filename})" if upload.filename else ""
    return f"'{upload.name}' #{position}{name}"


def _decoded(upload: Upload, label: str) -> imaging.Decoded:
    decoded = upload.decode()
    if decoded.error is not None:
        raise BadRequest(f"{label} is not a valid image: {decoded.error}.")
    return decoded


def _check_image(rules: models.Model, upload: Upload, position: int) -> None:
    label = _label(upload, position)
    if upload.size >= 50 * MB:
        raise BadRequest(f"{label} is {upload.size} bytes; images must be under 50 MB.")
    if rules.square_png and upload.size >= 4 * MB:
        raise BadRequest(f"{label} is {upload.size} bytes; dall-e-2 needs under 4 MB.")
    decoded = _decoded(upload, label)
    if decoded.format not in imaging.ACCEPTED_FORMATS:
        raise BadRequest(f"{label} is {decoded.format}; only PNG, JPEG and WebP are accepted.")
    if rules.square_png:
        if decoded.format != "PNG":
            raise BadRequest(f"{label} is {decoded.format}; dall-e-2 needs a PNG.")
        if decoded.width != decoded.height:
            raise BadRequest(
                f"{label} is {decoded.width}x{decoded.height}; dall-e-2 needs a square image."
            )


def _check_mask(mask: Upload, first: Upload) -> None:
    if mask.size > 4 * MB:
        raise BadRequest(f"'mask' is {mask.size} bytes; it must be at most 4 MB.")
    decoded = _decoded(mask, "'mask'")
    if decoded.format != "PNG":
        raise BadRequest(f"'mask' is {decoded.format}; it must be a PNG with an alpha channel.")
    if not decoded.has_alpha:
        raise BadRequest(
            f"'mask' has no alpha channel (mode {decoded.mode}); transparent pixels mark the area"
            " to edit."
        )
    source = first.decode()
    if (decoded.width, decoded.height) != (source.width, source.height):
        raise BadRequest(
            f"'mask' is {decoded.width}x{decoded.height} but the first image is "
            f"{source.width}x{source.height}; they must be the same size."
        )


def _size(
    model: str, rules: models.Model, raw: str | None, first: Upload | None
) -> tuple[int, int]:
    value = raw or "1024x1024"
    if value == "auto" and (rules.sizes is None or "auto" in rules.sizes):
        if first is None:  # a generation: nothing to take the shape from
            return 1024, 1024
        decoded = first.decode()
        assert decoded.width and decoded.height
        return models.auto_size(decoded.width, decoded.height)
    if rules.sizes is not None:
        if value not in rules.sizes:
            raise BadRequest(
                f"'size' must be one of {', '.join(rules.sizes)} for {model} (got {value!r})."
            )
        return _parse_size(value)
    match = models.SIZE_PATTERN.match(value)
    problem = "it is not WIDTHxHEIGHT" if not match else None
    if match:
        problem = models.grid_problem(int(match[1]), int(match[2]))
    if problem is not None:
        raise BadRequest(
            f"'size' {value!r} is off the grid for {model}: {problem}. "
            f"It must be {models.GRID_RULE}."
        )
    return _parse_size(value)


def _parse_size(value: str) -> tuple[int, int]:
    width, height = value.split("x")
    return int(width), int(height)


def _resolved_quality(quality: str | None, dalle: bool) -> str:
    if dalle:
        return "standard"
    if quality in (None, "auto"):
        return "medium"
    return quality
