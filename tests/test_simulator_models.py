"""Every model of the contract's table, with its rules both ways: what it takes and what the
gateway refuses with 400 (naming the field), and how each answers."""

from __future__ import annotations

import time

import pytest
import requests

from .factories import image_bytes
from .simulator_helpers import (
    SQUARE,
    assert_gateway_error,
    edit,
    mask_bytes,
    png_file,
    result_images,
)

GPT_IMAGE_2 = [
    "gpt-image-2",
    "gpt-image-2:reverse",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-sunburst",
]
OFFICIAL = [
    "gpt-image-2:official",
    "gpt-image-2.5-flare:official",
    "gpt-image-2.5-sunburst:official",
]
GRID_MODELS = GPT_IMAGE_2 + OFFICIAL
GPT_IMAGE_1 = ["gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini"]
NANO_BANANA = ["nano-banana", "nano-banana-2", "nano-banana-pro"]
ALL_MODELS = GRID_MODELS + GPT_IMAGE_1 + NANO_BANANA + ["dall-e-2"]
MASK = mask_bytes((64, 48), (0, 0, 32, 48))
SQUARE_MASK = mask_bytes((64, 64), (0, 0, 32, 64))


def files_for(model: str, *, mask: bool = False) -> list:
    if model == "dall-e-2":
        return [png_file("image", SQUARE), *([png_file("mask", SQUARE_MASK)] if mask else [])]
    return [png_file(), *([png_file("mask", MASK)] if mask else [])]


@pytest.mark.parametrize("model", ALL_MODELS)
def test_every_catalogued_model_is_served(sim, model):
    response = edit(sim, {"model": model}, files_for(model))
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 1


# --- accepted -------------------------------------------------------------------------------

ACCEPTED = [
    *[(m, {"size": "1024x1024"}, (1024, 1024)) for m in GRID_MODELS],
    *[("gpt-image-2", {"size": s}, tuple(map(int, s.split("x"))))
      for s in ("1152x768", "2048x1152", "1152x2048", "2880x2880", "2048x1536", "1024x3072")],
    ("gpt-image-2", {"size": "auto"}, (1536, 1024)),  # the source is 4:3
    ("gpt-image-2.5-flare", {"n": "1", "response_format": "b64_json"}, (1024, 1024)),
    *[(m, {"size": "1536x1024", "n": "2"}, (1536, 1024)) for m in GPT_IMAGE_1],
    ("dall-e-2", {"size": "512x512", "n": "2"}, (512, 512)),
]  # fmt: skip


@pytest.mark.parametrize(("model", "fields", "size"), ACCEPTED)
def test_requests_within_a_models_rules_are_answered(sim, model, fields, size):
    # JPEG draws fastest; dall-e-2 takes no output_format.
    output_format = None if model == "dall-e-2" else "jpeg"
    fields = {"model": model, "output_format": output_format, **fields}
    response = edit(sim, fields, files_for(model))
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["data"]) == int(fields.get("n") or 1)
    if "b64_json" in body["data"][0]:
        assert {image.size for image in result_images(response)} == {size}
    assert body["size"] == "{}x{}".format(*size)


@pytest.mark.parametrize("model", OFFICIAL + GPT_IMAGE_1 + ["dall-e-2"])
def test_models_that_take_a_mask_take_it(sim, model):
    assert edit(sim, {"model": model}, files_for(model, mask=True)).status_code == 200


@pytest.mark.parametrize("model", GRID_MODELS)
def test_gpt_image_2_family_gives_urls_for_several_results(sim, model):
    response = edit(sim, {"model": model, "n": "3", "output_format": "jpeg"})
    assert response.status_code == 200
    items = response.json()["data"]
    assert len(items) == 3 and all("b64_json" not in item for item in items)
    assert all(item["url"].startswith(sim.root_url + "/_sim/files/") for item in items)


# --- refused --------------------------------------------------------------------------------

REFUSED = [
    *[(m, {}, "mask", "'mask'") for m in GPT_IMAGE_2],
    *[(m, {"n": "2", "response_format": "b64_json"}, None, "b64_json needs n=1")
      for m in GRID_MODELS],
    *[(m, {"n": "11"}, None, "'n'") for m in GRID_MODELS + GPT_IMAGE_1 + ["dall-e-2"]],
    *[(m, {field: value}, None, f"'{field}'") for m in NANO_BANANA for field, value in (
        ("n", "1"), ("size", "1024x1024"), ("response_format", "url"), ("quality", "high"),
        ("background", "opaque"), ("output_format", "png"), ("output_compression", "50"),
        ("input_fidelity", "high"), ("stream", "true"), ("partial_images", "1"))],
    *[(m, {}, "mask", "'mask'") for m in NANO_BANANA],
    *[(m, {}, "two", "exactly one") for m in [*NANO_BANANA, "dall-e-2"]],
    *[(m, {"size": "2048x2048"}, None, "'size'") for m in GPT_IMAGE_1],
    ("dall-e-2", {"size": "auto"}, None, "'size'"),
    ("dall-e-2", {"stream": "true"}, None, "'stream'"),
    ("dall-e-2", {"partial_images": "1"}, None, "'partial_images'"),
]  # fmt: skip


@pytest.mark.parametrize(("model", "fields", "extra", "named"), REFUSED)
def test_requests_outside_a_models_rules_get_the_gateways_400(sim, model, fields, extra, named):
    files = files_for(model, mask=extra == "mask")
    if extra == "two":
        files = files + files
    response = edit(sim, {"model": model, **fields}, files)
    body = assert_gateway_error(response, 400, "bad_request")
    assert named in body["error"]["message"]
    assert model in body["error"]["message"] or named == "'n'"


OFF_GRID = [
    ("1000x1000", "multiples of 16"),
    ("3856x1024", "at most 3840"),
    ("768x512", "pixels"),  # 393,216 pixels: below 655,360
    ("2896x2896", "pixels"),  # 8,386,816 pixels: above 8,294,400
    ("3072x1008", "3:1"),
    ("4096x2304", "at most 3840"),
    ("big", "WIDTHxHEIGHT"),
    ("1024X1024", "WIDTHxHEIGHT"),
]


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-2.5-sunburst:official"])
@pytest.mark.parametrize(("size", "why"), OFF_GRID)
def test_an_off_grid_size_gets_400_saying_which_rule(sim, model, size, why):
    body = assert_gateway_error(edit(sim, {"model": model, "size": size}), 400, "bad_request")
    message = body["error"]["message"]
    assert "'size'" in message and "off the grid" in message and why in message
    assert "multiples of 16" in message  # the whole rule, whichever part was broken


# --- how each answers -----------------------------------------------------------------------


@pytest.mark.parametrize("model", NANO_BANANA)
def test_nano_banana_answers_with_one_url_and_created_0(sim, model):
    response = edit(sim, {"model": model}, [png_file("image")])
    assert response.status_code == 200
    body = response.json()
    assert body["created"] == 0
    assert body["success"] is True and body["trace_id"]
    assert "usage" not in body  # billed per request
    [item] = body["data"]
    assert set(item) == {"url"}
    served = requests.get(item["url"], timeout=5)
    assert served.headers["Content-Type"] == "image/png"


def test_nano_banana_in_callback_mode_also_answers_with_a_url(sim):
    response = edit(sim, {"model": "nano-banana", "callback_url": "http://127.0.0.1:9/x"})
    task_id = response.json()["task_id"]
    for _ in range(200):
        [task] = [t for t in sim.tasks if t["id"] == task_id]
        if "response" in task:
            break
        time.sleep(0.02)
    result = task["response"]["data"]
    assert result["created"] == 0 and set(result["data"][0]) == {"url"}


def test_the_default_response_format_stays_base64_for_one_result(sim):
    body = edit(sim, {"model": "gpt-image-2"}).json()
    assert "b64_json" in body["data"][0] and isinstance(body["usage"]["output_tokens"], int)


@pytest.mark.parametrize(
    ("size", "pixels"), [("2048x2048", (2048, 2048)), ("3840x2160", (3840, 2160))]
)
def test_2k_and_4k_results_come_at_the_size_asked_for_and_quickly(sim, size, pixels):
    source = png_file(data=image_bytes((400, 300), (200, 60, 40)))
    started = time.monotonic()
    response = edit(sim, {"model": "gpt-image-2", "size": size}, [source], timeout=30)
    elapsed = time.monotonic() - started
    [image] = result_images(response)
    assert (image.format, image.size) == ("PNG", pixels)
    assert "A" not in image.getbands()  # opaque results carry no alpha
    assert response.json()["size"] == size
    assert elapsed < 5  # about 0.2 s of CPU on an idle machine
