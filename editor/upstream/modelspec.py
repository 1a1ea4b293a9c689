"""The shape of one model's entry in the catalogue (``ModelCapabilities``), and the checks an
entry itself must pass.

An entry is data: what the model takes (images, mask, options, sizes, ``n``), what it
returns, how it is billed, which services serve it and whether it streams previews. The
built-in entries live in ``catalogue``; a deployment's own (``RETOUCH_EXTRA_MODELS``) are
read by ``extra_models`` into the same shape.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

MB = 1024 * 1024

PNG = "image/png"
JPEG = "image/jpeg"
WEBP = "image/webp"

GATEWAY = "gateway"
OPENAI = "openai"
UNKNOWN = "unknown"
SERVICES = (GATEWAY, OPENAI)

SIZE_RULES = ("grid", "list", "none")
BILLING_KINDS = ("per_image", "per_token", "per_request")
RESULT_KINDS = ("b64_json", "url")
IMAGE_FIELDS = ("image[]", "image")

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
# reads for each. ``user`` and ``callback_url`` are not among them: the app, not the person
# editing, sets them.
SETTING_NAMES = {
    "n": gettext_lazy("number of results"),
    "size": gettext_lazy("size"),
    "quality": gettext_lazy("quality"),
    "background": gettext_lazy("background"),
    "output_format": gettext_lazy("output format"),
    "output_compression": gettext_lazy("compression"),
    "input_fidelity": gettext_lazy("input fidelity"),
    "response_format": gettext_lazy("response format"),
}
OPTIONS: tuple[str, ...] = tuple(SETTING_NAMES)


@dataclass(frozen=True)
class ModelCapabilities:
    """One model's entry. Only ``name`` and ``label`` are required: the defaults are what a
    gpt-image model at either service does, and an entry names only where it differs.

    Sizes: ``size_rule`` is ``"grid"`` (``auto`` or any ``WIDTHxHEIGHT`` on the gpt-image-2
    grid; ``sizes`` then lists ``auto`` and the documented presets), ``"list"`` (exactly one
    of ``sizes``) or ``"none"`` (no size setting). ``response_formats`` are the kinds of
    result the model can hand back (``("url",)``: always a link, which Retouch downloads).
    """

    name: str
    label: str
    # For the picker: a few words ("Best quality") and one plain sentence.
    tagline: str = ""
    description: str = ""
    # Which services serve it: "gateway" (AceData Cloud), "openai".
    services: tuple[str, ...] = SERVICES
    min_images: int = 1
    max_images: int = 16
    input_types: tuple[str, ...] = (PNG, JPEG, WEBP)
    max_image_bytes: int = 50 * MB
    # The shortest side a source photo may have, in pixels (checked by the form, which
    # decodes the photos).
    min_image_side: int = 64
    prompt_max_chars: int = 32_000
    takes_mask: bool = True
    mask_max_bytes: int = 4 * MB
    mask_types: tuple[str, ...] = (PNG,)
    # The optional settings this model takes (of ``OPTIONS``), so a form shows only those
    # and nothing else is sent.
    options: tuple[str, ...] = ()
    size_rule: str = "list"
    sizes: tuple[str, ...] = ()
    default_size: str = ""
    qualities: tuple[str, ...] = ()
    backgrounds: tuple[str, ...] = ()
    output_formats: tuple[str, ...] = ()
    input_fidelities: tuple[str, ...] = ()
    max_n: int = 10
    response_formats: tuple[str, ...] = ("b64_json",)
    # Base64 results only up to this many per edit (gpt-image-2 family: 1); 0 for no limit.
    b64_json_max_n: int = 0
    # OpenAI refuses ``response_format`` for gpt-image models (they always answer in
    # base64) and takes it for dall-e-2; the gateway takes it for every model that has it.
    response_format_at_openai: bool = False
    # Whether the app's ``user`` id goes along (nano-banana takes model, prompt, image only).
    takes_user: bool = True
    image_field: str = "image[]"
    square_only: bool = False
    billing: str = "per_token"
    # Services at which the model streams partial images (``stream`` + ``partial_images``).
    streams_at: tuple[str, ...] = ()
    # Whether it creates images from a prompt alone (``images/generations``): the contract
    # says the services take the same models there as for edits, so every built-in entry
    # does; a deployment's own entry may say otherwise.
    generates: bool = True
    # About how long one edit takes from start to result, in seconds, for the card's
    # "usually about 40 s". An estimate from trials at the gateway with one photo at the
    # default settings, not a promise: the service's load, the size, quality and number of
    # results all change it.
    typical_seconds: int = 45

    def accepts(self, option: str) -> bool:
        return option in self.options

    @property
    def supports_compression(self) -> bool:
        return self.accepts("output_compression")

    @property
    def supports_input_fidelity(self) -> bool:
        return self.accepts("input_fidelity")

    @property
    def size_on_grid(self) -> bool:
        return self.size_rule == "grid"

    @property
    def always_url(self) -> bool:
        """The model only hands back links (nano-banana)."""
        return tuple(self.response_formats) == ("url",)

    @property
    def generation_options(self) -> tuple[str, ...]:
        """The options a generation takes: an edit's, less ``input_fidelity`` (how closely
        to match the source images, of which a generation has none)."""
        return tuple(o for o in self.options if o != "input_fidelity")

    def served_at(self, service: str) -> bool:
        """Whether ``service`` serves the model; an unknown service might serve anything."""
        return service == UNKNOWN or service in self.services

    def streams(self, service: str) -> bool:
        """Whether partial images can be asked for at ``service`` (an unknown service, such
        as the simulator, is assumed to stream wherever either real one does)."""
        return bool(self.streams_at) if service == UNKNOWN else service in self.streams_at


def entry_problems(model: ModelCapabilities) -> list[str]:
    """What is inconsistent in an entry, as sentences for the operator who wrote it; empty
    when the entry is usable. Every built-in entry passes (tested).

    The settings call this (``RETOUCH_EXTRA_MODELS``), before translations can be used: its
    words (for the operator's terminal) stay in English, and a built-in's translated label
    is taken as given, never evaluated here."""
    problems: list[str] = []

    def need(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    need(bool(model.name.strip()) and model.name == model.name.strip(), "Give it a name.")
    need(
        isinstance(model.label, Promise) or bool(model.label.strip()),
        "Give it a label people read in the picker.",
    )
    need(
        set(model.services) <= set(SERVICES) and bool(model.services),
        f"'services' must name one or both of {', '.join(SERVICES)}.",
    )
    need(
        1 <= model.min_images <= model.max_images <= 16,
        "'min_images' and 'max_images' must be 1 to 16, the minimum first.",
    )
    need(model.min_image_side >= 1, "'min_image_side' must be at least 1 pixel.")
    need(model.typical_seconds >= 1, "'typical_seconds' must be at least 1 second.")
    need(
        model.max_image_bytes > 0 and model.prompt_max_chars > 0,
        "'max_image_bytes' and 'prompt_max_chars' must be positive.",
    )
    need(set(model.options) <= set(OPTIONS), f"'options' may only name {', '.join(OPTIONS)}.")
    need(model.size_rule in SIZE_RULES, f"'size_rule' must be one of {', '.join(SIZE_RULES)}.")
    takes_size = model.accepts("size")
    need(
        takes_size == (model.size_rule != "none"),
        "An entry takes 'size' among its options exactly when its 'size_rule' is not none.",
    )
    if takes_size:
        need(model.default_size in model.sizes, "'default_size' must be one of its 'sizes'.")
    for option, attr in (
        ("quality", "qualities"),
        ("background", "backgrounds"),
        ("output_format", "output_formats"),
        ("input_fidelity", "input_fidelities"),
    ):
        need(
            not model.accepts(option) or bool(getattr(model, attr)),
            f"An entry that takes '{option}' lists its '{attr}'.",
        )
    need(1 <= model.max_n <= 10, "'max_n' must be a whole number from 1 to 10.")
    need(model.accepts("n") or model.max_n == 1, "An entry without the 'n' option has max_n 1.")
    need(
        bool(model.response_formats) and set(model.response_formats) <= set(RESULT_KINDS),
        "'response_formats' must name b64_json, url or both.",
    )
    need(model.b64_json_max_n >= 0, "'b64_json_max_n' must be 0 (no limit) or more.")
    need(model.image_field in IMAGE_FIELDS, "'image_field' must be image[] or image.")
    need(model.billing in BILLING_KINDS, f"'billing' must be one of {', '.join(BILLING_KINDS)}.")
    need(
        set(model.streams_at) <= set(model.services),
        "'streams_at' may only name services that serve the model.",
    )
    return problems


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
