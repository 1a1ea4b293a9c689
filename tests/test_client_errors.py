"""Every error of the API contract, and how it reaches the worker and the person.

Each is checked for what the worker relies on (``code``, ``status``, ``retryable``,
``retry_after``, ``trace_id``) and for what a person reads (``message`` in plain words): first
the mapping of bodies and headers alone, then each error provoked over real HTTP against the
simulator.
"""

from __future__ import annotations

import email.utils
import io
import json
import pickle
import time

import pytest

from editor.upstream import ImageInput, ImagesClient
from editor.upstream.errors import error_from_body, error_from_http, parse_retry_after
from editor.upstream.transport import DEFAULT_CONNECT_TIMEOUT

from .client_helpers import (
    assert_plain,
    closed_port,
    edit_request,
    expect_error,
    mask_png,
    sim_client,  # noqa: F401 - the ``client`` fixture
)

# -- mapping bodies and headers, without a server ----------------------------------------


def gateway_body(code: str, message: str = "upstream said no", trace_id: str = "trace-1") -> bytes:
    return json.dumps(
        {"success": False, "error": {"code": code, "message": message}, "trace_id": trace_id}
    ).encode()


def openai_body(type_: str, code: str | None = None, param: str | None = None) -> bytes:
    error = {"message": "OpenAI said no", "type": type_, "param": param, "code": code}
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable"),
    [
        (400, gateway_body("token_mismatched"), "token_mismatched", False),
        (400, gateway_body("api_not_implemented"), "api_not_implemented", False),
        (400, openai_body("invalid_request_error", param="size"), "invalid_request_error", False),
        (401, gateway_body("invalid_token"), "invalid_token", False),
        (403, openai_body("invalid_request_error"), "invalid_request_error", False),
        (429, gateway_body("too_many_requests"), "too_many_requests", True),
        (429, openai_body("insufficient_quota", "insufficient_quota"), "insufficient_quota", False),
        (500, gateway_body("api_error", "fetch failed"), "api_error", True),
        (502, b"", "bad_gateway", True),
        (503, b"Service Unavailable", "service_unavailable", True),
        (504, b"<html><body><h1>504 Gateway Time-out</h1></body></html>", "gateway_timeout", True),
        (418, b"teapot", "http_error", False),
        (599, b"", "http_error", True),
    ],
)
def test_error_mapping_from_status_and_body(status, body, code, retryable):
    err = error_from_http(status, {}, body, request_id="req-1")
    assert (err.code, err.status, err.retryable) == (code, status, retryable)
    assert err.request_id == "req-1"
    assert_plain(err.message)


def test_openai_insufficient_quota_in_type_only_is_still_not_retryable():
    err = error_from_http(429, {}, openai_body("insufficient_quota"))
    assert err.code == "insufficient_quota"
    assert not err.retryable
    assert "quota or credit" in err.message


def test_401_message_tells_an_administrator_to_check_the_key():
    err = error_from_http(401, {}, gateway_body("invalid_token"))
    assert "administrator" in err.message
    assert "OPENAI_API_KEY" in err.message


def test_400_naming_the_mask_gets_a_mask_message():
    err = error_from_http(400, {}, openai_body("invalid_request_error", param="mask"))
    assert "mask" in err.message
    assert err.param == "mask"
    err = error_from_http(400, {}, gateway_body("bad_request", "'mask' has no alpha channel"))
    assert "mask" in err.message


def test_gateway_trace_id_and_raw_message_are_kept():
    err = error_from_http(500, {}, gateway_body("api_error", "fetch failed", "trace-9"))
    assert err.trace_id == "trace-9"
    assert err.detail == "fetch failed"
    assert "fetch failed" in str(err)
    assert "trace-9" in str(err)


def test_html_error_page_keeps_its_words_not_its_markup():
    page = b"<html><head><style>h1{}</style></head><body><h1>502 Bad Gateway</h1>nginx</body>"
    err = error_from_http(502, {}, page)
    assert err.detail == "502 Bad Gateway nginx"
    assert "<" not in str(err)


def test_retry_after_delta_seconds():
    assert parse_retry_after({"Retry-After": "12"}) == 12.0
    assert parse_retry_after({"retry-after": " 1.5 "}) == 1.5


def test_retry_after_http_date_is_converted_to_seconds_from_now():
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30, abs=1)


def test_retry_after_in_the_past_is_zero_and_garbage_is_none():
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "-5"}) == 0.0


def test_openai_retry_after_ms_header_is_understood():
    assert parse_retry_after({"retry-after-ms": "2500"}) == 2.5


def test_unknown_code_without_status_still_gets_a_plain_message():
    err = error_from_body({"success": False, "error": {"code": "weird_new_thing"}})
    assert err.code == "weird_new_thing"
    assert err.retryable is False
    assert_plain(err.message)


def test_upstream_error_survives_pickling_for_task_queues():
    err = error_from_http(429, {"Retry-After": "3"}, gateway_body("too_many_requests"))
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert copy.as_dict() == err.as_dict()


# -- against the simulator ---------------------------------------------------------------


def push_openai_error(sim, status: int, type_: str, message: str, **extra) -> None:
    """The simulator answers the next edit with OpenAI's error body."""
    sim.push_fault("openai_error", status=status, type=type_, message=message, **extra)


def test_400_gateway_bad_request_is_not_retryable_and_keeps_trace_id(sim, client):
    # A real validation failure: the mask is not the size of the image.
    mask = ImageInput("mask.png", "image/png", io.BytesIO(mask_png((32, 32))))
    err = expect_error(client, edit_request(mask=mask))
    assert (err.code, err.status, err.retryable, err.retry_after) == (
        "bad_request",
        400,
        False,
        None,
    )
    assert err.trace_id
    assert "mask" in err.message
    assert "32x32" in err.detail


@pytest.mark.parametrize("code", ["token_mismatched", "api_not_implemented"])
def test_400_gateway_codes_are_not_retryable(sim, client, code):
    sim.push_fault("http", status=400, code=code, message="nope")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == (code, 400, False)
    assert err.trace_id


def test_400_openai_shape_keeps_type_and_param(sim, client):
    detail = "Invalid image file or mode for image 1"
    push_openai_error(sim, 400, "invalid_request_error", detail, param="image")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("invalid_request_error", 400, False)
    assert err.param == "image"
    assert err.detail == "Invalid image file or mode for image 1"
    assert "one of the images" in err.message


def test_401_wrong_token_tells_an_administrator_to_check_the_key(sim):
    with ImagesClient(sim.base_url, "sk-wrong") as c:
        err = expect_error(c)
    assert (err.code, err.status, err.retryable) == ("invalid_token", 401, False)
    assert "OPENAI_API_KEY" in err.message
    assert "sk-wrong" not in str(err) + repr(c)


def test_403_is_not_retryable(sim, client):
    push_openai_error(sim, 403, "invalid_request_error", "org not verified")
    err = expect_error(client)
    assert (err.status, err.retryable) == (403, False)
    assert "not allow" in err.message


def test_429_with_retry_after_is_retryable_and_carries_delay(sim, client):
    sim.push_fault("http", status=429, code="too_many_requests", retry_after=7)
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("too_many_requests", 429, True)
    assert err.retry_after == 7.0
    assert err.trace_id
    assert err.message == (
        "The image service is busy right now (too many requests). Retouch will try again shortly."
    )


def test_429_retry_after_as_http_date_is_seconds_from_now(sim, client):
    sim.push_fault(
        "http", status=429, retry_after=email.utils.formatdate(time.time() + 120, usegmt=True)
    )
    err = expect_error(client)
    assert err.retryable
    assert 110 <= err.retry_after <= 121


def test_429_insufficient_quota_is_not_retryable(sim, client):
    quota = "insufficient_quota"
    push_openai_error(sim, 429, quota, "You exceeded your current quota", code=quota)
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("insufficient_quota", 429, False)
    assert "quota or credit" in err.message


def test_500_api_error_is_retryable(sim, client):
    sim.push_fault("http", status=500, code="api_error", message="fetch failed")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("api_error", 500, True)
    assert err.detail == "fetch failed"
    assert err.trace_id


@pytest.mark.parametrize(("status", "code"), [(502, "bad_gateway"), (503, "service_unavailable")])
def test_502_and_503_html_pages_are_retryable(sim, client, status, code):
    sim.push_fault("bare", status=status, body=f"<html><body><h1>{status} Oops</h1></body></html>")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable, err.trace_id) == (code, status, True, None)
    assert err.detail == f"{status} Oops"
    assert err.request_id


def test_504_html_page_is_retryable_and_hints_at_callbacks(sim, client):
    sim.push_fault("bare", status=504, body="<html><h1>504 Gateway Time-out</h1></html>")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("gateway_timeout", 504, True)
    assert "callback" in err.message


def test_413_too_large_upload_is_not_retryable(sim, client):
    limit, sim.max_body_bytes = sim.max_body_bytes, 100
    try:
        err = expect_error(client)
    finally:
        sim.max_body_bytes = limit
    assert (err.status, err.retryable) == (413, False)


def test_timeout_when_the_service_hangs(sim):
    sim.push_fault("hang", seconds=3)
    with ImagesClient(sim.base_url, sim.token or "sk-test", timeout=(2, 0.3)) as c:
        started = time.monotonic()
        err = expect_error(c)
    assert time.monotonic() - started < 2
    assert (err.code, err.status, err.retryable) == ("timeout", None, True)
    assert err.request_id


def test_a_single_timeout_number_bounds_the_answer_and_connecting_keeps_its_own_bound(sim):
    sim.push_fault("hang", seconds=3)
    with ImagesClient(sim.base_url, sim.token or "sk-test", timeout=0.3) as c:
        assert c.timeout == (DEFAULT_CONNECT_TIMEOUT, 0.3)
        started = time.monotonic()
        err = expect_error(c)
    assert time.monotonic() - started < 2
    assert (err.code, err.retryable) == ("timeout", True)
    # OPENAI_TIMEOUT=300 waits up to five minutes for an edit, not for a dead host.
    with ImagesClient(sim.base_url, "sk-test", timeout=300) as c:
        assert c.timeout == (10.0, 300.0)


def test_connection_refused_is_a_retryable_connect_error():
    with ImagesClient(f"http://127.0.0.1:{closed_port()}/openai", "sk-test") as c:
        err = expect_error(c)
    assert (err.code, err.status, err.retryable) == ("connect_error", None, True)
    assert "could not reach" in err.message


def test_disconnect_without_an_answer_is_retryable(sim, client):
    sim.push_fault("disconnect")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("connection_lost", None, True)


def test_malformed_json_on_200_is_a_retryable_malformed_response(sim, client):
    sim.push_fault("malformed")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("malformed_response", 200, True)
    assert err.request_id


def test_gateway_failure_inside_a_200_is_still_an_error(sim, client):
    body = json.dumps(
        {"success": False, "error": {"code": "api_error", "message": "x"}, "trace_id": "t-200"}
    )
    sim.push_fault("bare", status=200, body=body, content_type="application/json")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable, err.trace_id) == ("api_error", 200, True, "t-200")


def test_html_page_with_status_200_is_a_malformed_response(sim, client):
    sim.push_fault("bare", status=200, body="<html><body>Please log in to the Wi-Fi</body></html>")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("malformed_response", 200, True)
