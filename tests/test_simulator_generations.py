"""``POST {base}/images/generations``: a JSON body without images, the edits' models and rules,
the same answers, callbacks, Tasks API, streams and faults; the result drawn from the prompt."""

from __future__ import annotations

import io
import re
import time

import pytest
import requests
from PIL import Image

from .simulator_helpers import (
    AUTH,
    assert_gateway_error,
    assert_one_rate_limit_then_success,
    decode_b64,
    edit,
    generate,
    read_events,
    result_images,
    tasks_call,
)

PARTIAL = "image_generation.partial_image"
COMPLETED = "image_generation.completed"
PATHS = ["/openai/images/generations", "/v1/images/generations"]


@pytest.mark.parametrize("path", PATHS)
def test_a_generation_answers_in_the_edits_shape_with_usage_on_both_paths(sim, path):
    response = generate(sim, {"size": "1536x1024", "quality": "low", "user": "user-7"}, path=path)
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert body["success"] is True
    assert re.fullmatch(r"[0-9a-f-]{36}", body["task_id"])
    assert re.fullmatch(r"[0-9a-f-]{36}", body["trace_id"])
    assert abs(body["created"] - time.time()) < 60 and isinstance(body["elapsed"], float)
    assert (body["size"], body["quality"], body["output_format"], body["background"]) == (
        "1536x1024",
        "low",
        "png",
        "opaque",
    )
    [item] = body["data"]
    assert item["revised_prompt"] == "a lighthouse at dusk"
    [image] = result_images(response)
    assert (image.format, image.size) == ("PNG", (1536, 1024))
    usage = body["usage"]
    # No source images: the input is the prompt alone.
    assert usage["input_tokens_details"] == {"text_tokens": 5, "image_tokens": 0}
    assert usage["output_tokens"] == 408  # low quality, 272 tokens x 1.5
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_generations_are_recorded_apart_from_edits(sim):
    generate(sim, {"user": "user-7", "n": 1})
    edit(sim)
    [sent] = sim.generation_requests
    assert (sent.path, sent.status, sent.kind, sent.files) == (
        "/openai/images/generations",
        200,
        "generation",
        [],
    )
    assert sent.fields == {
        "model": ["gpt-image-2"],
        "prompt": ["a lighthouse at dusk"],
        "user": ["user-7"],
        "n": ["1"],
    }
    assert [r.kind for r in sim.edit_requests] == ["edit"]
    listed = requests.get(sim.root_url + "/_sim/requests", timeout=5).json()
    assert [(r["kind"], r["path"]) for r in listed] == [
        ("generation", "/openai/images/generations"),
        ("edit", "/openai/images/edits"),
    ]


def test_the_picture_is_drawn_from_the_prompt(sim):
    [lighthouse] = result_images(generate(sim, {"output_format": "jpeg"}))
    [again] = result_images(generate(sim, {"output_format": "jpeg"}))
    [fox] = result_images(generate(sim, {"prompt": "a red fox", "output_format": "jpeg"}))
    assert lighthouse.tobytes() == again.tobytes()  # deterministic
    assert lighthouse.tobytes() != fox.tobytes()
    colours = lighthouse.convert("RGB").resize((8, 8)).getcolors()
    assert colours is not None and len(colours) > 4  # a picture, not a flat fill


def test_a_transparent_background_leaves_transparent_pixels(sim):
    [image] = result_images(generate(sim, {"background": "transparent", "model": "gpt-image-1"}))
    assert image.mode == "RGBA"
    assert image.getchannel("A").getextrema() == (0, 255)


# --- the models' rules, both ways -------------------------------------------------------------

ACCEPTED = [
    ("gpt-image-2", {"size": "2048x1152"}, 1, (2048, 1152)),
    ("gpt-image-2", {"size": "auto"}, 1, (1024, 1024)),
    ("gpt-image-2.5-flare:official", {"n": 1, "response_format": "b64_json"}, 1, (1024, 1024)),
    ("gpt-image-1", {"size": "1024x1536", "n": 2, "quality": "high"}, 2, (1024, 1536)),
    ("gpt-image-1.5", {"output_compression": 50, "output_format": "webp"}, 1, (1024, 1024)),
    ("dall-e-2", {"size": "256x256", "n": 2}, 2, (256, 256)),
    ("nano-banana", {}, 1, (1024, 1024)),
]


@pytest.mark.parametrize(("model", "body", "count", "size"), ACCEPTED)
def test_requests_within_a_models_rules_are_answered(sim, model, body, count, size):
    response = generate(sim, {"model": model, **body})
    assert response.status_code == 200, response.text
    items = response.json()["data"]
    assert len(items) == count
    if "b64_json" in items[0]:
        assert {image.size for image in result_images(response)} == {size}


REFUSED = [
    ("gpt-image-2", {"size": "1000x1000"}, "off the grid"),
    ("gpt-image-2:official", {"n": 2, "response_format": "b64_json"}, "b64_json needs n=1"),
    ("gpt-image-2", {"n": 11}, "'n' must be between 1 and 10"),
    ("gpt-image-1", {"size": "2048x2048"}, "'size' must be one of"),
    ("gpt-image-1", {"background": "transparent", "output_format": "jpeg"}, "'background'"),
    ("dall-e-2", {"size": "auto"}, "'size' must be one of"),
    ("dall-e-2", {"prompt": "x" * 1001}, "at most 1000"),
    ("dall-e-2", {"stream": True}, "'stream' is not supported by dall-e-2"),
    ("nano-banana", {"size": "1024x1024"}, "'size' is not supported by nano-banana"),
    ("nano-banana", {"n": 1}, "'n' is not supported by nano-banana"),
    ("nano-banana-pro", {"response_format": "url"}, "'response_format' is not supported"),
    ("gpt-image-1", {"input_fidelity": "high"}, "'input_fidelity'"),
    ("gpt-image-2", {"image": "http://127.0.0.1:9/a.png"}, "'image' is not taken"),
    ("gpt-image-1", {"mask": "x"}, "'mask' is not taken"),
    ("gpt-image-2", {"prompt": " "}, "'prompt' is required"),
    ("gpt-image-9", {}, "'model' must be one of"),
]


@pytest.mark.parametrize(("model", "body", "named"), REFUSED)
def test_requests_outside_a_models_rules_get_the_gateways_400(sim, model, body, named):
    response = generate(sim, {"model": model, **body})
    error = assert_gateway_error(response, 400, "bad_request")["error"]
    assert named in error["message"]


def test_a_form_body_is_refused_as_generations_take_json(sim):
    response = requests.post(
        sim.root_url + PATHS[0], data={"prompt": "a lighthouse"}, headers=AUTH, timeout=10
    )
    body = assert_gateway_error(response, 400, "bad_request")
    assert "application/json" in body["error"]["message"]
    assert sim.generation_requests[-1].status == 400


def test_a_missing_token_is_401_and_recorded(sim):
    assert_gateway_error(generate(sim, headers={}), 401, "invalid_token")
    assert [r.status for r in sim.generation_requests] == [401]


# --- URL and base64 answers ------------------------------------------------------------------


def test_several_gpt_image_2_results_come_as_served_urls(sim):
    response = generate(sim, {"n": 3, "output_format": "jpeg", "size": "1152x768"})
    items = response.json()["data"]
    assert len(items) == 3 and all("b64_json" not in item for item in items)
    for item in items:
        served = requests.get(item["url"], timeout=5)
        assert served.headers["Content-Type"] == "image/jpeg"
        assert Image.open(io.BytesIO(served.content)).size == (1152, 768)


def test_nano_banana_answers_with_one_url_created_0_and_no_usage(sim):
    body = generate(sim, {"model": "nano-banana-2"}).json()
    assert (body["created"], "usage" in body) == (0, False)
    [item] = body["data"]
    assert set(item) == {"url"}
    assert requests.get(item["url"], timeout=5).status_code == 200


# --- callbacks and the Tasks API -------------------------------------------------------------


def test_callback_mode_posts_the_nested_result_and_stores_an_images_task(sim, receiver):
    response = generate(sim, {"callback_url": receiver.url, "user": "user-9", "quality": "low"})
    assert response.status_code == 200
    [task_id] = response.json().values()
    assert sim.wait_for_callbacks(1, timeout=10)
    [received] = receiver.received
    payload = received["payload"]
    assert (payload["success"], payload["task_id"]) == (True, task_id)
    assert decode_b64(payload["data"]["data"][0]["b64_json"]).size == (1024, 1024)
    assert payload["data"]["usage"]["input_tokens_details"]["image_tokens"] == 0

    task = tasks_call(sim, {"action": "retrieve", "id": task_id}, path="/v1/tasks").json()
    assert (task["id"], task["type"]) == (task_id, "images")
    assert task["request"]["prompt"] == "a lighthouse at dusk"
    assert task["request"]["user"] == "user-9"
    assert task["request"]["callback_url"] == receiver.url
    assert task["response"] == payload
    assert task["created_at"] <= task["started_at"] <= task["finished_at"]
    listed = tasks_call(sim, {"action": "retrieve_batch", "ids": [task_id]}).json()
    assert [item["type"] for item in listed["items"]] == ["images"]


def test_a_callback_fault_applies_to_a_generation(sim, receiver):
    sim.push_fault("callback", mode="fail", code="api_error", message="it went wrong")
    generate(sim, {"callback_url": receiver.url})
    assert sim.wait_for_callbacks(1, timeout=10)
    payload = receiver.received[0]["payload"]
    assert payload["success"] is False
    assert payload["error"] == {"code": "api_error", "message": "it went wrong"}


# --- faults ----------------------------------------------------------------------------------


def test_an_http_fault_answers_a_generation_then_the_next_one_succeeds(sim):
    assert_one_rate_limit_then_success(sim, generate, retry_after=3)
    assert [r.status for r in sim.generation_requests] == [429, 200]


def test_a_faulted_generation_need_not_be_valid(sim):
    sim.push_fault("openai_error", status=400, code="content_policy_violation")
    response = generate(sim, {"model": "gpt-image-9"})
    assert response.json()["error"]["code"] == "content_policy_violation"


def test_the_other_faults_apply_to_generations_too(sim):
    sim.push_faults([{"kind": "bare"}, {"kind": "malformed"}, {"kind": "hang", "seconds": 0.2}])
    bare = generate(sim)
    assert (bare.status_code, bare.headers["Content-Type"]) == (502, "text/html")
    malformed = generate(sim)
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    started = time.monotonic()
    assert generate(sim).json()["data"]  # the hang waits, then answers normally
    assert time.monotonic() - started >= 0.2
    assert sim.faults == []


def test_a_disconnect_fault_drops_a_generation(sim):
    sim.push_fault("disconnect")
    with pytest.raises(requests.ConnectionError):
        generate(sim)
    assert sim.generation_requests[-1].status is None


# --- streaming -------------------------------------------------------------------------------


def test_a_streamed_generation_sends_image_generation_events(sim):
    body = {"model": "gpt-image-1", "stream": True, "partial_images": 2, "size": "1024x1536"}
    response = generate(sim, body, stream=True)
    assert response.headers["Content-Type"] == "text/event-stream"
    events = read_events(response)
    assert [e["event"] for e in events] == [PARTIAL, PARTIAL, COMPLETED]
    assert [e["data"]["type"] for e in events] == [PARTIAL, PARTIAL, COMPLETED]
    assert [e["data"].get("partial_image_index") for e in events] == [0, 1, None]
    assert {decode_b64(e["data"]["b64_json"]).size for e in events} == {(1024, 1536)}
    usage = events[-1]["data"]["usage"]
    assert usage["output_tokens"] == 1584 + 2 * 100  # medium at 1024x1536, plus the partials
    assert sim.generation_requests[-1].events == [PARTIAL, PARTIAL, COMPLETED]


def test_a_mid_stream_fault_breaks_a_streamed_generation(sim):
    sim.push_fault("malformed", after_partials=1)
    response = generate(sim, {"stream": True, "partial_images": 2}, stream=True)
    events = read_events(response)
    assert [e["event"] for e in events] == [PARTIAL, PARTIAL]
    assert isinstance(events[1]["data"], str)  # the cut-off JSON
    assert sim.generation_requests[-1].events == [PARTIAL, "malformed"]
