"""ImagesClient.edit over real HTTP against the simulator: what it sends and what it returns."""

from __future__ import annotations

import io
import re
import time

import pytest
from PIL import Image

from editor.upstream import EditRequest, EditResult, ImageInput, ImagesClient, InvalidEditRequest
from editor.upstream.parsing import sniff_image_type

from .client_helpers import (
    EVERY_OPTION,
    JPEG,
    PNG,
    WEBP,
    edit_request,
    mask_png,
    png_input,
    sim_client,  # noqa: F401 - the ``client`` fixture
)


def test_b64_success_returns_decodable_images_and_every_id(sim, client):
    result = client.edit(edit_request())
    assert isinstance(result, EditResult)
    [image] = result.images
    assert image.content_type == "image/png"
    assert image.url is None
    assert image.revised_prompt == "Make the sky pink"
    with Image.open(io.BytesIO(image.data)) as decoded:
        assert decoded.size == (1024, 1024)
    assert result.request_id == sim.edit_requests[-1].headers["x-request-id"]
    assert result.trace_id and result.task_id
    assert result.usage["total_tokens"] > 0
    assert abs(result.created - time.time()) < 60
    assert result.elapsed is not None
    assert (result.size, result.quality, result.output_format) == ("1024x1024", "low", "png")
    assert result.background == "opaque"
    assert 0 < result.duration < 30


def test_several_images_go_as_repeated_image_brackets_for_gpt_image_1(sim, client):
    jpeg = ImageInput("b.jpg", "image/jpeg", io.BytesIO(JPEG))
    webp = ImageInput("c.webp", "image/webp", io.BytesIO(WEBP))
    client.edit(edit_request(images=[png_input("a.png"), jpeg, webp]))
    files = sim.edit_requests[-1].files
    assert [(f["field"], f["filename"], f["format"]) for f in files] == [
        ("image[]", "a.png", "PNG"),
        ("image[]", "b.jpg", "JPEG"),
        ("image[]", "c.webp", "WEBP"),
    ]
    assert [f["content_type"] for f in files] == ["image/png", "image/jpeg", "image/webp"]
    assert files[0]["size"] == len(PNG)


def test_dall_e_2_sends_a_single_image_field(sim, client):
    result = client.edit(
        EditRequest(model="dall-e-2", prompt="A hat", images=[png_input()], size="256x256")
    )
    assert len(result.images) == 1
    [sent] = sim.edit_requests[-1].files
    assert sent["field"] == "image"


def test_mask_is_sent_as_its_own_part(sim, client):
    mask = ImageInput("mask.png", "image/png", io.BytesIO(mask_png()))
    client.edit(edit_request(mask=mask))
    files = sim.edit_requests[-1].files
    assert [f["field"] for f in files] == ["image[]", "mask"]
    assert files[1]["has_alpha"] is True
    assert files[1]["filename"] == "mask.png"


def test_every_set_option_is_sent_as_text_and_unset_ones_are_omitted(sim, client):
    client.edit(edit_request(**EVERY_OPTION))
    fields = sim.edit_requests[-1].fields
    assert fields == {
        "model": ["gpt-image-1"],
        "prompt": ["Make the sky pink"],
        "n": ["2"],
        "size": ["1536x1024"],
        "quality": ["medium"],
        "background": ["transparent"],
        "output_format": ["webp"],
        "output_compression": ["70"],
        "input_fidelity": ["high"],
        "response_format": ["b64_json"],
        "user": ["user-42"],
    }
    client.edit(EditRequest(model="gpt-image-1", prompt="Hi", images=[png_input()]))
    assert sim.edit_requests[-1].fields == {"model": ["gpt-image-1"], "prompt": ["Hi"]}


def test_bearer_token_and_request_id_headers_are_sent(sim, client):
    result = client.edit(edit_request())
    headers = sim.edit_requests[-1].headers
    assert headers["authorization"] == f"Bearer {sim.token or 'sk-test'}"
    assert re.fullmatch(r"[0-9a-f-]{36}", headers["x-request-id"])
    assert headers["x-client-request-id"] == headers["x-request-id"]
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith("Retouch/")
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    assert result.request_id == headers["x-request-id"]
    client.edit(edit_request())
    assert sim.edit_requests[-1].headers["x-request-id"] != headers["x-request-id"]


def test_files_are_rewound_so_a_retry_sends_them_whole(sim, client):
    image = png_input()
    image.fileobj.seek(10)
    client.edit(edit_request(images=[image]))
    client.edit(edit_request(images=[image]))
    assert [r.files[0]["size"] for r in sim.edit_requests] == [len(PNG), len(PNG)]


def test_invalid_request_is_rejected_before_anything_is_sent(sim, client):
    with pytest.raises(InvalidEditRequest) as info:
        client.edit(edit_request(prompt=" ", n=20))
    assert set(info.value.errors) == {"prompt", "n"}
    assert sim.edit_requests == []


def test_edit_refuses_a_callback_url_and_submit_requires_one(sim, client):
    with pytest.raises(InvalidEditRequest):
        client.edit(edit_request(callback_url="https://retouch.example/hook"))
    with pytest.raises(InvalidEditRequest):
        client.submit(edit_request())
    assert sim.edit_requests == []


def test_base_urls_of_every_service_shape_are_accepted(sim):
    for base in (sim.base_url + "/", sim.root_url + "/v1"):
        with ImagesClient(base, sim.token or "sk-test") as c:
            assert c.edits_url.endswith(("/openai/images/edits", "/v1/images/edits"))
            assert c.edit(edit_request()).images
    assert [r.path for r in sim.edit_requests] == ["/openai/images/edits", "/v1/images/edits"]


def test_sniffed_content_types():
    assert sniff_image_type(PNG) == "image/png"
    assert sniff_image_type(JPEG) == "image/jpeg"
    assert sniff_image_type(WEBP) == "image/webp"
    assert sniff_image_type(b"GIF89a") is None
