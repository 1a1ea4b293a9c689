"""What each model accepts, kept as data so adding a model is one entry in ``MODELS``.

``validate`` rejects, before anything is uploaded, every edit the service would reject for
reasons visible without decoding the images. Pixel checks (dimensions, square images, mask
alpha) belong to the Django form, which has Pillow and the decoded image at hand.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

from .schema import EditRequest, ImageInput

MB = 1024 * 1024

PNG = "image/png"
JPEG = "image/jpeg"
WEBP = "image/webp"

_TYPE_NAMES = {PNG: "PNG", JPEG: "JPEG", WEBP: "WebP"}
_TYPE_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "image/x-png": PNG}


class InvalidEditRequest(ValueError):
    """The edit breaks a rule of the chosen model; nothing was sent.

    ``errors`` maps a form field name to plain-language messages, so a Django form can
    attach them next to the matching fields.
    """

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors: dict[str, list[str]] = {field: list(msgs) for field, msgs in errors.items()}
        summary = "; ".join(
            f"{field}: {' '.join(msgs)}" for field, msgs in self.errors.items() if msgs
        )
        super().__init__(summary or "invalid edit request")


# The optional settings a model may take, in the order they are sent, with the words a person
# reads for each. ``user`` and ``callback_url`` are not among them: every model takes them and
# the app, not the person editing, sets them.
_SETTING_NAMES = {
    "n": "number of results",
    "size": "size",
    "quality": "quality",
    "background": "background",
    "output_format": "output format",
    "output_compression": "compression",
    "input_fidelity": "input fidelity",
    "response_format": "response format",
}
OPTIONS: tuple[str, ...] = tuple(_SETTING_NAMES)


@dataclass(frozen=True)
class ModelCapabilities:
    """One model's limits. The defaults are what most models share; an entry in ``MODELS``
    names only where its model differs."""

    name: str
    label: str
    max_images: int
    input_types: tuple[str, ...]
    max_image_bytes: int
    prompt_max_chars: int
    sizes: tuple[str, ...]
    default_size: str
    qualities: tuple[str, ...]
    response_formats: tuple[str, ...]
    image_field: str
    # The optional settings this model takes, so a form shows only those.
    options: tuple[str, ...]
    min_images: int = 1
    square_only: bool = False
    backgrounds: tuple[str, ...] = ()
    output_formats: tuple[str, ...] = ()
    input_fidelities: tuple[str, ...] = ()
    max_n: int = 10
    mask_max_bytes: int = 4 * MB
    mask_types: tuple[str, ...] = (PNG,)

    def accepts(self, option: str) -> bool:
        return option in self.options

    @property
    def supports_compression(self) -> bool:
        return self.accepts("output_compression")

    @property
    def supports_input_fidelity(self) -> bool:
        return self.accepts("input_fidelity")


MODELS: dict[str, ModelCapabilities] = {
    "gpt-image-1": ModelCapabilities(
        name="gpt-image-1",
        label="GPT Image 1",
        max_images=16,
        input_types=(PNG, JPEG, WEBP),
        max_image_bytes=50 * MB,
        prompt_max_chars=32_000,
        sizes=("auto", "1024x1024", "1536x1024", "1024x1536"),
        default_size="auto",
        qualities=("auto", "low", "medium", "high"),
        backgrounds=("auto", "transparent", "opaque"),
        output_formats=("png", "jpeg", "webp"),
        input_fidelities=("high", "low"),
        # OpenAI itself always answers gpt-image-1 in base64; the gateway can hand out URLs.
        response_formats=("b64_json", "url"),
        image_field="image[]",
        options=OPTIONS,
    ),
    "dall-e-2": ModelCapabilities(
        name="dall-e-2",
        label="DALL·E 2",
        max_images=1,
        square_only=True,
        input_types=(PNG,),
        max_image_bytes=4 * MB,
        prompt_max_chars=1_000,
        sizes=("256x256", "512x512", "1024x1024"),
        default_size="1024x1024",
        qualities=("standard",),
        response_formats=("url", "b64_json"),
        image_field="image",
        options=("n", "size", "quality", "response_format"),
    ),
}

DEFAULT_MODEL = "gpt-image-1"

# Settings whose value must come from a list on the model; checked uniformly.
_CHOICE_OPTIONS: dict[str, str] = {
    "size": "sizes",
    "quality": "qualities",
    "background": "backgrounds",
    "output_format": "output_formats",
    "input_fidelity": "input_fidelities",
    "response_format": "response_formats",
}


def get_model(name: str) -> ModelCapabilities:
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        known = ", ".join(MODELS)
        raise InvalidEditRequest(
            {"model": [f"Retouch does not know the model “{name}”. Choose one of: {known}."]}
        ) from None


def normalize_content_type(content_type: str | None) -> str:
    """Browsers and storages disagree on spelling (``image/jpg``, parameters, case)."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return _TYPE_ALIASES.get(base, base)


def stream_size(fileobj: BinaryIO) -> int | None:
    """Bytes from the start of the file to its end, without reading it; None if unknowable.

    Leaves the position where it was, so validating never disturbs the caller's file.
    """
    try:
        if fileobj.seekable():
            position = fileobj.tell()
            try:
                # seek()'s return value is not reliable across file-likes; tell() is.
                fileobj.seek(0, io.SEEK_END)
                return fileobj.tell()
            finally:
                fileobj.seek(position)
    except (AttributeError, OSError, ValueError):
        pass
    try:
        return os.fstat(fileobj.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


def validate(req: EditRequest) -> ModelCapabilities:
    """Raise InvalidEditRequest listing every problem at once, so a form can show them all;
    return the model's capabilities when the request is fine."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    try:
        model = get_model(req.model)
    except InvalidEditRequest as exc:
        model = None
        errors.update(exc.errors)

    prompt = req.prompt if isinstance(req.prompt, str) else ""
    if not prompt.strip():
        add("prompt", "Describe the change you want.")
    elif model and len(prompt) > model.prompt_max_chars:
        add(
            "prompt",
            f"The description is too long for {model.label}: at most "
            f"{model.prompt_max_chars:,} characters, yours has {len(prompt):,}.",
        )

    if model is None:
        raise InvalidEditRequest(errors)

    _check_images(model, list(req.images or []), add)
    if req.mask is not None:
        _check_mask(model, req.mask, add)
    _check_options(model, req, add)

    if req.callback_url is not None:
        parts = urlsplit(req.callback_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            add("callback_url", "The callback address must be a full http:// or https:// URL.")
    if req.user is not None and (not isinstance(req.user, str) or not req.user.strip()):
        add("user", "The user id sent to the image service must be non-empty text.")

    if errors:
        raise InvalidEditRequest(errors)
    return model


def _check_images(model: ModelCapabilities, images: list[ImageInput], add) -> None:
    count = len(images)
    if count < model.min_images:
        add("images", "Add an image to edit.")
    elif count > model.max_images:
        if model.max_images == 1:
            add("images", f"{model.label} edits exactly one image; you added {count}.")
        else:
            add(
                "images",
                f"{model.label} takes at most {model.max_images} images; you added {count}.",
            )
    accepted = _type_list(model.input_types)
    for image in images:
        name = image.filename or "An image"
        if normalize_content_type(image.content_type) not in model.input_types:
            add("images", f"“{name}” is not a {accepted} image, which {model.label} needs.")
        size = stream_size(image.fileobj)
        if size is None:
            add("images", f"Retouch could not read “{name}”. Upload it again.")
        elif size == 0:
            add("images", f"“{name}” is empty. Upload it again.")
        elif size >= model.max_image_bytes:
            add(
                "images",
                f"“{name}” is {_megabytes(size)}; {model.label} takes images smaller than "
                f"{_megabytes(model.max_image_bytes)}.",
            )


def _check_mask(model: ModelCapabilities, mask: ImageInput, add) -> None:
    if normalize_content_type(mask.content_type) not in model.mask_types:
        add("mask", f"The mask must be a {_type_list(model.mask_types)} image with transparency.")
    size = stream_size(mask.fileobj)
    if size is None:
        add("mask", "Retouch could not read the mask. Paint it again.")
    elif size == 0:
        add("mask", "The mask is empty. Paint it again.")
    elif size > model.mask_max_bytes:
        add(
            "mask",
            f"The mask is {_megabytes(size)}; it must be at most "
            f"{_megabytes(model.mask_max_bytes)}.",
        )


def _check_options(model: ModelCapabilities, req: EditRequest, add) -> None:
    for option in _SETTING_NAMES:
        value = getattr(req, option)
        if value is None:
            continue
        if not model.accepts(option):
            add(option, f"{model.label} does not take a {_SETTING_NAMES[option]} setting.")
            continue
        if option in _CHOICE_OPTIONS:
            choices = getattr(model, _CHOICE_OPTIONS[option])
            if value not in choices:
                add(
                    option,
                    f"{model.label} takes a {_SETTING_NAMES[option]} of "
                    f"{_or_list(choices)}, not “{value}”.",
                )

    n = req.n
    if (
        n is not None
        and model.accepts("n")
        and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= model.max_n)
    ):
        add("n", f"Ask for between 1 and {model.max_n} results.")

    fmt = req.output_format or "png"
    if (
        req.background == "transparent"
        and model.accepts("background")
        and fmt not in ("png", "webp")
    ):
        add("background", "A transparent background needs PNG or WebP output, not JPEG.")

    compression = req.output_compression
    if compression is not None and model.accepts("output_compression"):
        if (
            isinstance(compression, bool)
            or not isinstance(compression, int)
            or not 0 <= compression <= 100
        ):
            add("output_compression", "Compression must be a whole number from 0 to 100.")
        elif fmt not in ("jpeg", "webp"):
            add("output_compression", "Compression applies only to JPEG or WebP output.")


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB".replace(".0 MB", " MB")


def _type_list(types: tuple[str, ...]) -> str:
    return _or_list(tuple(_TYPE_NAMES.get(t, t) for t in types))


def _or_list(items: tuple[str, ...]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]
