"""Faults queued by tests: every failure of the contract, in the order pushed, each used once."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from editor.simulator.server import Simulator

from .simulator_helpers import (
    assert_gateway_error,
    assert_one_rate_limit_then_success,
    edit,
    submit_with_callback,
    tasks_call,
    wait_until,
)


def test_http_fault_answers_in_gateway_shape_with_retry_after_then_is_used_up(sim):
    assert_one_rate_limit_then_success(sim, edit, retry_after=7)


@pytest.mark.parametrize(
    ("status", "code"), [(500, "api_error"), (502, "upstream_error"), (504, "upstream_error")]
)
def test_http_fault_default_codes_follow_the_status(sim, status, code):
    sim.push_fault("http", status=status)
    assert_gateway_error(edit(sim), status, code)


def test_http_fault_takes_a_custom_code_and_message(sim):
    sim.push_fault("http", status=400, code="token_mismatched", message="nope")
    body = assert_gateway_error(edit(sim), 400, "token_mismatched")
    assert body["error"]["message"] == "nope"


def test_faults_are_used_in_the_order_pushed(sim):
    sim.push_fault("http", status=500)
    sim.push_fault("http", status=503)
    assert [edit(sim).status_code for _ in range(3)] == [500, 503, 200]


def test_openai_error_fault_uses_openais_shape(sim):
    sim.push_fault(
        "openai_error",
        status=400,
        type="invalid_request_error",
        code="invalid_image",
        param="mask",
        message="Invalid mask",
    )
    response = edit(sim)
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "Invalid mask",
            "type": "invalid_request_error",
            "param": "mask",
            "code": "invalid_image",
        }
    }


def test_bare_fault_sends_an_html_page(sim):
    page = "<html><body><h1>504 Gateway Time-out</h1></body></html>"
    sim.push_fault("bare", status=504, body=page)
    response = edit(sim)
    assert response.status_code == 504
    assert response.headers["Content-Type"] == "text/html"
    assert response.text == page


def test_hang_fault_makes_the_client_time_out_and_is_logged(sim):
    sim.push_fault("hang", seconds=2)
    with pytest.raises(requests.ReadTimeout):
        edit(sim, timeout=0.3)
    assert sim.edit_requests[-1].status is None


def test_hang_fault_answers_normally_after_the_wait(sim):
    sim.push_fault("hang", seconds=0.3)
    started = time.monotonic()
    response = edit(sim)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_hanging_request_does_not_keep_the_server_from_stopping():
    hung = Simulator(token="sk-test").start()
    hung.push_fault("hang", seconds=30)
    errors = []

    def call() -> None:
        try:
            edit(hung, timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    assert wait_until(lambda: len(hung.edit_requests) == 1)
    started = time.monotonic()
    hung.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 3
    assert not thread.is_alive() and errors


def test_malformed_fault_sends_truncated_json(sim):
    sim.push_fault("malformed")
    response = edit(sim)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        response.json()


def test_disconnect_fault_closes_without_an_answer(sim):
    sim.push_fault("disconnect")
    with pytest.raises(requests.ConnectionError):
        edit(sim)
    assert sim.edit_requests[-1].status is None
    assert edit(sim).status_code == 200


def test_tasks_requests_do_not_use_up_faults(sim):
    sim.push_fault("http", status=500)
    assert tasks_call(sim, {"action": "retrieve", "id": "nope"}).status_code == 200
    assert edit(sim).status_code == 500


def test_a_callback_fault_waits_for_a_callback_request(sim, receiver):
    sim.push_fault("callback", mode="lost")
    assert edit(sim).status_code == 200  # a synchronous edit leaves it queued
    assert [f.kind for f in sim.faults] == ["callback"]
    submit_with_callback(sim, receiver.url)
    assert sim.faults == []


def test_unknown_fault_kind_is_refused(sim):
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.push_fault("gremlins")
    with pytest.raises(ValueError, match="mode"):
        sim.push_fault("callback", mode="sometimes")
