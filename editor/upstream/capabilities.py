"""``validate``: every rule of the chosen model, checked before anything is uploaded.

It rejects each edit the service would reject for reasons visible without decoding the
images, in one plain sentence per problem that names the fix. Pixel checks (dimensions,
square images, mask alpha) belong to the Django form, which has Pillow and the decoded image
at hand. The models themselves are data: ``modelspec`` (an entry's shape) and ``catalogue``
(the entries); their public names are re-exported here, where the app always found them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .catalogue import DEFAULT_MODEL, MODELS, check_size, get_model
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
from .wording import or_list

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
    return _validate(req, gettext_noop("Describe the change you want."))


def validate_generation(req: GenerateRequest) -> ModelCapabilities:
    """``validate`` for an image created from the prompt alone: the same rules without
    images, and a model that creates images (``generates``)."""
    return _validate(req, gettext_noop("Describe the image to create."))


def _validate(req: EditRequest | GenerateRequest, no_prompt: str) -> ModelCapabilities:
    # Each message is translated only when a rule is broken: a valid request never needs the
    # translations (scripts outside Django send edits too).
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
        add("prompt", _(no_prompt))
    elif model and len(prompt) > model.prompt_max_chars:
        add(
            "prompt",
            _(
                "The description is too long for %(model)s: at most %(limit)s characters, "
                "yours has %(count)s."
            )
            % {
                "model": model.label,
                "limit": f"{model.prompt_max_chars:,}",
                "count": f"{len(prompt):,}",
            },
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
            add(
                "callback_url",
                _("The callback address must be a full http:// or https:// URL."),
            )
    if req.user is not None and (not isinstance(req.user, str) or not req.user.strip()):
        add("user", _("The user id sent to the image service must be non-empty text."))

    if errors:
        raise InvalidEditRequest(errors)
    return model


def _check_images(model: ModelCapabilities, images: list[ImageInput], add) -> None:
    count = len(images)
    if count < model.min_images:
        add("images", _("Add an image to edit."))
    elif count > model.max_images:
        if model.max_images == 1:
            add(
                "images",
                _(
                    "%(model)s edits exactly one image; you added %(count)s: keep one, or "
                    "choose a model that takes several."
                )
                % {"model": model.label, "count": count},
            )
        else:
            add(
                "images",
                _(
                    "%(model)s takes at most %(limit)s images; you added %(count)s: remove "
                    "%(extra)s."
                )
                % {
                    "model": model.label,
                    "limit": model.max_images,
                    "count": count,
                    "extra": count - model.max_images,
                },
            )
    accepted = _type_list(model.input_types)
    for image in images:
        if normalize_content_type(image.content_type) not in model.input_types:
            add(
                "images",
                _("“%(name)s” is not a %(types)s image, which %(model)s needs.")
                % {"name": _name(image), "types": accepted, "model": model.label},
            )
        size = stream_size(image.fileobj)
        if size is None:
            add(
                "images",
                _("Retouch could not read “%(name)s”. Upload it again.") % {"name": _name(image)},
            )
        elif size == 0:
            add("images", _("“%(name)s” is empty. Upload it again.") % {"name": _name(image)})
        elif size >= model.max_image_bytes:
            add(
                "images",
                _("“%(name)s” is %(size)s; %(model)s takes images smaller than %(limit)s.")
                % {
                    "name": _name(image),
                    "size": _megabytes(size),
                    "model": model.label,
                    "limit": _megabytes(model.max_image_bytes),
                },
            )


def _name(image: ImageInput) -> str:
    return image.filename or _("An image")


def _check_mask(model: ModelCapabilities, mask: ImageInput, add) -> None:
    if not model.takes_mask:
        add(
            "mask",
            _("%(model)s does not take a mask; remove it, or choose %(other)s.")
            % {"model": model.label, "other": _masked(model)},
        )
        return
    if normalize_content_type(mask.content_type) not in model.mask_types:
        add(
            "mask",
            _("The mask must be a %(types)s image with transparency.")
            % {"types": _type_list(model.mask_types)},
        )
    size = stream_size(mask.fileobj)
    if size is None:
        add("mask", _("Retouch could not read the mask. Paint it again."))
    elif size == 0:
        add("mask", _("The mask is empty. Paint it again."))
    elif size > model.mask_max_bytes:
        add(
            "mask",
            _("The mask is %(size)s; it must be at most %(limit)s.")
            % {"size": _megabytes(size), "limit": _megabytes(model.mask_max_bytes)},
        )


def cannot_generate(model: ModelCapabilities) -> str:
    """The one sentence for a model asked to create an image without a photo."""
    return _(
        "%(model)s only edits photos: add a photo, or choose a model that creates images "
        "from a description."
    ) % {"model": model.label}


def _check_options(model: ModelCapabilities, req: EditRequest | GenerateRequest, add) -> None:
    for option in SETTING_NAMES:
        value = getattr(req, option, None)  # a generation has no input_fidelity
        if value is None:
            continue
        if not model.accepts(option):
            add(
                option,
                _(
                    "%(model)s does not take a %(setting)s setting; leave it out or choose "
                    "another model."
                )
                % {"model": model.label, "setting": SETTING_NAMES[option]},
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
                    _("%(model)s takes a %(setting)s of %(choices)s, not “%(value)s”.")
                    % {
                        "model": model.label,
                        "setting": SETTING_NAMES[option],
                        "choices": or_list(choices),
                        "value": value,
                    },
                )

    n = req.n
    if (
        n is not None
        and model.accepts("n")
        and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= model.max_n)
    ):
        add("n", _("Ask for between 1 and %(limit)s results.") % {"limit": model.max_n})
    elif (
        req.response_format == "b64_json"
        and model.b64_json_max_n
        and isinstance(n, int)
        and n > model.b64_json_max_n
        and model.accepts("response_format")
    ):
        add(
            "response_format",
            _(
                "%(model)s returns several results only as links; ask for links (url) or for "
                "one result."
            )
            % {"model": model.label},
        )

    fmt = req.output_format or "png"
    if (
        req.background == "transparent"
        and model.accepts("background")
        and fmt not in ("png", "webp")
    ):
        add("background", _("A transparent background needs PNG or WebP output, not JPEG."))

    compression = req.output_compression
    if compression is not None and model.accepts("output_compression"):
        if (
            isinstance(compression, bool)
            or not isinstance(compression, int)
            or not 0 <= compression <= 100
        ):
            add("output_compression", _("Compression must be a whole number from 0 to 100."))
        elif fmt not in ("jpeg", "webp"):
            add("output_compression", _("Compression applies only to JPEG or WebP output."))


def _masked(model: ModelCapabilities) -> str:
    """The model to suggest instead of one that takes no mask: its ``:official`` twin."""
    twin = MODELS.get(f"{model.name}:official")
    if twin is not None and twin.takes_mask:
        return twin.label
    return _("a model that takes one")


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB".replace(".0 MB", " MB")


def _type_list(types: tuple[str, ...]) -> str:
    return or_list(tuple(_TYPE_NAMES.get(t, t) for t in types))
