"""The official ``openai`` SDK works against the simulator as it would against the gateway,
for edits (``images.edit``) and generations (``images.generate``).

This pins the simulator to what a real client sends (multipart field names, defaults) and
reads (response shape), independently of our own API client.
"""

from __future__ import annotations

import base64
import io

import openai
import pytest
import requests
from openai.types import (
    ImageEditCompletedEvent,
    ImageEditPartialImageEvent,
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
)
from PIL import Image


def png(size: tuple[int, int] = (96, 64), color: tuple[int, ...] = (30, 140, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def decode(b64: str | None) -> Image.Image:
    assert b64 is not None
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def assert_one_image_as_asked(result, size: str, quality: str, output_format: str) -> None:
    """A one-image response echoes the size, quality and format asked for; its usage adds up."""
    [item] = result.data
    image = decode(item.b64_json)
    assert (image.format, f"{image.width}x{image.height}") == (output_format.upper(), size)
    assert (result.size, result.quality, result.output_format) == (size, quality, output_format)
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens


def read_two_partial_stream(create, **fields) -> list:
    """Ask ``create`` for a low-quality 1536x1024 image, streamed with two partial images."""
    stream = create(
        model="gpt-image-1",
        size="1536x1024",
        quality="low",
        stream=True,
        partial_images=2,
        **fields,
    )
    with stream:
        return list(stream)


def assert_two_partials_then_completed(events, partial_type, completed_type):
    """Check a low-quality 1536x1024 stream asked for two partial images; return the last event."""
    assert [type(event) for event in events] == [partial_type, partial_type, completed_type]
    assert [event.partial_image_index for event in events[:2]] == [0, 1]
    for event in events:
        assert (event.size, event.quality, event.background, event.output_format) == (
            "1536x1024",
            "low",
            "opaque",
            "png",
        )
        assert decode(event.b64_json).size == (1536, 1024)
    return events[-1]


def event_types_until(stream, error: type[Exception], match: str | None = None) -> list[str]:
    """Read ``stream`` until it raises ``error``; return the types of the events seen before."""
    seen = []
    with stream, pytest.raises(error, match=match):
        for event in stream:
            seen.append(event.type)
    return seen


@pytest.fixture
def sdk(sim):
    with openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0) as client:
        yield client


def test_sdk_edit_with_two_images_returns_decodable_images_and_usage(sim, sdk):
    asked = {"size": "1536x1024", "quality": "high", "output_format": "webp"}
    result = sdk.images.edit(
        model="gpt-image-1",
        image=[("one.png", png(), "image/png"), ("two.png", png(color=(200, 0, 0)), "image/png")],
        prompt="put both in one scene",
        background="opaque",
        input_fidelity="high",
        user="user-3",
        **asked,
    )
    assert_one_image_as_asked(result, **asked)
    assert result.usage.input_tokens_details.image_tokens > 0

    sent = sim.edit_requests[-1]
    assert [f["field"] for f in sent.files] == ["image[]", "image[]"]
    assert [f["filename"] for f in sent.files] == ["one.png", "two.png"]
    assert sent.fields["model"] == ["gpt-image-1"]
    assert sent.fields["user"] == ["user-3"]
    assert sent.headers["authorization"] == "Bearer sk-test"


def test_sdk_single_image_is_sent_as_image_and_n_gives_several_results(sim, sdk):
    result = sdk.images.edit(
        model="gpt-image-1", image=("only.png", png(), "image/png"), prompt="two takes", n=2
    )
    assert len(result.data) == 2
    assert [decode(item.b64_json).size for item in result.data] == [(1024, 1024)] * 2
    assert [f["field"] for f in sim.edit_requests[-1].files] == ["image"]


def test_sdk_mask_is_sent_as_mask_and_honoured(sim, sdk):
    mask = Image.new("RGBA", (96, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 48, 64))
    mask_file = io.BytesIO()
    mask.save(mask_file, "PNG")
    result = sdk.images.edit(
        model="gpt-image-1",
        image=("photo.png", png(), "image/png"),
        mask=("mask.png", mask_file.getvalue(), "image/png"),
        prompt="only the left half",
    )
    image = decode(result.data[0].b64_json).convert("RGB")
    assert image.getpixel((1000, 500)) == (30, 140, 90)
    assert image.getpixel((10, 500)) != (30, 140, 90)
    assert sim.edit_requests[-1].files[1]["field"] == "mask"


def test_sdk_dall_e_2_with_url_results(sim, sdk):
    result = sdk.images.edit(
        model="dall-e-2",
        image=("square.png", png((64, 64)), "image/png"),
        prompt="a tiny edit",
        size="512x512",
        response_format="url",
    )
    url = result.data[0].url
    assert url is not None and url.startswith(sim.root_url + "/_sim/files/")
    downloaded = requests.get(url, timeout=5)
    image = Image.open(io.BytesIO(downloaded.content))
    assert (image.format, image.size) == ("PNG", (512, 512))


def test_sdk_raises_authentication_error_for_a_wrong_key(sim):
    client = openai.OpenAI(base_url=sim.base_url, api_key="sk-wrong", max_retries=0)
    with client, pytest.raises(openai.AuthenticationError) as info:
        client.images.edit(image=("a.png", png(), "image/png"), prompt="x")
    # The SDK unwraps the gateway's "error" object into .body and .code.
    assert (info.value.status_code, info.value.code) == (401, "invalid_token")
    assert info.value.response.headers["x-request-id"].startswith("req_")


def test_sdk_reads_an_openai_shaped_error(sim, sdk):
    sim.push_fault(
        "openai_error", status=400, type="invalid_request_error", param="mask", code="bad_mask"
    )
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.edit(image=("a.png", png(), "image/png"), prompt="x")
    assert (info.value.code, info.value.param, info.value.type) == (
        "bad_mask",
        "mask",
        "invalid_request_error",
    )


def test_sdk_sees_a_rate_limit_fault_as_rate_limit_error(sim, sdk):
    sim.push_fault("http", status=429, retry_after=1)
    with pytest.raises(openai.RateLimitError):
        sdk.images.edit(image=("a.png", png(), "image/png"), prompt="x")
    assert len(sim.edit_requests) == 1


def test_sdk_validation_error_surfaces_as_bad_request(sim, sdk):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.edit(model="dall-e-2", image=("wide.png", png(), "image/png"), prompt="x")
    assert info.value.code == "bad_request"
    assert "square" in info.value.body["message"]


# --- streaming partial images ---------------------------------------------------------------


def test_sdk_reads_a_streamed_edit_partials_then_completed(sim, sdk):
    sim.set_latency(0.4)
    events = read_two_partial_stream(
        sdk.images.edit, image=("photo.png", png(), "image/png"), prompt="a watercolour, please"
    )
    completed = assert_two_partials_then_completed(
        events, ImageEditPartialImageEvent, ImageEditCompletedEvent
    )
    assert [event.type for event in events] == [
        "image_edit.partial_image",
        "image_edit.partial_image",
        "image_edit.completed",
    ]
    # low quality at 1536x1024: 272 tokens x 1.5, plus about 100 per partial image.
    assert completed.usage.output_tokens == 408 + 2 * 100
    assert completed.usage.total_tokens == (
        completed.usage.input_tokens + completed.usage.output_tokens
    )
    sent = sim.edit_requests[-1]
    assert (sent.fields["stream"], sent.fields["partial_images"]) == (["true"], ["2"])


@pytest.mark.parametrize(
    ("kind", "details", "error", "match"),
    [
        (
            "http",
            {"code": "api_error", "message": "upstream fell over"},
            openai.APIError,
            "upstream fell over",
        ),
        ("disconnect", {}, openai.APIConnectionError, None),
    ],
    ids=["error_event", "broken_connection"],
)
def test_sdk_raises_when_an_edit_stream_fails_mid_way(sim, sdk, kind, details, error, match):
    sim.push_fault(kind, after_partials=1, **details)
    stream = sdk.images.edit(
        image=("a.png", png(), "image/png"), prompt="x", stream=True, partial_images=2
    )
    assert event_types_until(stream, error, match) == ["image_edit.partial_image"]


# --- generations ----------------------------------------------------------------------------


def test_sdk_generates_from_a_prompt_with_usage(sim, sdk):
    asked = {"size": "1024x1536", "quality": "low", "output_format": "jpeg"}
    result = sdk.images.generate(
        model="gpt-image-1", prompt="a lighthouse at dusk", user="user-3", **asked
    )
    assert_one_image_as_asked(result, **asked)
    assert result.data[0].revised_prompt == "a lighthouse at dusk"
    assert result.usage.input_tokens_details.image_tokens == 0

    [sent] = sim.generation_requests
    assert sent.path == "/openai/images/generations"
    assert sent.headers["content-type"] == "application/json"
    assert sent.fields["user"] == ["user-3"] and sent.fields["size"] == ["1024x1536"]
    assert sim.edit_requests == []


def test_sdk_generates_several_gpt_image_2_results_as_urls(sim, sdk):
    result = sdk.images.generate(model="gpt-image-2", prompt="three foxes", n=3, size="1152x768")
    assert len(result.data) == 3
    for item in result.data:
        assert item.b64_json is None and item.url is not None
        image = Image.open(io.BytesIO(requests.get(item.url, timeout=5).content))
        assert image.size == (1152, 768)


def test_sdk_generation_refused_by_a_models_rules_is_bad_request(sim, sdk):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="nano-banana", prompt="a fox", size="1024x1024")
    assert info.value.code == "bad_request"
    assert "'size' is not supported by nano-banana" in info.value.body["message"]


def test_sdk_reads_a_streamed_generation_partials_then_completed(sim, sdk):
    sim.set_latency(0.4)
    events = read_two_partial_stream(sdk.images.generate, prompt="a lighthouse at dusk")
    completed = assert_two_partials_then_completed(
        events, ImageGenPartialImageEvent, ImageGenCompletedEvent
    )
    assert completed.usage.output_tokens == 408 + 2 * 100
    assert completed.usage.input_tokens_details.image_tokens == 0
    sent = sim.generation_requests[-1]
    assert (sent.fields["stream"], sent.fields["partial_images"]) == (["true"], ["2"])
    assert sent.events == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]


def test_sdk_raises_api_error_for_an_error_event_mid_generation_stream(sim, sdk):
    sim.push_fault("openai_error", after_partials=1, code="server_error", message="it broke")
    stream = sdk.images.generate(prompt="x", stream=True, partial_images=2)
    seen = event_types_until(stream, openai.APIError, "it broke")
    assert seen == ["image_generation.partial_image"]
