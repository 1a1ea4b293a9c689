"""Estimated cost from the price table (built in, or RETOUCH_PRICES): per token from the
usage the service reports, per image by size and quality, per request."""

from decimal import Decimal

import pytest

from editor.edits.costs import DEFAULT_PRICES, estimate_cost
from editor.upstream import MODELS

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
    assert estimate_cost("gpt-9000", {}, USAGE, 1) is None
    assert estimate_cost("gpt-image-1", {}, None, 1) is None


def test_every_catalogued_model_has_a_built_in_price_of_its_billing_kind():
    shapes = {"per_image": "per_image", "per_token": "per_million_tokens"}
    for model in MODELS.values():
        assert shapes.get(model.billing, model.billing) in DEFAULT_PRICES[model.name], model.name


# -- per image -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "each"),
    [
        ("1024x1024", "0.04"),
        ("1792x1024", "0.04"),
        ("2048x1152", "0.08"),
        ("2048x2048", "0.08"),
        ("3840x2160", "0.16"),
        ("2880x2880", "0.16"),
        ("auto", "0.04"),
        (None, "0.04"),
    ],
)
def test_gpt_image_2_is_priced_per_result_by_resolution(size, each):
    params = {"size": size} if size else {}
    assert estimate_cost("gpt-image-2", params, USAGE, 3) == Decimal(each) * 3


def test_per_image_models_need_no_usage():
    assert estimate_cost("gpt-image-2.5-flare", {"size": "2048x1536"}, None, 1) == Decimal("0.04")
    assert estimate_cost("gpt-image-2.5-sunburst", {}, None, 2) == Decimal("0.12")


def test_a_per_image_price_may_depend_on_quality(settings):
    settings.RETOUCH_PRICES = {
        "gpt-image-2": {"per_image": {"1K": {"low": "0.01", "high": "0.05"}, "default": "0.09"}}
    }
    assert estimate_cost("gpt-image-2", {"quality": "low"}, None, 1) == Decimal("0.01")
    # auto or unlisted quality: the dearest listed, to stay on the safe side.
    assert estimate_cost("gpt-image-2", {"quality": "auto"}, None, 1) == Decimal("0.05")
    assert estimate_cost("gpt-image-2", {"size": "2048x2048"}, None, 1) == Decimal("0.09")


def test_an_unlisted_size_costs_the_dearest_listed():
    assert estimate_cost("dall-e-2", {"size": "2048x2048"}, None, 1) == Decimal("0.02")


# -- per request -----------------------------------------------------------------------------


def test_nano_banana_is_priced_once_per_edit_whatever_the_usage():
    assert estimate_cost("nano-banana", {}, None, 1) == Decimal("0.039")
    assert estimate_cost("nano-banana-pro", {}, {"output_tokens": 99999}, 1) == Decimal("0.134")


# -- per token -------------------------------------------------------------------------------


def test_official_models_are_priced_per_token():
    # 25 text × $5 + 750 image × $8 + 1372 output × $32, per million tokens.
    assert estimate_cost("gpt-image-2:official", {}, USAGE, 1) == Decimal("0.050029")
    assert estimate_cost("gpt-image-2:official", {}, None, 1) is None


def test_partial_images_count_as_output_tokens():
    plain = estimate_cost("gpt-image-1", {}, USAGE, 1)
    # Two previews at about 100 output tokens each, at $40 per million.
    assert estimate_cost("gpt-image-1", {}, {**USAGE, "partial_images": 2}, 1) == plain + Decimal(
        "0.008"
    )
    assert estimate_cost(
        "gpt-image-1", {}, {**USAGE, "partial_image_tokens": 150, "partial_images": 2}, 1
    ) == plain + Decimal("0.006")


def test_text_output_tokens_may_have_their_own_price():
    usage = {**USAGE, "output_tokens_details": {"text_tokens": 372, "image_tokens": 1000}}
    # 25 × $5 + 750 × $8 + 1000 image output × $32 + 372 text output × $10.
    assert estimate_cost("gpt-image-1.5", {}, usage, 1) == Decimal("0.041845")


def test_a_malformed_price_gives_no_estimate_rather_than_an_error(settings, caplog):
    settings.RETOUCH_PRICES = {
        "gpt-image-1": {"per_million_tokens": {"text_input": "cheap"}},
        "gpt-image-2": {"per_image": {}},
        "nano-banana": "0.04",
    }
    assert estimate_cost("gpt-image-1", {}, USAGE, 1) is None
    assert estimate_cost("gpt-image-2", {}, None, 1) is None
    assert estimate_cost("nano-banana", {}, None, 1) is None
    assert "malformed" in caplog.text
