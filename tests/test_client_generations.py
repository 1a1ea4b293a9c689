"""ImagesClient.generate (and submit, edit_stream) for images created from the prompt alone,
over real HTTP against the simulator: a JSON body to images/generations, never multipart and
never an image; the same answers, errors, callbacks and Tasks API as edits."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from PIL import Image

from editor.upstream import (
    MODELS,
    EditResult,
    GenerateRequest,
    InvalidEditRequest,
    UpstreamError,
    add_models,
    validate_generation,
)

from .client_helpers import (
    assert_plain,
    callback_url,
    edit_request,
    sim_client,  # noqa: F401 - the ``client`` fixture
)


def generate_request(**overrides) -> GenerateRequest:
    fields = {
        "model": "gpt-image-1",
        "prompt": "A lighthouse at dusk",
        "quality": "low",
        "size": "1536x1024",
    }
    fields.update(overrides)
    return GenerateRequest(**fields)


def test_generate_posts_json_without_images_and_returns_the_image(sim, client):
    result = client.generate(generate_request(user="user-7", output_format="webp"))
    assert isinstance(result, EditResult)
    [image] = result.images
    assert image.content_type == "image/webp"
    assert Image.open(io.BytesIO(image.data)).size == (1536, 1024)
    assert result.trace_id and result.task_id and result.usage["total_tokens"] > 0
    assert sim.edit_requests == []
    [sent] = sim.generation_requests
    assert sent.path.endswith("/images/generations")
    assert sent.headers["content-type"] == "application/json"
    assert sent.files == []
    assert sent.fields == {
        "model": ["gpt-image-1"],
        "prompt": ["A lighthouse at dusk"],
        "size": ["1536x1024"],
        "quality": ["low"],
        "output_format": ["webp"],
        "user": ["user-7"],
    }
    assert result.request_id == sent.headers["x-request-id"]


def test_numbers_go_as_json_numbers(sim, client):
    # The simulator's log reads every field as text; the body itself must hold numbers,
    # as OpenAI's SDK sends them.
    body = client.request_body(generate_request(n=2, output_format="jpeg", output_compression=70))
    url, raw, content_type = body
    assert url == client.generations_url and content_type == "application/json"
    data = json.loads(raw)
    assert data["n"] == 2 and data["output_compression"] == 70
    assert "image" not in data and "mask" not in data and "input_fidelity" not in data


def test_several_results_come_back_as_downloaded_links(sim, client):
    result = client.generate(
        generate_request(model="gpt-image-2", size="2048x1152", n=2, response_format="url")
    )
    assert len(result.images) == 2
    for image in result.images:
        assert image.url and Image.open(io.BytesIO(image.data)).size == (2048, 1152)


def test_nano_banana_sends_model_and_prompt_only(sim, client):
    result = client.generate(
        GenerateRequest(model="nano-banana", prompt="A red bicycle", user="user-7")
    )
    [image] = result.images
    assert image.url and result.created == 0
    # No setting at all; the app's own user id goes along, as it does with its edits.
    assert sim.generation_requests[-1].fields == {
        "model": ["nano-banana"],
        "prompt": ["A red bicycle"],
        "user": ["user-7"],
    }


def test_an_option_the_model_does_not_take_is_refused_before_sending(sim, client):
    with pytest.raises(InvalidEditRequest) as info:
        client.generate(GenerateRequest(model="nano-banana", prompt="A cat", size="1024x1024"))
    assert "size" in info.value.errors
    with pytest.raises(InvalidEditRequest) as info:
        client.generate(generate_request(prompt="  "))
    assert info.value.errors["prompt"] == ["Describe the image to create."]
    assert sim.requests == []


def test_a_model_that_cannot_generate_is_refused_in_one_sentence(sim, client):
    name = "edits-only-test-model"
    add_models([replace(MODELS["gpt-image-1"], name=name, label="Edits Only", generates=False)])
    try:
        with pytest.raises(InvalidEditRequest) as info:
            client.generate(generate_request(model=name))
        [message] = info.value.errors["model"]
        assert message == (
            "Edits Only only edits photos: add a photo, or choose a model that creates "
            "images from a description."
        )
        # It still edits.
        assert validate_generation(generate_request()) is MODELS["gpt-image-1"]
    finally:
        del MODELS[name]
    assert sim.requests == []


def test_the_two_methods_do_not_take_each_others_requests(client):
    with pytest.raises(TypeError):
        client.edit(generate_request())
    with pytest.raises(TypeError):
        client.generate(edit_request())


def test_an_error_reads_like_an_edits_error(sim, client):
    sim.push_fault("http", status=500)
    with pytest.raises(UpstreamError) as info:
        client.generate(generate_request())
    err = info.value
    assert err.retryable and err.trace_id
    assert_plain(err.message)
    assert sim.generation_requests[-1].status == 500


def test_submit_hands_a_generation_over_and_the_callback_and_task_read_back(sim, client):
    accepted = client.submit(generate_request(callback_url=callback_url()))
    [url] = sim.generation_requests[-1].fields["callback_url"]
    assert url.endswith("/hooks/secret-token")
    assert sim.wait_for_callbacks(1, timeout=10)
    result = client.parse_callback(sim.callbacks[0]["payload"])
    assert result.task_id == accepted.task_id
    assert Image.open(io.BytesIO(result.images[0].data)).size == (1536, 1024)
    task = client.retrieve(accepted.task_id)
    assert task.type == "images" and task.finished
    assert task.result.images[0].data == result.images[0].data


def test_generate_waits_so_it_refuses_a_callback_url(client):
    with pytest.raises(InvalidEditRequest) as info:
        client.generate(generate_request(callback_url=callback_url()))
    assert "callback_url" in info.value.errors


def test_a_streamed_generation_yields_previews_then_the_result(sim, client):
    stream = client.edit_stream(generate_request(size="1024x1024"), partial_images=2)
    partials = list(stream)
    assert [p.index for p in partials] == [0, 1]
    assert Image.open(io.BytesIO(stream.result.images[0].data)).size == (1024, 1024)
    sent = sim.generation_requests[-1]
    assert sent.fields["stream"] == ["true"] and sent.fields["partial_images"] == ["2"]
    assert sent.events[-1] == "image_generation.completed"


def test_a_generation_without_previews_is_a_plain_request(sim, client):
    stream = client.edit_stream(generate_request(), partial_images=0)
    assert list(stream) == []
    assert stream.result.images
    assert "stream" not in sim.generation_requests[-1].fields
