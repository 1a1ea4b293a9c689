"""Edits requests that break the contract get 400 naming the field, as the gateway answers."""

from __future__ import annotations

import pytest

from .factories import image_bytes
from .simulator_helpers import (
    JPEG,
    SQUARE,
    assert_gateway_error,
    edit,
    mask_bytes,
    png_file,
    stored_png,
)

GIF = image_bytes((64, 48), fmt="GIF")
RGB_MASK = image_bytes((64, 48), (0, 0, 0))
SMALL_MASK = mask_bytes((32, 24), (0, 0, 16, 24))

VALIDATION_CASES = [
    ("missing-prompt", {"prompt": None}, None, "'prompt'"),
    ("blank-prompt", {"prompt": "   "}, None, "'prompt'"),
    ("long-prompt-dalle", {"model": "dall-e-2", "prompt": "x" * 1001},
     [png_file("image", SQUARE)], "'prompt'"),
    ("long-prompt-gpt", {"prompt": "x" * 32001}, None, "32000"),
    ("unknown-model", {"model": "dall-e-3"}, None, "'model'"),
    ("no-image", {}, [], "'image[]'"),
    ("seventeen-images", {}, [png_file() for _ in range(17)], "at most 16"),
    ("dalle-two-images", {"model": "dall-e-2"},
     [png_file("image[]", SQUARE), png_file("image[]", SQUARE)], "exactly one"),
    ("undecodable", {}, [png_file(data=b"this is not a picture")], "not a valid image"),
    ("gif", {}, [("image[]", ("a.gif", GIF, "image/gif"))], "GIF"),
    ("dalle-not-square", {"model": "dall-e-2"}, [png_file("image")], "square"),
    ("dalle-jpeg", {"model": "dall-e-2"},
     [("image", ("a.jpg", image_bytes((64, 64), fmt="JPEG"), "image/jpeg"))], "PNG"),
    ("mask-jpeg", {}, [png_file(), ("mask", ("m.jpg", JPEG, "image/jpeg"))], "'mask'"),
    ("mask-without-alpha", {}, [png_file(), png_file("mask", RGB_MASK)], "alpha"),
    ("mask-other-size", {}, [png_file(), png_file("mask", SMALL_MASK)], "same size"),
    ("n-zero", {"n": "0"}, None, "'n'"),
    ("n-eleven", {"n": "11"}, None, "'n'"),
    ("n-not-a-number", {"n": "two"}, None, "'n'"),
    ("size-gpt", {"size": "2048x2048"}, None, "'size'"),
    ("size-dalle", {"model": "dall-e-2", "size": "1536x1024"},
     [png_file("image", SQUARE)], "'size'"),
    ("quality-gpt", {"quality": "ultra"}, None, "'quality'"),
    ("quality-dalle", {"model": "dall-e-2", "quality": "high"},
     [png_file("image", SQUARE)], "'quality'"),
    ("background", {"background": "sparkly"}, None, "'background'"),
    ("background-dalle", {"model": "dall-e-2", "background": "opaque"},
     [png_file("image", SQUARE)], "'background'"),
    ("output-format", {"output_format": "gif"}, None, "'output_format'"),
    ("output-compression", {"output_format": "jpeg", "output_compression": "101"}, None,
     "'output_compression'"),
    ("input-fidelity", {"input_fidelity": "max"}, None, "'input_fidelity'"),
    ("transparent-jpeg", {"background": "transparent", "output_format": "jpeg"}, None,
     "'background'"),
    ("response-format", {"response_format": "binary"}, None, "'response_format'"),
    ("callback-url", {"callback_url": "ftp://example.com/x"}, None, "'callback_url'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "files", "named"),
    [case[1:] for case in VALIDATION_CASES],
    ids=[case[0] for case in VALIDATION_CASES],
)
def test_invalid_requests_get_400_naming_the_field(sim, fields, files, named):
    body = assert_gateway_error(edit(sim, fields, files), 400, "bad_request")
    assert named in body["error"]["message"]
    assert sim.edit_requests[-1].status == 400


def test_dall_e_2_image_of_4_mb_is_rejected(sim):
    big = stored_png((1200, 1200))
    assert len(big) >= 4 * 1024 * 1024
    response = edit(sim, {"model": "dall-e-2"}, [png_file("image", big)])
    body = assert_gateway_error(response, 400, "bad_request")
    assert "4 MB" in body["error"]["message"]


def test_mask_over_4_mb_is_rejected(sim):
    big_mask = stored_png((1100, 1100), "RGBA")
    assert len(big_mask) > 4 * 1024 * 1024
    response = edit(sim, files=[png_file(), png_file("mask", big_mask)])
    body = assert_gateway_error(response, 400, "bad_request")
    assert "'mask'" in body["error"]["message"] and "4 MB" in body["error"]["message"]
