"""Each model gets only what it takes: the fields the simulator recorded, per model, and the
worker's request for a stored edit (``delivery.build_request``) per service."""

from __future__ import annotations

import io
from contextlib import ExitStack

import pytest
from PIL import Image

from editor.edits.delivery import build_request
from editor.upstream import EditRequest, ImageInput, InvalidEditRequest, response_format_for

from .client_helpers import (
    mask_png,
    png_input,
    sim_client,  # noqa: F401 - the ``client`` fixture
)
from .factories import make_edit


def decoded_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_nano_banana_gets_model_prompt_image_and_the_apps_user_only(sim, client):
    result = client.edit(
        EditRequest(model="nano-banana", prompt="A hat", images=[png_input()], user="user-7")
    )
    sent = sim.edit_requests[-1]
    assert sent.fields == {"model": ["nano-banana"], "prompt": ["A hat"], "user": ["user-7"]}
    assert [f["field"] for f in sent.files] == ["image"]
    # Always a link, downloaded and kept.
    [image] = result.images
    assert image.url and image.data[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["nano-banana-2", "nano-banana-pro"])
def test_every_nano_banana_answers_one_downloaded_result(sim, client, name):
    result = client.edit(EditRequest(model=name, prompt="A hat", images=[png_input()]))
    assert sim.edit_requests[-1].fields == {"model": [name], "prompt": ["A hat"]}
    assert len(result.images) == 1 and result.images[0].url


def test_gpt_image_2_makes_a_2k_size_from_the_grid(sim, client):
    result = client.edit(
        EditRequest(
            model="gpt-image-2",
            prompt="Wider",
            images=[png_input()],
            size="2048x1152",
            quality="low",
        )
    )
    assert sim.edit_requests[-1].fields["size"] == ["2048x1152"]
    assert decoded_size(result.images[0].data) == (2048, 1152)


def test_gpt_image_2_several_results_come_as_links_and_are_downloaded(sim, client):
    response_format = response_format_for("gpt-image-2", "unknown", 2)
    result = client.edit(
        EditRequest(
            model="gpt-image-2",
            prompt="Two takes",
            images=[png_input()],
            n=2,
            size="1024x1024",
            quality="low",
            response_format=response_format,
        )
    )
    fields = sim.edit_requests[-1].fields
    assert (fields["n"], fields["response_format"]) == (["2"], ["url"])
    assert len(result.images) == 2
    assert all(image.url and image.data for image in result.images)


def test_gpt_image_2_official_sends_the_mask(sim, client):
    mask = ImageInput("mask.png", "image/png", io.BytesIO(mask_png()))
    client.edit(
        EditRequest(
            model="gpt-image-2:official",
            prompt="Only the sky",
            images=[png_input()],
            mask=mask,
            quality="low",
        )
    )
    files = sim.edit_requests[-1].files
    assert [f["field"] for f in files] == ["image[]", "mask"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"model": "gpt-image-2", "size": "1920x1080"},
        {"model": "gpt-image-2", "mask": "mask"},
        {"model": "nano-banana", "n": 2},
        {"model": "nano-banana", "images": 2},
        {"model": "gpt-image-1", "n": 11},
        {"model": "gpt-9000"},
    ],
)
def test_what_a_model_would_refuse_is_refused_before_anything_is_sent(sim, client, overrides):
    fields = {"model": "gpt-image-1", "prompt": "Hi", "images": [png_input()]}
    fields.update(overrides)
    if fields.get("mask") == "mask":
        fields["mask"] = ImageInput("mask.png", "image/png", io.BytesIO(mask_png()))
    if fields["images"] == 2:
        fields["images"] = [png_input("a.png"), png_input("b.png")]
    with pytest.raises(InvalidEditRequest):
        client.edit(EditRequest(**fields))
    assert sim.edit_requests == []


# -- the worker's request --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "model", "params", "preferred", "sent"),
    [
        ("https://api.acedata.cloud/openai", "gpt-image-2", {"n": 3}, "", "url"),
        ("https://api.acedata.cloud/openai", "gpt-image-2", {"n": 1}, "b64_json", "b64_json"),
        ("https://api.acedata.cloud/openai", "gpt-image-1", {"n": 1}, "", None),
        ("https://api.acedata.cloud/openai", "nano-banana", {}, "b64_json", None),
        ("https://api.openai.com/v1", "gpt-image-1", {"n": 3}, "url", None),
        ("https://api.openai.com/v1", "dall-e-2", {"n": 1}, "url", "url"),
        ("http://127.0.0.1:9/openai", "gpt-image-1", {"n": 2}, "", "url"),
    ],
)
def test_the_worker_asks_for_the_result_kind_the_model_and_service_allow(
    settings, studio, base_url, model, params, preferred, sent
):
    settings.OPENAI_BASE_URL = base_url
    settings.OPENAI_RESPONSE_FORMAT = preferred
    edit = make_edit(studio.team, studio.editor, model=model, params=params)
    with ExitStack() as stack:
        request = build_request(edit, stack)
    assert request.response_format == sent
    assert request.model == model
    assert request.user == f"retouch-user-{studio.editor.pk}"


def test_retouch_service_overrides_what_the_base_url_says(settings, studio):
    settings.OPENAI_BASE_URL = "https://openai-proxy.example/v1"
    settings.OPENAI_RESPONSE_FORMAT = ""
    settings.RETOUCH_SERVICE = "openai"
    edit = make_edit(studio.team, studio.editor, model="gpt-image-1", params={"n": 2})
    with ExitStack() as stack:
        assert build_request(edit, stack).response_format is None
    settings.RETOUCH_SERVICE = "gateway"
    with ExitStack() as stack:
        assert build_request(edit, stack).response_format == "url"
