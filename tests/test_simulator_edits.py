"""Successful edits: the response, the images drawn, the settings honoured, the request log."""

from __future__ import annotations

import base64
import io
import re
import time

import pytest
import requests
from PIL import Image

from .factories import image_bytes
from .simulator_helpers import (
    SQUARE,
    edit,
    mask_bytes,
    png_file,
    result_images,
)


def test_success_has_the_gateway_fields_and_a_decodable_png(sim):
    response = edit(sim)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert re.fullmatch(r"[0-9a-f-]{36}", body["task_id"])
    assert re.fullmatch(r"[0-9a-f-]{36}", body["trace_id"])
    assert isinstance(body["created"], int) and abs(body["created"] - time.time()) < 60
    assert isinstance(body["elapsed"], float)
    assert (body["size"], body["quality"], body["output_format"], body["background"]) == (
        "1024x1024",
        "medium",
        "png",
        "opaque",
    )
    assert body["data"][0]["revised_prompt"] == "make it look like a watercolour"
    [image] = result_images(response)
    assert (image.format, image.size) == ("PNG", (1024, 1024))


def test_the_result_is_visibly_edited_not_the_source(sim):
    [image] = result_images(
        edit(sim, files=[png_file(data=image_bytes((64, 48), color=(200, 60, 40)))])
    )
    r, g, b = image.convert("RGB").getpixel((512, 400))
    assert abs(r - 200) + abs(g - 60) + abs(b - 40) > 30


@pytest.mark.parametrize("field", ["image", "image[]"])
def test_images_are_accepted_as_image_or_image_brackets(sim, field):
    response = edit(sim, files=[png_file(field), png_file(field)])
    assert response.status_code == 200
    assert [f["field"] for f in sim.edit_requests[-1].files] == [field, field]


def test_several_images_share_one_canvas(sim):
    red, blue = image_bytes((64, 48), color=(255, 0, 0)), image_bytes((64, 48), color=(0, 0, 255))
    response = edit(sim, {"size": "1536x1024"}, [png_file(data=red), png_file(data=blue)])
    [image] = result_images(response)
    left = image.convert("RGB").getpixel((380, 500))
    right = image.convert("RGB").getpixel((1150, 500))
    assert left[0] > left[2] and right[2] > right[0]


def test_url_results_are_served_without_auth_with_their_content_type(sim):
    response = edit(sim, {"response_format": "url", "output_format": "webp"})
    [item] = response.json()["data"]
    assert "b64_json" not in item
    assert re.fullmatch(re.escape(sim.root_url) + r"/_sim/files/[0-9a-f]{32}\.webp", item["url"])
    served = requests.get(item["url"], timeout=5)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(served.content)).format == "WEBP"
    assert sim.served_files() == [item["url"].rsplit("/", 1)[1]]


def test_unknown_served_file_is_404(sim):
    response = requests.get(sim.root_url + "/_sim/files/" + "0" * 32 + ".png", timeout=5)
    assert response.status_code == 404


def test_mask_limits_the_edit_to_its_transparent_area(sim):
    source = image_bytes((200, 200), (10, 120, 200))
    mask = mask_bytes((200, 200), (0, 0, 100, 200))  # left half may change
    response = edit(sim, files=[png_file(data=source), png_file("mask", mask)])
    [image] = result_images(response)
    rgb = image.convert("RGB")
    assert rgb.getpixel((900, 300)) == (10, 120, 200)
    assert rgb.getpixel((900, 1000)) == (10, 120, 200)  # the banner stays in the masked half
    assert rgb.getpixel((100, 300)) != (10, 120, 200)


@pytest.mark.parametrize(
    ("source_size", "expected"),
    [((300, 200), (1536, 1024)), ((200, 300), (1024, 1536)), ((210, 200), (1024, 1024))],
)
def test_size_auto_follows_the_first_images_aspect(sim, source_size, expected):
    response = edit(sim, {"size": "auto"}, [png_file(data=image_bytes(source_size))])
    assert response.json()["size"] == "{}x{}".format(*expected)
    assert result_images(response)[0].size == expected


@pytest.mark.parametrize("size", ["256x256", "512x512"])
def test_dall_e_2_sizes_are_honoured(sim, size):
    response = edit(sim, {"model": "dall-e-2", "size": size}, [png_file("image", SQUARE)])
    assert response.json()["quality"] == "standard"
    assert "x".join(map(str, result_images(response)[0].size)) == size


def test_gpt_image_2_accepts_a_custom_size(sim):
    response = edit(sim, {"model": "gpt-image-2", "size": "1152x768"})
    assert result_images(response)[0].size == (1152, 768)


def test_default_model_is_gpt_image_1_rules(sim):
    response = edit(sim, {"model": None, "prompt": "y" * 5000})
    assert response.status_code == 200


@pytest.mark.parametrize(("output_format", "pillow"), [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_output_format_is_honoured(sim, output_format, pillow):
    response = edit(sim, {"output_format": output_format})
    assert response.json()["output_format"] == output_format
    assert result_images(response)[0].format == pillow


def test_output_compression_changes_the_file_size(sim):
    def size_at(compression: str) -> int:
        fields = {"output_format": "jpeg", "output_compression": compression}
        return len(base64.b64decode(edit(sim, fields).json()["data"][0]["b64_json"]))

    assert size_at("5") < size_at("95")


@pytest.mark.parametrize("output_format", ["png", "webp"])
def test_transparent_background_gives_an_image_with_transparent_pixels(sim, output_format):
    response = edit(sim, {"background": "transparent", "output_format": output_format})
    assert response.json()["background"] == "transparent"
    image = result_images(response)[0].convert("RGBA")
    assert image.getpixel((0, 0))[3] == 0
    assert image.getpixel((512, 512))[3] == 255


def test_opaque_result_has_no_transparency(sim):
    image = result_images(edit(sim, {"background": "opaque"}))[0]
    assert "A" not in image.getbands()


def test_n_results_are_each_a_little_different(sim):
    response = edit(sim, {"n": "3"})
    images = [image.convert("RGB").tobytes() for image in result_images(response)]
    assert len(images) == 3 and len(set(images)) == 3
    assert response.json()["usage"]["output_tokens"] == 3 * 1056


def test_usage_is_deterministic_and_grows_with_prompt_images_and_quality(sim):
    base = edit(sim).json()["usage"]
    assert edit(sim).json()["usage"] == base
    assert base["total_tokens"] == base["input_tokens"] + base["output_tokens"]
    details = base["input_tokens_details"]
    assert base["input_tokens"] == details["text_tokens"] + details["image_tokens"]
    longer = edit(sim, {"prompt": "make it look like a watercolour" * 10}).json()["usage"]
    assert longer["input_tokens_details"]["text_tokens"] > details["text_tokens"]
    two = edit(sim, files=[png_file(), png_file()]).json()["usage"]
    assert two["input_tokens_details"]["image_tokens"] == 2 * details["image_tokens"]
    high = edit(sim, {"quality": "high"}).json()["usage"]
    assert high["output_tokens"] > base["output_tokens"]


def test_latency_delays_the_answer(sim):
    sim.set_latency(0.3)
    started = time.monotonic()
    response = edit(sim)
    assert time.monotonic() - started >= 0.3
    assert response.json()["elapsed"] >= 0.3


def test_the_request_log_describes_fields_and_files(sim):
    edit(
        sim,
        {"user": "user-7", "size": "1024x1024"},
        [png_file(data=image_bytes((40, 30), (1, 2, 3, 4), mode="RGBA")), png_file()],
    )
    [record] = sim.requests
    assert (record.method, record.path, record.status) == ("POST", "/openai/images/edits", 200)
    assert record.fields["user"] == ["user-7"]
    assert record.headers["authorization"] == "Bearer sk-test"
    assert record.body_size == int(record.headers["content-length"])
    first = record.files[0]
    assert first["field"] == "image[]" and first["filename"] == "a.png"
    assert first["content_type"] == "image/png"
    assert (first["format"], first["width"], first["height"]) == ("PNG", 40, 30)
    assert (first["mode"], first["has_alpha"]) == ("RGBA", True)
    assert record.files[1]["has_alpha"] is False


def test_requests_is_a_snapshot_not_the_live_log(sim):
    edit(sim)
    snapshot = sim.requests
    snapshot[0].status = 999
    snapshot.clear()
    assert sim.requests[0].status == 200
