"""Estimated cost from usage and the price table in settings."""

from decimal import Decimal

from editor.edits.costs import estimate_cost

USAGE = {
    "input_tokens": 775,
    "output_tokens": 1372,
    "total_tokens": 2147,
    "input_tokens_details": {"text_tokens": 25, "image_tokens": 750},
}


def test_gpt_image_1_is_priced_per_token_kind():
    # 25 text × $5 + 750 image × $10 + 1372 output × $40, per million tokens.
    assert estimate_cost("gpt-image-1", {}, USAGE, 1) == Decimal("0.062505")


def test_without_a_breakdown_all_input_is_priced_as_image_input():
    usage = {"input_tokens": 1000, "output_tokens": 0}
    assert estimate_cost("gpt-image-1", {}, usage, 1) == Decimal("0.010000")


def test_dall_e_2_is_priced_per_result_by_size():
    assert estimate_cost("dall-e-2", {"size": "512x512"}, None, 3) == Decimal("0.054000")


def test_prices_come_from_settings(settings):
    settings.RETOUCH_PRICES = {
        "gpt-image-1": {
            "per_million_tokens": {"text_input": "1", "image_input": "1", "output": "1"}
        }
    }
    assert estimate_cost("gpt-image-1", {}, USAGE, 1) == Decimal("0.002147")


def test_unknown_model_or_missing_usage_has_no_estimate():
    assert estimate_cost("nano-banana", {}, USAGE, 1) is None
    assert estimate_cost("gpt-image-1", {}, None, 1) is None
