"""What an edit costs: an estimate, not an invoice, for a team keeping an eye on spending.

Each model is billed one of three ways (its catalogue entry's ``billing``), and its price
entry has the matching shape, in US dollars as strings:

- per token (gpt-image-1*, the ``:official`` models):
  ``{"per_million_tokens": {"text_input": "5", "image_input": "10", "output": "40"}}``,
  optionally ``"text_output"`` for text output tokens priced apart. Priced from the usage
  the service reports; partial images (previews) count as output tokens.
- per image (gpt-image-2, gpt-image-2.5-*, dall-e-2), times the results:
  ``{"per_image": {"1K": "0.04", "2K": "0.08", "4K": "0.16"}}``, keyed by an exact size
  (``"512x512"``), a resolution (``"1K"``, ``"2K"``, ``"4K"``: ``sizes.resolution_of``) or
  ``"default"``; a value may itself be ``{"low": "…", "high": "…"}`` by quality.
- per request (nano-banana*): ``{"per_request": "0.039"}``, once per edit.

``RETOUCH_PRICES`` (JSON in the same shape) replaces the entries of the models it names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from django.conf import settings

from editor.upstream.sizes import parse_size, resolution_of

log = logging.getLogger(__name__)

# Built-in prices. PLACEHOLDERS: the token prices are OpenAI's published list prices for
# its gpt-image models as last checked; the per-image and per-request prices are rough
# guesses from the gateway's and Google's public price pages, which change often and
# differ by account. An operator should check each against their own bill and set
# RETOUCH_PRICES. The ":official" models are priced like gpt-image-1.5 until known.
_OFFICIAL_TOKENS = {"text_input": "5.00", "image_input": "8.00", "output": "32.00"}
DEFAULT_PRICES: dict[str, dict] = {
    "gpt-image-2": {"per_image": {"1K": "0.04", "2K": "0.08", "4K": "0.16"}},
    "gpt-image-2:reverse": {"per_image": {"1K": "0.04", "2K": "0.08", "4K": "0.16"}},
    "gpt-image-2.5-flare": {"per_image": {"1K": "0.02", "2K": "0.04", "4K": "0.08"}},
    "gpt-image-2.5-sunburst": {"per_image": {"1K": "0.06", "2K": "0.12", "4K": "0.24"}},
    "gpt-image-2:official": {"per_million_tokens": _OFFICIAL_TOKENS},
    "gpt-image-2.5-flare:official": {"per_million_tokens": _OFFICIAL_TOKENS},
    "gpt-image-2.5-sunburst:official": {"per_million_tokens": _OFFICIAL_TOKENS},
    "gpt-image-1.5": {
        "per_million_tokens": {
            "text_input": "5.00",
            "image_input": "8.00",
            "output": "32.00",
            "text_output": "10.00",
        }
    },
    "gpt-image-1": {
        "per_million_tokens": {"text_input": "5.00", "image_input": "10.00", "output": "40.00"}
    },
    "gpt-image-1-mini": {
        "per_million_tokens": {"text_input": "2.00", "image_input": "2.50", "output": "8.00"}
    },
    "nano-banana": {"per_request": "0.039"},
    "nano-banana-2": {"per_request": "0.067"},
    "nano-banana-pro": {"per_request": "0.134"},
    "dall-e-2": {"per_image": {"256x256": "0.016", "512x512": "0.018", "1024x1024": "0.020"}},
}

MILLION = Decimal(1_000_000)
CENT_FRACTION = Decimal("0.000001")
# The contract: "each partial image costs about 100 extra output tokens".
TOKENS_PER_PARTIAL_IMAGE = 100


def prices() -> dict[str, dict]:
    return {**DEFAULT_PRICES, **settings.RETOUCH_PRICES}


def estimate_cost(model: str, params: dict, usage: dict | None, results: int) -> Decimal | None:
    """The estimated price in dollars, or None when the model has no price (or, for a
    token-priced model, the service reported no usage).

    A malformed price entry gives None and a warning in the log: a cost estimate must never
    stop an edit's results from being stored.
    """
    table = prices().get(model)
    if not isinstance(table, Mapping):
        return None
    try:
        if "per_request" in table:
            total = Decimal(table["per_request"])
        elif "per_image" in table:
            total = _per_image(table["per_image"], params or {}) * results
        elif "per_million_tokens" in table:
            if not usage:
                return None
            total = _per_token(table["per_million_tokens"], usage)
        else:
            return None
    except (InvalidOperation, TypeError, ValueError, KeyError, AttributeError):
        log.warning("The price entry of %s is malformed; no cost estimate", model)
        return None
    return total.quantize(CENT_FRACTION)


def _per_image(table: Mapping, params: Mapping) -> Decimal:
    """The price of one result: by its exact size, else its resolution, else ``default``,
    else the dearest listed (better to overestimate). ``auto`` counts as 1K."""
    size = params.get("size") or "1024x1024"
    parsed = parse_size(size)
    resolution = resolution_of(*parsed) if parsed else "1K"
    for key in (size, resolution, "default"):
        if key in table:
            return _by_quality(table[key], params.get("quality"))
    return max(_by_quality(value, params.get("quality")) for value in table.values())


def _by_quality(value, quality: str | None) -> Decimal:
    if not isinstance(value, Mapping):
        return Decimal(value)
    if quality in value:
        return Decimal(value[quality])
    if "default" in value:
        return Decimal(value["default"])
    # auto or unlisted: the dearest, to stay on the safe side.
    return max(Decimal(v) for v in value.values())


def _per_token(table: Mapping, usage: Mapping) -> Decimal:
    rates = {k: Decimal(v) for k, v in table.items()}
    details = usage.get("input_tokens_details") or {}
    input_tokens = int(usage.get("input_tokens") or 0)
    text = int(details.get("text_tokens") or 0)
    image = int(details.get("image_tokens") or 0)
    if not (text or image):
        # Without a breakdown, price all input as image input: better to overestimate.
        image = input_tokens
    output = int(usage.get("output_tokens") or 0)
    text_output = 0
    if "text_output" in rates:
        out_details = usage.get("output_tokens_details") or {}
        text_output = min(int(out_details.get("text_tokens") or 0), output)
    output += _partial_image_tokens(usage)
    total = (
        text * rates["text_input"]
        + image * rates["image_input"]
        + (output - text_output) * rates["output"]
        + text_output * rates.get("text_output", Decimal(0))
    )
    return total / MILLION


def _partial_image_tokens(usage: Mapping) -> int:
    """Output tokens the previews cost beyond ``output_tokens``: ``partial_image_tokens``
    when the worker recorded them, else ``partial_images`` (a count) at about 100 each.
    Neither key is the service's: the worker adds one when the service's usage leaves the
    previews out."""
    if usage.get("partial_image_tokens") is not None:
        return int(usage["partial_image_tokens"])
    return int(usage.get("partial_images") or 0) * TOKENS_PER_PARTIAL_IMAGE
