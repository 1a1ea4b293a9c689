"""Callback mode: submit() and parse_callback(), on bodies alone and over real HTTP."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from editor.upstream import Accepted, UpstreamError, parse_callback

from .client_helpers import (
    JPEG,
    PNG,
    assert_plain,
    b64,
    callback_url,
    edit_request,
    sim_client,  # noqa: F401 - the ``client`` fixture
    submit_and_wait,
)

# -- callback bodies, without a server ---------------------------------------------------


def test_parse_callback_reads_the_nested_success_body():
    payload = {
        "success": True,
        "task_id": "task-1",
        "trace_id": "trace-1",
        "data": {
            "created": 1721626477,
            "data": [{"b64_json": b64(PNG), "revised_prompt": "a pink sky"}],
            "usage": {"total_tokens": 3},
            "output_format": "png",
        },
    }
    for form in (payload, json.dumps(payload), json.dumps(payload).encode()):
        result = parse_callback(form)
        assert result.task_id == "task-1"
        assert result.trace_id == "trace-1"
        assert result.created == 1721626477
        assert result.usage == {"total_tokens": 3}
        assert result.output_format == "png"
        assert result.request_id is None
        [image] = result.images
        assert image.data == PNG
        assert image.content_type == "image/png"
        assert image.revised_prompt == "a pink sky"


def test_parse_callback_also_accepts_the_synchronous_shape():
    result = parse_callback({"created": 1, "data": [{"b64_json": b64(JPEG)}], "task_id": "t"})
    assert result.images[0].content_type == "image/jpeg"
    assert result.task_id == "t"


def test_parse_callback_failure_body_raises_with_trace_id():
    body = {
        "success": False,
        "task_id": "task-1",
        "trace_id": "trace-2",
        "error": {"code": "api_error", "message": "fetch failed"},
    }
    with pytest.raises(UpstreamError) as info:
        parse_callback(body)
    assert info.value.code == "api_error"
    assert info.value.trace_id == "trace-2"
    assert info.value.retryable is True
    assert info.value.status is None
    assert_plain(info.value.message)


def test_parse_callback_failure_nested_in_data_raises():
    body = {"success": True, "trace_id": "t3", "data": {"error": {"code": "moderation_blocked"}}}
    with pytest.raises(UpstreamError) as info:
        parse_callback(body)
    assert (info.value.code, info.value.trace_id, info.value.retryable) == (
        "moderation_blocked",
        "t3",
        False,
    )
    assert "safety" in info.value.message


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        "",
        {"success": True},
        {"success": True, "data": {"data": []}},
        {"data": [{"b64_json": "!!!not base64!!!"}]},
        {"data": [{"b64_json": b64(b"plain text, not an image")}]},
        {"data": [{"neither": 1}]},
        {"data": ["string item"]},
    ],
)
def test_parse_callback_junk_is_malformed_response(payload):
    with pytest.raises(UpstreamError) as info:
        parse_callback(payload)
    assert info.value.code == "malformed_response"
    assert_plain(info.value.message)


# -- against the simulator ---------------------------------------------------------------


def test_submit_returns_the_task_id_and_sends_callback_url(sim, client):
    url = callback_url()
    accepted = client.submit(edit_request(callback_url=url))
    assert isinstance(accepted, Accepted)
    assert accepted.task_id
    assert accepted.request_id == sim.edit_requests[-1].headers["x-request-id"]
    assert sim.edit_requests[-1].fields["callback_url"] == [url]


def test_callback_body_parses_into_the_same_result_as_a_synchronous_edit(sim, client):
    accepted, payload = submit_and_wait(sim, client)
    result = parse_callback(json.dumps(payload).encode())
    assert result.task_id == accepted.task_id
    assert result.trace_id == payload["trace_id"]
    assert result.usage["total_tokens"] > 0
    with Image.open(io.BytesIO(result.images[0].data)) as decoded:
        assert decoded.size == (1024, 1024)


def test_failed_callback_raises_with_the_gateway_code_and_trace_id(sim, client):
    sim.push_fault("callback", mode="fail", code="api_error", message="fetch failed")
    _accepted, payload = submit_and_wait(sim, client)
    with pytest.raises(UpstreamError) as info:
        parse_callback(payload)
    err = info.value
    assert (err.code, err.detail, err.retryable) == ("api_error", "fetch failed", True)
    assert err.trace_id == payload["trace_id"]
    assert_plain(err.message)
