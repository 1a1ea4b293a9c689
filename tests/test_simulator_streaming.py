"""Streamed edits (``stream=true``): server-sent events read by hand off the wire, partial
images spread over the latency, the completed event, and faults that break a stream."""

from __future__ import annotations

import time

import pytest
import requests

from .simulator_helpers import (
    SQUARE,
    assert_gateway_error,
    decode_b64,
    edit,
    png_file,
    read_events,
    stream_edit,
)

PARTIAL = "image_edit.partial_image"
COMPLETED = "image_edit.completed"


def test_a_stream_sends_partials_then_the_completed_event(sim):
    response = stream_edit(sim, {"size": "1536x1024", "quality": "high"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["x-request-id"].startswith("req_")
    events = read_events(response)
    assert [e["event"] for e in events] == [PARTIAL, PARTIAL, COMPLETED]
    assert [e["data"]["type"] for e in events] == [PARTIAL, PARTIAL, COMPLETED]
    for index, event in enumerate(events[:2]):
        data = event["data"]
        assert data["partial_image_index"] == index
        assert (data["size"], data["quality"], data["background"], data["output_format"]) == (
            "1536x1024",
            "high",
            "opaque",
            "png",
        )
        assert isinstance(data["created_at"], int) and abs(data["created_at"] - time.time()) < 60
        assert decode_b64(data["b64_json"]).size == (1536, 1024)
    final = events[2]["data"]
    assert "partial_image_index" not in final
    image = decode_b64(final["b64_json"])
    assert (image.format, image.size) == ("PNG", (1536, 1024))
    # The partials are coarser versions of the result, not the result itself.
    assert len({e["data"]["b64_json"] for e in events}) == 3
    assert sim.edit_requests[-1].status == 200
    assert sim.edit_requests[-1].events == [PARTIAL, PARTIAL, COMPLETED]


def test_each_partial_image_adds_about_100_output_tokens(sim):
    plain = edit(sim).json()["usage"]
    events = read_events(stream_edit(sim, {"partial_images": "3"}))
    usage = events[-1]["data"]["usage"]
    assert usage["output_tokens"] == plain["output_tokens"] + 300
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_tokens_details"] == plain["input_tokens_details"]


def test_partial_images_0_streams_only_the_completed_event(sim):
    events = read_events(stream_edit(sim, {"partial_images": "0"}))
    assert [e["event"] for e in events] == [COMPLETED]


def test_partials_are_spread_over_the_latency(sim):
    sim.set_latency(1.2)
    started = time.monotonic()
    response = stream_edit(sim, timeout=10)
    headers_at = time.monotonic() - started
    events = read_events(response)
    at = [event["at"] - started for event in events]
    assert headers_at < 0.5  # the stream opens at once
    # Partial i of 2 at latency * (i + 1) / 4, the result at the latency.
    assert 0.25 <= at[0] < 0.55
    assert 0.55 <= at[1] < 0.9
    assert 1.2 <= at[2] < 1.7


def test_output_format_and_transparency_apply_to_partials_and_result(sim):
    fields = {"output_format": "webp", "background": "transparent"}
    events = read_events(stream_edit(sim, fields))
    for event in events:
        image = decode_b64(event["data"]["b64_json"])
        assert image.format == "WEBP"
        assert event["data"]["background"] == "transparent"
    assert decode_b64(events[-1]["data"]["b64_json"]).convert("RGBA").getpixel((0, 0))[3] == 0


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"n": "2"}, "n=1"),
        ({"response_format": "url"}, "url"),
        ({"callback_url": "http://127.0.0.1:9/x"}, "callback_url"),
        ({"partial_images": "4"}, "'partial_images'"),
        ({"stream": "maybe"}, "'stream'"),
        ({"model": "dall-e-2"}, "'stream'"),
        ({"model": "nano-banana"}, "'stream'"),
    ],
)
def test_streams_outside_the_rules_get_a_plain_400(sim, fields, named):
    response = stream_edit(sim, fields, [png_file("image", SQUARE)])
    body = assert_gateway_error(response, 400, "bad_request")
    assert named in body["error"]["message"]


def test_stream_false_answers_with_plain_json(sim):
    response = stream_edit(sim, {"stream": "false"})
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["success"] is True


def test_a_fault_without_after_partials_fails_the_stream_before_it_starts(sim):
    sim.push_fault("http", status=503)
    assert_gateway_error(stream_edit(sim), 503, "upstream_error")


# --- faults that break a stream mid-way -----------------------------------------------------


def test_disconnect_after_one_partial_breaks_the_stream_then_a_retry_streams_in_full(sim):
    sim.push_fault("disconnect", after_partials=1)
    response = stream_edit(sim)
    assert response.status_code == 200
    seen: list[dict] = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        read_events(response, into=seen)
    assert [e["event"] for e in seen] == [PARTIAL]
    assert sim.edit_requests[-1].events == [PARTIAL]
    assert [e["event"] for e in read_events(stream_edit(sim))] == [PARTIAL, PARTIAL, COMPLETED]


def test_a_mid_stream_fault_waits_for_a_streaming_request(sim):
    sim.push_fault("disconnect", after_partials=0)
    assert edit(sim).status_code == 200
    assert [f.kind for f in sim.faults] == ["disconnect"]


def test_http_fault_mid_stream_sends_an_error_event_in_the_gateway_shape(sim):
    sim.push_fault("http", after_partials=2, code="api_error", message="upstream fell over")
    events = read_events(stream_edit(sim))
    assert [e["event"] for e in events] == [PARTIAL, PARTIAL, "error"]
    error = events[-1]["data"]
    assert error["success"] is False and error["trace_id"]
    assert error["error"] == {"code": "api_error", "message": "upstream fell over"}


def test_openai_error_fault_mid_stream_sends_an_openai_shaped_error_event(sim):
    sim.push_fault("openai_error", after_partials=1, code="server_error", message="boom")
    events = read_events(stream_edit(sim))
    assert [e["event"] for e in events] == [PARTIAL, "error"]
    assert events[-1]["data"]["error"]["message"] == "boom"


def test_malformed_fault_mid_stream_sends_an_event_with_cut_off_json(sim):
    sim.push_fault("malformed", after_partials=1)
    events = read_events(stream_edit(sim))
    assert [e["event"] for e in events] == [PARTIAL, PARTIAL]
    assert isinstance(events[-1]["data"], str)  # not JSON


def test_hang_mid_stream_stalls_then_finishes(sim):
    sim.push_fault("hang", seconds=0.5, after_partials=1)
    started = time.monotonic()
    events = read_events(stream_edit(sim))
    assert [e["event"] for e in events] == [PARTIAL, PARTIAL, COMPLETED]
    assert events[1]["at"] - started >= 0.5


def test_hang_mid_stream_makes_a_reading_client_time_out(sim):
    sim.push_fault("hang", seconds=3, after_partials=1)
    response = stream_edit(sim, timeout=0.5)
    with pytest.raises(requests.exceptions.ConnectionError):
        read_events(response)


def test_mid_stream_faults_are_checked_when_pushed(sim):
    with pytest.raises(ValueError, match="cannot break a stream"):
        sim.push_fault("bare", after_partials=1)
    with pytest.raises(ValueError, match="after_partials"):
        sim.push_fault("disconnect", after_partials=-1)
