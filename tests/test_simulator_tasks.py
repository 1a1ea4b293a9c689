"""The Tasks API: tasks of callback-mode edits, retrieved one by one or in pages."""

from __future__ import annotations

import pytest

from .simulator_helpers import (
    SQUARE,
    assert_gateway_error,
    edit,
    png_file,
    submit_with_callback,
    tasks_call,
)


def test_task_is_retrievable_by_id_and_trace_id_with_its_fields(sim, receiver):
    task_id = submit_with_callback(sim, receiver.url, {"user": "user-9"})
    assert sim.wait_for_callbacks(1, timeout=10)
    task = tasks_call(sim, {"action": "retrieve", "id": task_id}).json()
    assert (task["id"], task["type"]) == (task_id, "images_edits")
    assert task["request"]["prompt"] == "make it look like a watercolour"
    assert task["request"]["user"] == "user-9"
    assert task["request"]["callback_url"] == receiver.url
    assert task["created_at"] <= task["started_at"] <= task["finished_at"]
    assert task["elapsed"] >= 0
    assert task["response"] == sim.callbacks[0]["payload"]
    by_trace = tasks_call(sim, {"action": "retrieve", "trace_id": task["trace_id"]}).json()
    assert by_trace == task


def test_unfinished_task_has_no_response_yet(sim, receiver):
    sim.set_latency(1)
    task_id = submit_with_callback(sim, receiver.url)
    task = tasks_call(sim, {"action": "retrieve", "id": task_id}).json()
    assert "response" not in task and task["finished_at"] is None


@pytest.mark.parametrize("key", ["id", "trace_id"])
def test_unknown_task_is_an_empty_object(sim, key):
    response = tasks_call(sim, {"action": "retrieve", key: "no-such-task"})
    assert (response.status_code, response.json()) == (200, {})


def test_synchronous_edits_are_not_stored_as_tasks(sim):
    edit(sim)
    response = tasks_call(sim, {"action": "retrieve_batch"})
    assert response.json() == {"items": [], "count": 0}


def test_retrieve_batch_filters_by_ids_and_trace_ids_on_both_paths(sim, receiver):
    ids = [submit_with_callback(sim, receiver.url) for _ in range(3)]
    assert sim.wait_for_callbacks(3, timeout=10)
    response = tasks_call(sim, {"action": "retrieve_batch", "ids": ids[:2]}, path="/v1/tasks")
    body = response.json()
    assert body["count"] == 2
    assert {item["id"] for item in body["items"]} == set(ids[:2])
    trace_id = body["items"][0]["trace_id"]
    by_trace = tasks_call(sim, {"action": "retrieve_batch", "trace_ids": [trace_id]}).json()
    assert [item["trace_id"] for item in by_trace["items"]] == [trace_id]


def test_retrieve_batch_pages_with_offset_and_a_default_limit_of_12(sim, receiver):
    fields = {"model": "dall-e-2", "size": "256x256"}
    ids = []
    for _ in range(13):
        response = edit(sim, {"callback_url": receiver.url, **fields}, [png_file("image", SQUARE)])
        ids.append(response.json()["task_id"])
    first = tasks_call(sim, {"action": "retrieve_batch", "ids": ids}).json()
    assert (first["count"], len(first["items"])) == (13, 12)
    rest = tasks_call(sim, {"action": "retrieve_batch", "ids": ids, "offset": 12}).json()
    seen = [item["id"] for item in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(ids)
    assert sim.wait_for_callbacks(13, timeout=10)


@pytest.mark.parametrize(
    "body",
    [{"action": "explode"}, {"action": "retrieve"}, {"action": "retrieve_batch", "limit": "x"}],
)
def test_bad_tasks_requests_get_400(sim, body):
    assert_gateway_error(tasks_call(sim, body), 400, "bad_request")


def test_tasks_requests_are_logged_with_their_json_keys(sim):
    tasks_call(sim, {"action": "retrieve_batch", "ids": ["a", "b"], "limit": 5})
    [record] = sim.requests
    assert record.path == "/openai/tasks" and record.status == 200
    assert record.fields == {"action": ["retrieve_batch"], "ids": ["a", "b"], "limit": ["5"]}
    assert sim.edit_requests == []
