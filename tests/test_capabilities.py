"""validate() rejects, before any upload, the edits each model would refuse."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from editor.upstream import (
    MODELS,
    ImageInput,
    InvalidEditRequest,
    ModelCapabilities,
    get_model,
)
from editor.upstream.capabilities import normalize_content_type, stream_size, validate

from .client_helpers import EVERY_OPTION, errors_of
from .client_helpers import bare_edit_request as request
from .client_helpers import signature_only_png as image

MB = 1024 * 1024


def sparse_image(tmp_path, size: int, name: str = "big.png", content_type: str = "image/png"):
    """A file of ``size`` bytes that costs no memory or disk: validate() must only seek."""
    path = tmp_path / name
    with open(path, "wb") as fh:
        fh.truncate(size)
    fh = open(path, "rb")  # noqa: SIM115 - closed by the caller's fixture teardown
    return ImageInput(filename=name, content_type=content_type, fileobj=fh)


def test_valid_gpt_image_request_passes_and_returns_capabilities():
    assert validate(request()) is MODELS["gpt-image-1"]


def test_every_gpt_image_option_at_a_valid_value_passes():
    req = request(
        images=[image(f"p{i}.png") for i in range(16)],
        mask=image("mask.png"),
        callback_url="https://retouch.example/hooks/abc",
        **EVERY_OPTION,
    )
    assert validate(req).name == "gpt-image-1"


def test_valid_dall_e_2_request_passes():
    req = request(model="dall-e-2", n=2, size="512x512", response_format="url", quality="standard")
    assert validate(req).image_field == "image"


def test_unknown_model_is_reported_on_the_model_field():
    errs = errors_of(request(model="gpt-9000"))
    assert "gpt-9000" in errs["model"][0]


def test_get_model_raises_invalid_edit_request_for_unknown_names():
    with pytest.raises(InvalidEditRequest) as info:
        get_model("nope")
    assert "model" in info.value.errors
    assert isinstance(info.value, ValueError)


def test_gpt_image_2_is_the_default_and_capabilities_are_data():
    from editor.upstream import DEFAULT_MODEL

    # The default where nothing says which service: the gateway's recommended model.
    assert DEFAULT_MODEL == "gpt-image-2"
    gpt = get_model("gpt-image-1")
    assert isinstance(gpt, ModelCapabilities)
    assert gpt.image_field == "image[]"
    assert gpt.max_images == 16
    assert gpt.default_size in gpt.sizes
    # Adding a model is one more entry, e.g. a future gpt-image-1.5 derived from gpt-image-1.
    newer = replace(gpt, name="gpt-image-1.5", label="GPT Image 1.5")
    assert newer.options == gpt.options
    with pytest.raises(AttributeError):
        gpt.max_images = 3  # type: ignore[misc]


def test_options_list_only_what_each_model_takes():
    assert "background" in MODELS["gpt-image-1"].options
    assert "input_fidelity" in MODELS["gpt-image-1"].options
    assert "background" not in MODELS["dall-e-2"].options
    assert "output_compression" not in MODELS["dall-e-2"].options


@pytest.mark.parametrize("prompt", ["", "   \n"])
def test_empty_prompt_is_rejected(prompt):
    assert errors_of(request(prompt=prompt)) == {"prompt": ["Describe the change you want."]}


def test_prompt_longer_than_the_model_allows_is_rejected():
    assert validate(request(model="dall-e-2", prompt="x" * 1000))
    errs = errors_of(request(model="dall-e-2", prompt="x" * 1001))
    assert "1,000 characters" in errs["prompt"][0]
    assert validate(request(prompt="x" * 32_000))
    assert "prompt" in errors_of(request(prompt="x" * 32_001))


def test_no_images_is_rejected():
    assert "images" in errors_of(request(images=[]))


def test_more_than_sixteen_images_is_rejected_for_gpt_image_1():
    errs = errors_of(request(images=[image(f"p{i}.png") for i in range(17)]))
    assert "at most 16" in errs["images"][0]


def test_dall_e_2_takes_exactly_one_image():
    errs = errors_of(request(model="dall-e-2", images=[image(), image("b.png")]))
    assert "exactly one" in errs["images"][0]


@pytest.mark.parametrize("content_type", ["image/gif", "application/pdf", ""])
def test_unsupported_image_type_is_rejected(content_type):
    errs = errors_of(request(images=[image("a.gif", content_type)]))
    assert "“a.gif”" in errs["images"][0]
    assert "PNG, JPEG or WebP" in errs["images"][0]


def test_dall_e_2_accepts_only_png():
    errs = errors_of(request(model="dall-e-2", images=[image("a.jpg", "image/jpeg")]))
    assert "PNG" in errs["images"][0]


@pytest.mark.parametrize("content_type", ["image/jpg", "IMAGE/JPEG", "image/webp; q=1"])
def test_content_type_spellings_are_normalized(content_type):
    assert validate(request(images=[image("a.jpg", content_type)]))


def test_normalize_content_type():
    assert normalize_content_type("image/JPG; charset=binary") == "image/jpeg"
    assert normalize_content_type(None) == ""


def test_image_at_or_over_50_mb_is_rejected_without_reading_it(tmp_path):
    big = sparse_image(tmp_path, 50 * MB)
    ok = sparse_image(tmp_path, 50 * MB - 1, name="ok.png")
    try:
        errs = errors_of(request(images=[big, ok]))
        assert errs["images"] == [
            "“big.png” is 50 MB; GPT Image 1 takes images smaller than 50 MB."
        ]
        assert big.fileobj.tell() == 0
    finally:
        big.fileobj.close()
        ok.fileobj.close()


def test_dall_e_2_image_limit_is_4_mb():
    errs = errors_of(request(model="dall-e-2", images=[image(size=4 * MB)]))
    assert "4 MB" in errs["images"][0]


def test_empty_image_file_is_rejected():
    errs = errors_of(request(images=[image(size=0)]))
    assert "empty" in errs["images"][0]


def test_stream_size_leaves_the_position_alone():
    fh = io.BytesIO(b"abcdef")
    fh.seek(2)
    assert stream_size(fh) == 6
    assert fh.tell() == 2


def test_mask_must_be_png():
    errs = errors_of(request(mask=image("mask.jpg", "image/jpeg")))
    assert "PNG" in errs["mask"][0]


def test_mask_over_4_mb_is_rejected():
    assert validate(request(mask=image("mask.png", size=4 * MB)))
    errs = errors_of(request(mask=image("mask.png", size=4 * MB + 1)))
    assert "at most 4 MB" in errs["mask"][0]


@pytest.mark.parametrize("n", [0, 11, -1, True, "2"])
def test_n_outside_one_to_ten_is_rejected(n):
    assert errors_of(request(n=n)) == {"n": ["Ask for between 1 and 10 results."]}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size", "512x512"),
        ("quality", "standard"),
        ("background", "green"),
        ("output_format", "gif"),
        ("input_fidelity", "medium"),
        ("response_format", "json"),
    ],
)
def test_choice_outside_the_models_list_is_rejected(field, value):
    errs = errors_of(request(**{field: value}))
    assert list(errs) == [field]
    assert f"“{value}”" in errs[field][0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("background", "opaque"),
        ("output_format", "png"),
        ("output_compression", 50),
        ("input_fidelity", "high"),
    ],
)
def test_option_the_model_does_not_take_is_rejected(field, value):
    errs = errors_of(request(model="dall-e-2", **{field: value}))
    assert errs[field][0].startswith("DALL·E 2 does not take a ")


def test_dall_e_2_sizes_are_its_own():
    assert "size" in errors_of(request(model="dall-e-2", size="1536x1024"))


def test_transparent_background_needs_png_or_webp():
    assert validate(request(background="transparent"))  # png is the default output
    assert validate(request(background="transparent", output_format="webp"))
    errs = errors_of(request(background="transparent", output_format="jpeg"))
    assert "PNG or WebP" in errs["background"][0]


def test_compression_only_with_jpeg_or_webp():
    assert validate(request(output_format="jpeg", output_compression=0))
    assert validate(request(output_format="webp", output_compression=100))
    errs = errors_of(request(output_compression=50))
    assert "JPEG or WebP" in errs["output_compression"][0]
    errs = errors_of(request(output_format="png", output_compression=50))
    assert "JPEG or WebP" in errs["output_compression"][0]


@pytest.mark.parametrize("value", [-1, 101, 50.5, True])
def test_compression_must_be_0_to_100(value):
    errs = errors_of(request(output_format="jpeg", output_compression=value))
    assert "0 to 100" in errs["output_compression"][0]


def test_callback_url_must_be_http():
    assert "callback_url" in errors_of(request(callback_url="ftp://x/y"))
    assert "callback_url" in errors_of(request(callback_url="/relative"))


def test_all_problems_are_reported_at_once():
    errs = errors_of(request(prompt="", images=[], n=50, size="huge"))
    assert set(errs) == {"prompt", "images", "n", "size"}


def test_messages_are_plain_language():
    errs = errors_of(request(prompt="", images=[image("a.gif", "image/gif")], size="huge"))
    for messages in errs.values():
        for message in messages:
            assert message[0].isupper() or message.startswith("“")
            assert message.endswith(".")
            assert "{" not in message
            assert "Error" not in message


def test_invalid_edit_request_str_summarizes_fields():
    exc = InvalidEditRequest({"prompt": ["Describe the change you want."]})
    assert str(exc) == "prompt: Describe the change you want."
