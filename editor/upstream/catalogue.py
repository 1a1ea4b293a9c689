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

from . import sizes
from .modelspec import (
    GATEWAY,
    OPENAI,
    OPTIONS,
    UNKNOWN,
    InvalidEditRequest,
    ModelCapabilities,
)

SERVICE_LABELS = {GATEWAY: "AceData Cloud", OPENAI: "OpenAI", UNKNOWN: "this service"}
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
        "Best quality",
        "The gateway's recommended model: sharp results up to 4K, billed per image.",
        typical_seconds=60,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2.5-flare",
        "GPT Image 2.5 Flare",
        "Fastest",
        "Quick drafts and variations, up to 4K, billed per image.",
        typical_seconds=25,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2.5-sunburst",
        "GPT Image 2.5 Sunburst",
        "Keeps faces and text",
        "High fidelity: keeps faces, logos and lettering from your photos.",
        typical_seconds=70,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2:official",
        "GPT Image 2 (official)",
        "Takes a mask",
        "GPT Image 2 through OpenAI's own API: paints only where your mask is clear; "
        "billed per token.",
        **_OFFICIAL,
        typical_seconds=60,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2.5-flare:official",
        "GPT Image 2.5 Flare (official)",
        "Fast, takes a mask",
        "Flare through OpenAI's own API, with a mask; billed per token.",
        **_OFFICIAL,
        typical_seconds=25,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2.5-sunburst:official",
        "GPT Image 2.5 Sunburst (official)",
        "Keeps faces and text, takes a mask",
        "Sunburst through OpenAI's own API, with a mask; billed per token.",
        **_OFFICIAL,
        typical_seconds=70,
    ),
    _entry(
        _GPT_IMAGE_2,
        "gpt-image-2:reverse",
        "GPT Image 2 (second route)",
        "Second route",
        "GPT Image 2 by the gateway's other route: try it when the first is busy.",
        typical_seconds=60,
    ),
    _entry(
        _GPT_IMAGE,
        "gpt-image-1.5",
        "GPT Image 1.5",
        "Precise edits",
        "OpenAI's current model: follows masks closely and keeps details; billed per token.",
        typical_seconds=45,
    ),
    _entry(
        _GPT_IMAGE,
        "gpt-image-1",
        "GPT Image 1",
        "The original",
        "The model Retouch started with: up to 1536 pixels, billed per token.",
        typical_seconds=50,
    ),
    _entry(
        _GPT_IMAGE,
        "gpt-image-1-mini",
        "GPT Image 1 Mini",
        "Cheapest",
        "Lower cost per edit for quick tries; no input fidelity setting.",
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
        "Best at lettering",
        "Google's strongest image model: one photo, one result; billed per edit.",
        typical_seconds=30,
    ),
    _entry(
        _NANO_BANANA,
        "nano-banana-2",
        "Nano Banana 2",
        "Simple and sharp",
        "Google's newer Nano Banana: one photo, one result, no settings; billed per edit.",
        typical_seconds=15,
    ),
    _entry(
        _NANO_BANANA,
        "nano-banana",
        "Nano Banana",
        "Simplest",
        "Google's Gemini image model: one photo, one result, no settings; billed per edit.",
        typical_seconds=12,
    ),
    ModelCapabilities(
        name="dall-e-2",
        label="DALL·E 2",
        tagline="Legacy, square only",
        description="OpenAI's older model: one square PNG, small sizes, billed per image.",
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
        known = ", ".join(MODELS)
        raise InvalidEditRequest(
            {"model": [f"Retouch does not know the model “{name}”; choose one of: {known}."]}
        ) from None


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
    choices = ", ".join(model.label for model in offered) or "none"
    if name in MODELS:
        return (
            f"{MODELS[name].label} is not offered at {SERVICE_LABELS.get(service, service)}; "
            f"choose one of: {choices}."
        )
    return f"Retouch does not know the model “{name}”; choose one of: {choices}."


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
        return f"{caps.label} does not take a size; leave it out or choose another model."
    if value in caps.sizes:
        return None
    if caps.size_rule == "list":
        return f"{caps.label} takes a size of {_or_list(caps.sizes)}, not “{value}”."
    parsed = sizes.parse_size(value) or sizes.read_size(value)
    if parsed is None:
        return (
            f"Give the size as width x height in pixels, such as 2048x1152, or auto; "
            f"“{value}” is neither."
        )
    written = sizes.format_size(*parsed)
    problem = sizes.grid_problem(*parsed)
    if problem is not None:
        nearest = sizes.format_size(*sizes.nearest_grid_size(*parsed))
        return (
            f"{caps.label} cannot make {written}: the size {problem}; "
            f"the nearest it can make is {nearest}."
        )
    if written != value:
        return f"Write the size as {written}, without spaces or units."
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


def _or_list(items: tuple[str, ...]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]
