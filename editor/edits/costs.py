"""What an edit costs, estimated from the tokens the service reports.

Prices are configuration (`RETOUCH_PRICES`, JSON, US dollars): token-priced models list
prices per million tokens, image-priced models (dall-e-2) a price per result by size.
An estimate, not an invoice: it is what a team needs to keep an eye on spending.
"""

from decimal import Decimal

from django.conf import settings

DEFAULT_PRICES: dict[str, dict] = {
    "gpt-image-1": {
        "per_million_tokens": {"text_input": "5.00", "image_input": "10.00", "output": "40.00"}
    },
    "dall-e-2": {"per_image": {"256x256": "0.016", "512x512": "0.018", "1024x1024": "0.020"}},
}

MILLION = Decimal(1_000_000)
CENT_FRACTION = Decimal("0.000001")


def prices() -> dict[str, dict]:
    return {**DEFAULT_PRICES, **getattr(settings, "RETOUCH_PRICES", {})}


def estimate_cost(model: str, params: dict, usage: dict | None, results: int) -> Decimal | None:
    """The estimated price in dollars, or None when the model has no price."""
    table = prices().get(model)
    if not table:
        return None
    if "per_image" in table:
        size = params.get("size") or "1024x1024"
        price = table["per_image"].get(size) or max(table["per_image"].values(), key=Decimal)
        return (Decimal(price) * results).quantize(CENT_FRACTION)
    if not usage:
        return None
    rates = {k: Decimal(v) for k, v in table["per_million_tokens"].items()}
    details = usage.get("input_tokens_details") or {}
    input_tokens = int(usage.get("input_tokens") or 0)
    text = int(details.get("text_tokens") or 0)
    image = int(details.get("image_tokens") or 0)
    if not (text or image):
        # Without a breakdown, price all input as image input: better to overestimate.
        image = input_tokens
    output = int(usage.get("output_tokens") or 0)
    total = text * rates["text_input"] + image * rates["image_input"] + output * rates["output"]
    return (total / MILLION).quantize(CENT_FRACTION)
