"""Edits requests with a JSON body whose ``image`` is a URL or a list of URLs.

The simulator fetches only its own ``/_sim/files/`` URLs (results, or sources put there with
``put_file`` or ``POST /_sim/files``) and refuses any other address with 400.
"""

from __future__ import annotations

import pytest
import requests

from .factories import image_bytes
from .simulator_helpers import (
    SOURCE,
    assert_gateway_error,
    json_edit,
    result_images,
)

RED = image_bytes((64, 48), color=(255, 0, 0))
BLUE = image_bytes((64, 48), color=(0, 0, 255))


def test_a_json_body_with_one_image_url_is_edited(sim):
    url = sim.put_file(SOURCE)
    response = json_edit(sim, {"image": url, "size": "2048x1152", "output_format": "jpeg"})
    assert response.status_code == 200, response.text
    [image] = result_images(response)
    assert image.size == (2048, 1152)
    record = sim.edit_requests[-1]
    assert record.fields["image"] == [url]
    assert record.fields["size"] == ["2048x1152"]
    assert record.files[0]["format"] == "PNG" and record.files[0]["width"] == 64


def test_a_list_of_urls_gives_several_sources_on_one_canvas(sim):
    urls = [sim.put_file(RED), sim.put_file(BLUE)]
    response = json_edit(sim, {"image": urls, "size": "1536x1024"})
    [image] = result_images(response)
    left = image.convert("RGB").getpixel((380, 500))
    right = image.convert("RGB").getpixel((1150, 500))
    assert left[0] > left[2] and right[2] > right[0]
    assert len(sim.edit_requests[-1].files) == 2


def test_json_numbers_read_like_form_fields(sim):
    response = json_edit(sim, {"image": sim.put_file(SOURCE), "n": 2, "output_format": "jpeg"})
    assert response.status_code == 200
    assert len(response.json()["data"]) == 2  # URLs: the gpt-image-2 family with n=2
    assert sim.edit_requests[-1].fields["n"] == ["2"]


def test_a_result_url_can_be_the_next_source(sim):
    first = json_edit(sim, {"model": "nano-banana", "image": sim.put_file(SOURCE)})
    [item] = first.json()["data"]
    second = json_edit(sim, {"model": "nano-banana", "image": item["url"]})
    assert second.status_code == 200
    assert second.json()["created"] == 0


def test_sources_can_be_put_over_http(sim):
    response = requests.post(
        sim.root_url + "/_sim/files",
        data=SOURCE,
        headers={"Content-Type": "image/png"},
        timeout=5,
    )
    url = response.json()["url"]
    assert requests.get(url, timeout=5).content == SOURCE
    assert json_edit(sim, {"image": [url]}).status_code == 200


@pytest.mark.parametrize(
    ("image", "named"),
    [
        ("https://example.com/photo.png", "cannot be fetched"),
        ("http://169.254.169.254/latest/meta-data", "cannot be fetched"),
        ("http://127.0.0.1:1/_sim/files/x.png", "cannot be fetched"),
        ("file:///etc/passwd", "cannot be fetched"),
        (None, "'image[]' is required"),
        ([], "'image[]' is required"),
        (42, "URL or a list of URLs"),
    ],
)
def test_image_urls_the_simulator_cannot_fetch_get_400(sim, image, named):
    body = assert_gateway_error(json_edit(sim, {"image": image}), 400, "bad_request")
    assert named in body["error"]["message"]


def test_an_unknown_file_of_the_simulators_own_gets_400(sim):
    url = f"{sim.root_url}/_sim/files/{'0' * 32}.png"
    body = assert_gateway_error(json_edit(sim, {"image": url}), 400, "bad_request")
    assert "404" in body["error"]["message"]


def test_a_mask_in_a_json_body_is_refused(sim):
    url = sim.put_file(SOURCE)
    body = {"model": "gpt-image-2:official", "image": url, "mask": url}
    response = assert_gateway_error(json_edit(sim, body), 400, "bad_request")
    assert "'mask'" in response["error"]["message"]
    assert "multipart" in response["error"]["message"]


def test_json_bodies_follow_the_same_model_rules(sim):
    body = {"model": "nano-banana", "image": sim.put_file(SOURCE), "n": 1}
    response = assert_gateway_error(json_edit(sim, body), 400, "bad_request")
    assert "'n'" in response["error"]["message"]


def test_a_json_body_that_is_not_an_object_or_not_json_is_400(sim):
    for data in (b"[1, 2]", b"{not json"):
        response = requests.post(
            sim.base_url + "/images/edits",
            data=data,
            headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"},
            timeout=5,
        )
        assert_gateway_error(response, 400, "bad_request")
