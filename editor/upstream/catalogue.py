"""The models Retouch knows, as data, and the questions a form and the worker ask of them.

Adding a model is one entry in ``_BUILT_IN`` (or, without code, one JSON object in
``RETOUCH_EXTRA_MODELS``: see ``extra_models``). The facts come from ``api-contract.md``
("Today's models"); where the contract is silent the entry says what Retouch chose.

The service decides what is offered: AceData Cloud's gateway and OpenAI serve different
models, and an unknown base URL (a proxy, the simulator) is offered everything.
``RETOUCH_MODELS`` narrows the offer to the names it lists.

The functions a form builds its model and size pickers on:

- ``service_for(base_url, override)``: ``"gateway"``, ``"openai"`` or ``"unknown"``.
- ``offered_models(service, only)``: the entries to offer, in picker order.
- ``default_model(service, only)``: the name to preselect.
- ``check_offered(name, service, only)``: None, or why that name cannot be used here.
- ``size_presets(model)`` / ``size_preset_groups(model)``: presets by 1K / 2K / 4K.
- ``check_size(model, value)``: None, or a sentence suggesting the nearest valid size.
- ``response_format_for(model, service, n, preferred)`` and ``can_stream(model, service)``
  for whoever builds the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from urllib.parse import urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import sizes
from .modelspec import (
    GATEWAY,
    OPENAI,
    OPTIONS,
    UNKNOWN,
    InvalidEditRequest,
    ModelCapabilities,
)
from .wording import comma_list, or_list

SERVICE_LABELS = {GATEWAY: "AceData Cloud", OPENAI: "OpenAI", UNKNOWN: gettext_lazy("this service")}
# What ``RETOUCH_SERVICE`` may say; "auto" tells the service from the base URL.
SERVICE_SETTINGS = ("auto", GATEWAY, OPENAI)
# The model preselected at each service: the gateway recommends gpt-image-2; at OpenAI,
# gpt-image-1.5 is the newest gpt-image model it serves (and takes masks).
RECOMMENDED = {GATEWAY: "gpt-image-2", OPENAI: "gpt-image-1.5", UNKNOWN: "gpt-image-2"}

_GPT_IMAGE_1_SIZES = ("auto", "1024x1024", "1536x1024", "1024x1536")

# Shared starting points; each entry below changes only what makes it different.
_GPT_IMAGE = ModelCapabilities(
    name="",
    label="",
    options=OPTIONS,
    sizes=_GPT_IMAGE_1_SIZES,
    default_size="auto",
    qualities=("auto", "low", "medium", "high"),
    backgrounds=("auto", "transparent", "opaque"),
    output_formats=("png", "jpeg", "webp"),
    input_fidelities=("high", "low"),
    # OpenAI itself always answers gpt-image models in base64; the gateway can hand out URLs.
    response_formats=("b64_json", "url"),
    billing="per_token",
    # Partial images: OpenAI streams its gpt-image models. The gateway documents
    # partial_images only "where supported by the selected model"; Retouch assumes so for
    # the token-billed models it passes to OpenAI's own API, and for none of the others.
    streams_at=(OPENAI, GATEWAY),
)
# The gpt-image-2 family at the gateway: sizes on the grid up to 4K, several results only
# as links, no mask; billed per image.
_GPT_IMAGE_2 = replace(
    _GPT_IMAGE,
    services=(GATEWAY,),
    takes_mask=False,
    size_rule="grid",
    sizes=sizes.GRID_SIZES,
    b64_json_max_n=1,
    billing="per_image",
    streams_at=(),
)
# ":official": the same model through OpenAI's official API at the gateway: takes a mask,
# billed per token.
_OFFICIAL = {"takes_mask": True, "billing": "per_token", "streams_at": (GATEWAY,)}
# nano-banana: model, prompt and image only (with the app's own user and callback_url, which
# the gateway takes for every model); one result, always a link; billed per request.
# The contract names a single ``image``; Retouch sends one photo until the gateway
# documents more.
_NANO_BANANA = ModelCapabilities(
    name="",
    label="",
    services=(GATEWAY,),
    max_images=1,
    takes_mask=False,
    options=(),
    size_rule="none",
    max_n=1,
    response_formats=("url",),
    image_field="image",
    billing="per_request",
)


def _entry(
    base: ModelCapabilities, name: str, label: str, tagline: str, description: str, **changes
) -> ModelCapabilities:
    return replace(
        base, name=name, label=label, tagline=tagline, description=description, **changes
    )


_BUILT_IN: tuple[ModelCapabilities, ...] = (
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2",
        "GPT Image 2",
        gettext_lazy("Best quality"),
        gettext_lazy("The gateway's recommended model: sharp results up to 4K, billed per image."),
        typical_seconds=60,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2.5-flare",
        "GPT Image 2.5 Flare",
        gettext_lazy("Fastest"),
        gettext_lazy("Quick drafts and variations, up to 4K, billed per image."),
        typical_seconds=25,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2.5-sunburst",
        "GPT Image 2.5 Sunburst",
        gettext_lazy("Keeps faces and text"),
        gettext_lazy("High fidelity: keeps faces, logos and lettering from your photos."),
        typical_seconds=70,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2:official",
        gettext_lazy("GPT Image 2 (official)"),
        gettext_lazy("Takes a mask"),
        gettext_lazy(
            "GPT Image 2 through OpenAI's own API: paints only where your mask is clear; "
            "billed per token."
        ),
        **_OFFICIAL,
        typical_seconds=60,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2.5-flare:official",
        gettext_lazy("GPT Image 2.5 Flare (official)"),
        gettext_lazy("Fast, takes a mask"),
        gettext_lazy("Flare through OpenAI's own API, with a mask; billed per token."),
        **_OFFICIAL,
        typical_seconds=25,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2.5-sunburst:official",
        gettext_lazy("GPT Image 2.5 Sunburst (official)"),
        gettext_lazy("Keeps faces and text, takes a mask"),
        gettext_lazy("Sunburst through OpenAI's own API, with a mask; billed per token."),
        **_OFFICIAL,
        typical_seconds=70,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2:reverse",
        gettext_lazy("GPT Image 2 (second route)"),
        gettext_lazy("Second route"),
        gettext_lazy("GPT Image 2 by the gateway's other route: try it when the first is busy."),
        typical_seconds=60,
    ),
    _entry(
        _GPT_IMAGE,
        "gpt-image-1.5",
        "GPT Image 1.5",
        gettext_lazy("Precise edits"),
        gettext_lazy(
            "OpenAI's current model: follows masks closely and keeps details; billed per token."
        ),
        typical_seconds=45,
    ),
    _entry(
        _GPT_IMAGE,
        "gpt-image-1",
        "GPT Image 1",
        gettext_lazy("The original"),
        gettext_lazy("The model Retouch started with: up to 1536 pixels, billed per token."),
        typical_seconds=50,
    ),
    _entry(
        _GPT_IMAGE,
        "gpt-image-1-mini",
        "GPT Image 1 Mini",
        gettext_lazy("Cheapest"),
        gettext_lazy("Lower cost per edit for quick tries; no input fidelity setting."),
        services=(OPENAI,),
        streams_at=(OPENAI,),
        options=tuple(o for o in OPTIONS if o != "input_fidelity"),
        input_fidelities=(),
        typical_seconds=25,
    ),
    _entry(
        _NANO_BANANA,
        "nano-banana-pro",
        "Nano Banana Pro",
        gettext_lazy("Best at lettering"),
        gettext_lazy("Google's strongest image model: one photo, one result; billed per edit."),
        typical_seconds=30,
    ),
    _entry(
        _NANO_BANANA,
        "nano-banana-2",
        "Nano Banana 2",
        gettext_lazy("Simple and sharp"),
        gettext_lazy(
            "Google's newer Nano Banana: one photo, one result, no settings; billed per edit."
        ),
        typical_seconds=15,
    ),
    _entry(
        _NANO_BANANA,
        "nano-banana",
        "Nano Banana",
        gettext_lazy("Simplest"),
        gettext_lazy(
            "Google's Gemini image model: one photo, one result, no settings; billed per edit."
        ),
        typical_seconds=12,
    ),
    ModelCapabilities(
        name="dall-e-2",
        label="DALL·E 2",
        tagline=gettext_lazy("Legacy, square only"),
        description=gettext_lazy(
            "OpenAI's older model: one square PNG, small sizes, billed per image."
        ),
        services=(OPENAI,),
        max_images=1,
        square_only=True,
        input_types=("image/png",),
        max_image_bytes=4 * 1024 * 1024,
        prompt_max_chars=1_000,
        options=("n", "size", "quality", "response_format"),
        sizes=("256x256", "512x512", "1024x1024"),
        default_size="1024x1024",
        qualities=("standard",),
        response_formats=("url", "b64_json"),
        response_format_at_openai=True,
        image_field="image",
        billing="per_image",
        typical_seconds=15,
    ),
)

# Every model this process knows: the built-in entries, then a deployment's own
# (``add_models``, once at start-up). The form's lists and ``validate`` read it.
MODELS: dict[str, ModelCapabilities] = {model.name: model for model in _BUILT_IN}

# The default when nothing says which service: what an unknown service preselects.
DEFAULT_MODEL = RECOMMENDED[UNKNOWN]


def get_model(name: str) -> ModelCapabilities:
    """The entry called ``name``; InvalidEditRequest (on the ``model`` field) when unknown."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise InvalidEditRequest({"model": [_unknown_model(name, comma_list(MODELS))]}) from None


def add_models(models: Iterable[ModelCapabilities]) -> list[str]:
    """Make a deployment's entries known (an entry with a built-in name replaces it);
    returns their names. Called once at start-up with ``RETOUCH_EXTRA_MODELS``."""
    names = []
    for model in models:
        MODELS[model.name] = model
        names.append(model.name)
    return names


# -- the service -----------------------------------------------------------------------------


def parse_service_setting(raw: str | None) -> str:
    """``RETOUCH_SERVICE`` as ``"auto"``, ``"gateway"`` or ``"openai"`` (empty is auto);
    ValueError naming the choices for anything else."""
    value = (raw or "auto").strip().lower()
    # The settings call this: its words (for the operator's terminal) stay in English.
    if value not in SERVICE_SETTINGS:
        raise ValueError(
            f"RETOUCH_SERVICE must be auto, gateway or openai, not “{raw}”: auto tells the "
            "service from OPENAI_BASE_URL."
        )
    return value


def service_for(base_url: str, override: str | None = "auto") -> str:
    """Which service ``base_url`` is: ``"gateway"`` (api.acedata.cloud), ``"openai"``
    (api.openai.com) or ``"unknown"`` (anything else, which is offered every model).

    ``override`` (``RETOUCH_SERVICE``) wins unless it is ``"auto"`` or empty: a proxy in
    front of OpenAI is still OpenAI.
    """
    chosen = parse_service_setting(override)
    if chosen != "auto":
        return chosen
    host = (urlsplit(base_url or "").hostname or "").lower()
    if host == "api.acedata.cloud":
        return GATEWAY
    if host == "api.openai.com":
        return OPENAI
    return UNKNOWN


# -- what a form offers ----------------------------------------------------------------------


def parse_model_names(raw: str | None, extra: Iterable[ModelCapabilities] = ()) -> tuple[str, ...]:
    """``RETOUCH_MODELS`` (``"gpt-image-2, nano-banana"``) as a tuple of names, empty for
    "no narrowing"; ValueError naming any model neither built in nor in ``extra``."""
    names = tuple(dict.fromkeys(n.strip() for n in (raw or "").split(",") if n.strip()))
    known = set(MODELS) | {model.name for model in extra}
    # The settings call this: its words (for the operator's terminal) stay in English.
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"RETOUCH_MODELS names models Retouch does not know: {', '.join(unknown)}. "
            "Add them with RETOUCH_EXTRA_MODELS or remove them."
        )
    return names


def offered_models(service: str, only: Iterable[str] = ()) -> list[ModelCapabilities]:
    """The entries a picker offers at ``service``, in catalogue order (the recommended
    ones first). ``only`` (``RETOUCH_MODELS``) narrows them to the names it lists: a name
    the service does not serve stays out (override its entry's ``services`` with
    ``RETOUCH_EXTRA_MODELS`` to offer it anyway)."""
    wanted = set(only)
    return [
        model
        for model in MODELS.values()
        if model.served_at(service) and (not wanted or model.name in wanted)
    ]


def default_model(service: str, only: Iterable[str] = ()) -> str:
    """The model preselected at ``service``: its recommended one (``RECOMMENDED``) when
    offered, else the first one offered, else the recommended one anyway."""
    offered = [model.name for model in offered_models(service, only)]
    recommended = RECOMMENDED.get(service, DEFAULT_MODEL)
    if recommended in offered or not offered:
        return recommended
    return offered[0]


def check_offered(name: str, service: str, only: Iterable[str] = ()) -> str | None:
    """None when ``name`` may be used at ``service``, else one sentence saying what to do
    (for a model name posted by hand)."""
    offered = offered_models(service, only)
    if any(model.name == name for model in offered):
        return None
    choices = comma_list(model.label for model in offered) or _("none")
    if name in MODELS:
        return _("%(model)s is not offered at %(service)s; choose one of: %(models)s.") % {
            "model": MODELS[name].label,
            "service": SERVICE_LABELS.get(service, service),
            "models": choices,
        }
    return _unknown_model(name, choices)


def _unknown_model(name: str, choices: str) -> str:
    return _("Retouch does not know the model “%(name)s”; choose one of: %(models)s.") % {
        "name": name,
        "models": choices,
    }


def size_presets(model: str | ModelCapabilities) -> list[sizes.SizePreset]:
    """The sizes a picker shows as buttons, each with ``value`` (what the form posts),
    ``width``, ``height``, ``resolution`` (1K/2K/4K, or Small), ``shape`` (square,
    landscape, portrait, 16:9, 9:16) and ``label``. ``auto`` is not among them: offer it
    when ``"auto" in model.sizes``. Empty for a model without sizes (nano-banana)."""
    caps = _caps(model)
    if caps.size_rule == "none":
        return []
    return sizes.presets_for(caps.sizes, grid=caps.size_on_grid)


def size_preset_groups(model: str | ModelCapabilities) -> dict[str, list[sizes.SizePreset]]:
    """``size_presets`` grouped by resolution, smallest first: ``{"1K": [...], ...}``."""
    return sizes.group_by_resolution(size_presets(model))


def check_size(model: str | ModelCapabilities, value: str | None) -> str | None:
    """None when ``model`` can make ``value`` (``"auto"`` or ``"WIDTHxHEIGHT"``), else one
    plain sentence saying why not and which size to use instead.

    Grid models take any size on the gpt-image-2 grid and get the nearest one suggested;
    fixed-list models name their list; a model without sizes asks for none. An empty value
    means "the model's default" and always passes.
    """
    caps = _caps(model)
    if value in (None, ""):
        return None
    if caps.size_rule == "none":
        return _("%(model)s does not take a size; leave it out or choose another model.") % {
            "model": caps.label
        }
    if value in caps.sizes:
        return None
    if caps.size_rule == "list":
        return _("%(model)s takes a size of %(sizes)s, not “%(value)s”.") % {
            "model": caps.label,
            "sizes": or_list(caps.sizes),
            "value": value,
        }
    parsed = sizes.parse_size(value) or sizes.read_size(value)
    if parsed is None:
        return _(
            "Give the size as width x height in pixels, such as 2048x1152, or auto; "
            "“%(value)s” is neither."
        ) % {"value": value}
    written = sizes.format_size(*parsed)
    problem = sizes.grid_problem(*parsed)
    if problem is not None:
        nearest = sizes.format_size(*sizes.nearest_grid_size(*parsed))
        return _(
            "%(model)s cannot make %(size)s: the size %(problem)s; the nearest it can make "
            "is %(nearest)s."
        ) % {"model": caps.label, "size": written, "problem": problem, "nearest": nearest}
    if written != value:
        return _("Write the size as %(size)s, without spaces or units.") % {"size": written}
    return None


# -- what goes into the request --------------------------------------------------------------


def response_format_for(
    model: str | ModelCapabilities, service: str, n: int | None, preferred: str | None = None
) -> str | None:
    """The ``response_format`` to send, or None to send none.

    - A model without that setting (nano-banana: always a link) gets none.
    - OpenAI refuses it for gpt-image models (they always answer in base64): none.
    - The gateway returns several results only as links: ``"url"`` when ``n`` > 1, and for
      a model whose base64 results stop at one (``b64_json_max_n``).
    - Otherwise the operator's ``preferred`` (``OPENAI_RESPONSE_FORMAT``) when the model
      has that kind, else none (the service's default).

    An unknown service is treated as the gateway, whose rules are the stricter.
    """
    caps = _caps(model)
    if not caps.accepts("response_format"):
        return None
    if service == OPENAI and not caps.response_format_at_openai:
        return None
    count = n or 1
    several_only_as_links = service != OPENAI and count > 1
    if caps.b64_json_max_n and count > caps.b64_json_max_n:
        several_only_as_links = True
    if several_only_as_links and "url" in caps.response_formats:
        return "url"
    if preferred in caps.response_formats:
        return preferred
    return None


def can_stream(model: str | ModelCapabilities, service: str) -> bool:
    """Whether partial images (``stream`` with ``partial_images``) may be asked of
    ``model`` at ``service``."""
    caps = _caps(model)
    return caps.served_at(service) and caps.streams(service)


def _caps(model: str | ModelCapabilities) -> ModelCapabilities:
    return model if isinstance(model, ModelCapabilities) else get_model(model)
