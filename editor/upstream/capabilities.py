"""``validate``: every rule of the chosen model, checked before anything is uploaded.

It rejects each edit the service would reject for reasons visible without decoding the
images, in one plain sentence per problem that names the fix. Pixel checks (dimensions,
square images, mask alpha) belong to the Django form, which has Pillow and the decoded image
at hand. The models themselves are data: ``modelspec`` (an entry's shape) and ``catalogue``
(the entries); their public names are re-exported here, where the app always found them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .catalogue import DEFAULT_MODEL, MODELS, _or_list, check_size, get_model
from .modelspec import (
    JPEG,
    MB,
    OPTIONS,
    PNG,
    SETTING_NAMES,
    WEBP,
    InvalidEditRequest,
    ModelCapabilities,
    normalize_content_type,
    stream_size,
)
from .schema import EditRequest, GenerateRequest, ImageInput

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "OPTIONS",
    "InvalidEditRequest",
    "ModelCapabilities",
    "get_model",
    "normalize_content_type",
    "stream_size",
    "validate",
    "validate_generation",
]

_TYPE_NAMES = {PNG: "PNG", JPEG: "JPEG", WEBP: "WebP"}

# Settings whose value must come from a list on the model; checked uniformly. ``size`` has
# its own rule (``check_size``): the gpt-image-2 grid is not a list.
_CHOICE_OPTIONS: dict[str, str] = {
    "quality": "qualities",
    "background": "backgrounds",
    "output_format": "output_formats",
    "input_fidelity": "input_fidelities",
    "response_format": "response_formats",
}


def validate(req: EditRequest) -> ModelCapabilities:
    """Raise InvalidEditRequest listing every problem at once, so a form can show them all;
    return the model's capabilities when the request is fine."""
    return _validate(req, "Describe the change you want.")


def validate_generation(req: GenerateRequest) -> ModelCapabilities:
    """``validate`` for an image created from the prompt alone: the same rules without
    images, and a model that creates images (``generates``)."""
    return _validate(req, "Describe the image to create.")


def _validate(req: EditRequest | GenerateRequest, no_prompt: str) -> ModelCapabilities:
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
        add("prompt", no_prompt)
    elif model and len(prompt) > model.prompt_max_chars:
        add(
            "prompt",
            f"The description is too long for {model.label}: at most "
            f"{model.prompt_max_chars:,} characters, yours has {len(prompt):,}.",
        )

    if model is None:
        raise InvalidEditRequest(errors)

    if isinstance(req, EditRequest):
        _check_images(model, list(req.images or []), add)
        if req.mask is not None:
            _check_mask(model, req.mask, add)
    elif not model.generates:
        add("model", cannot_generate(model))
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
            add(
                "images",
                f"{model.label} edits exactly one image; you added {count}: keep one, or "
                "choose a model that takes several.",
            )
        else:
            add(
                "images",
                f"{model.label} takes at most {model.max_images} images; you added {count}: "
                f"remove {count - model.max_images}.",
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
    if not model.takes_mask:
        add("mask", f"{model.label} does not take a mask; remove it, or choose {_masked(model)}.")
        return
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


def cannot_generate(model: ModelCapabilities) -> str:
    """The one sentence for a model asked to create an image without a photo."""
    return (
        f"{model.label} only edits photos: add a photo, or choose a model that creates "
        "images from a description."
    )


def _check_options(model: ModelCapabilities, req: EditRequest | GenerateRequest, add) -> None:
    for option in SETTING_NAMES:
        value = getattr(req, option, None)  # a generation has no input_fidelity
        if value is None:
            continue
        if not model.accepts(option):
            add(
                option,
                f"{model.label} does not take a {SETTING_NAMES[option]} setting; leave it "
                "out or choose another model.",
            )
            continue
        if option == "size":
            problem = check_size(model, value)
            if problem:
                add(option, problem)
        elif option in _CHOICE_OPTIONS:
            choices = getattr(model, _CHOICE_OPTIONS[option])
            if value not in choices:
                add(
                    option,
                    f"{model.label} takes a {SETTING_NAMES[option]} of "
                    f"{_or_list(choices)}, not “{value}”.",
                )

    n = req.n
    if (
        n is not None
        and model.accepts("n")
        and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= model.max_n)
    ):
        add("n", f"Ask for between 1 and {model.max_n} results.")
    elif (
        req.response_format == "b64_json"
        and model.b64_json_max_n
        and isinstance(n, int)
        and n > model.b64_json_max_n
        and model.accepts("response_format")
    ):
        add(
            "response_format",
            f"{model.label} returns several results only as links; ask for links (url) or "
            "for one result.",
        )

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


def _masked(model: ModelCapabilities) -> str:
    """The model to suggest instead of one that takes no mask: its ``:official`` twin."""
    twin = MODELS.get(f"{model.name}:official")
    if twin is not None and twin.takes_mask:
        return twin.label
    return "a model that takes one"


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB".replace(".0 MB", " MB")


def _type_list(types: tuple[str, ...]) -> str:
    return _or_list(tuple(_TYPE_NAMES.get(t, t) for t in types))
