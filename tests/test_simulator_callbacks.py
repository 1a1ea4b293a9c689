"""Callback mode: an answer at once, the nested result POSTed later, and its faults."""

from __future__ import annotations

import base64
import io
import re
import time

from PIL import Image

from .simulator_helpers import (
    closed_port,
    submit_with_callback,
    tasks_call,
    wait_until,
)


def test_callback_mode_answers_at_once_and_posts_the_nested_result(sim, receiver):
    sim.set_latency(1.5)
    started = time.monotonic()
    task_id = submit_with_callback(sim, receiver.url)
    assert time.monotonic() - started < 1.5  # the answer does not wait for the edit
    assert sim.wait_for_callbacks(1, timeout=10)
    assert time.monotonic() - started >= 1.5  # the result does
    [delivery] = sim.callbacks
    assert (delivery["url"], delivery["status"]) == (receiver.url, 200)
    [received] = receiver.received
    assert received["path"] == "/hooks/s3cret"
    payload = received["payload"]
    assert payload == delivery["payload"]
    assert (payload["success"], payload["task_id"]) == (True, task_id)
    assert re.fullmatch(r"[0-9a-f-]{36}", payload["trace_id"])
    inner = payload["data"]
    assert isinstance(inner["created"], int)
    assert inner["usage"]["total_tokens"] > 0
    image = Image.open(io.BytesIO(base64.b64decode(inner["data"][0]["b64_json"])))
    assert image.size == (1024, 1024)


def test_callback_duplicate_posts_the_same_body_twice(sim, receiver):
    sim.push_fault("callback", mode="duplicate")
    submit_with_callback(sim, receiver.url)
    assert sim.wait_for_callbacks(2, timeout=10)
    assert len(receiver.received) == 2
    assert receiver.received[0]["payload"] == receiver.received[1]["payload"]


def test_callback_lost_never_posts_but_the_task_still_finishes(sim, receiver):
    sim.push_fault("callback", mode="lost")
    task_id = submit_with_callback(sim, receiver.url)

    def finished() -> bool:
        return "response" in tasks_call(sim, {"action": "retrieve", "id": task_id}).json()

    assert wait_until(finished)
    assert not sim.wait_for_callbacks(1, timeout=0.3)
    assert receiver.received == []
    task = tasks_call(sim, {"action": "retrieve", "id": task_id}).json()
    assert task["response"]["success"] is True
    assert task["finished_at"] >= task["started_at"]


def test_callback_late_arrives_after_the_delay(sim, receiver):
    sim.push_fault("callback", mode="late", delay=0.5)
    task_id = submit_with_callback(sim, receiver.url)
    assert sim.wait_for_callbacks(1, timeout=10)
    task = tasks_call(sim, {"action": "retrieve", "id": task_id}).json()
    assert receiver.received[0]["at"] - task["finished_at"] >= 0.45


def test_callback_fail_delivers_the_failure_body_and_stores_it(sim, receiver):
    sim.push_fault("callback", mode="fail", code="api_error", message="fetch failed")
    task_id = submit_with_callback(sim, receiver.url)
    assert sim.wait_for_callbacks(1, timeout=10)
    payload = receiver.received[0]["payload"]
    assert payload["success"] is False
    assert payload["task_id"] == task_id and payload["trace_id"]
    assert payload["error"] == {"code": "api_error", "message": "fetch failed"}
    assert "data" not in payload
    task = tasks_call(sim, {"action": "retrieve", "id": task_id}).json()
    assert task["response"] == payload


def test_callback_status_is_recorded_even_when_the_receiver_fails(sim, receiver):
    receiver.answer_status = 500
    submit_with_callback(sim, receiver.url)
    assert sim.wait_for_callbacks(1, timeout=10)
    assert sim.callbacks[0]["status"] == 500


def test_callback_to_an_unreachable_url_is_recorded_with_no_status(sim):
    submit_with_callback(sim, f"http://127.0.0.1:{closed_port()}/hook")
    assert sim.wait_for_callbacks(1, timeout=10)
    assert sim.callbacks[0]["status"] is None


def test_a_reset_drops_callbacks_still_on_their_way(sim, receiver):
    sim.set_latency(0.3)
    submit_with_callback(sim, receiver.url)
    sim.reset()
    time.sleep(0.5)
    assert sim.callbacks == [] and receiver.received == []
