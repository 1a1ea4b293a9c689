"""The Tasks API: retrieve() and retrieve_batch() over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from editor.upstream import ImagesClient, TaskInfo, UpstreamError

from .client_helpers import (
    callback_url,
    edit_request,
    sim_client,  # noqa: F401 - the ``client`` fixture
    submit_and_wait,
)


def test_retrieve_returns_the_finished_task_with_its_result(sim, client):
    accepted, _payload = submit_and_wait(sim, client)
    info = client.retrieve(accepted.task_id)
    assert isinstance(info, TaskInfo)
    assert info.id == accepted.task_id
    assert info.finished and info.error is None
    assert info.type == "images_edits"
    assert info.created_at <= info.started_at <= info.finished_at
    assert info.elapsed is not None
    assert info.result.task_id == accepted.task_id
    assert info.result.images[0].content_type == "image/png"
    assert sim.requests[-1].headers["authorization"].startswith("Bearer ")


def test_retrieve_finds_a_task_whose_callback_was_lost(sim, client):
    sim.push_fault("callback", mode="lost")
    accepted = client.submit(edit_request(callback_url=callback_url()))
    info = None
    for _ in range(100):  # at most ~10 s
        info = client.retrieve(accepted.task_id)
        if info.finished:
            break
        time.sleep(0.1)
    assert info.finished and info.result.images
    assert sim.callbacks == []


def test_retrieve_of_an_unfinished_task_has_no_result_yet(sim, client):
    sim.set_latency(5)
    accepted = client.submit(edit_request(callback_url=callback_url()))
    info = client.retrieve(accepted.task_id)
    assert (info.finished, info.result, info.error, info.finished_at) == (False, None, None, None)


def test_retrieve_of_a_failed_task_carries_the_error(sim, client):
    sim.push_fault("callback", mode="fail", code="too_many_requests", message="busy")
    accepted, _payload = submit_and_wait(sim, client)
    info = client.retrieve(accepted.task_id)
    assert info.finished and info.result is None
    assert (info.error.code, info.error.retryable) == ("too_many_requests", True)
    assert info.error.trace_id == info.trace_id


def test_retrieve_of_an_unknown_id_is_none(sim, client):
    assert client.retrieve("no-such-task") is None


def test_retrieve_batch_returns_known_tasks_in_order_and_skips_unknown(sim, client):
    first = client.submit(edit_request(callback_url=callback_url()))
    second = client.submit(edit_request(callback_url=callback_url()))
    third = client.submit(edit_request(callback_url=callback_url()))
    assert sim.wait_for_callbacks(3, timeout=15)
    ids = [second.task_id, "missing", first.task_id, third.task_id, first.task_id]
    infos = client.retrieve_batch(ids, page_size=2)
    assert [i.id for i in infos] == [second.task_id, first.task_id, third.task_id]
    assert all(i.finished and i.result.images for i in infos)
    batch_calls = [r for r in sim.requests if r.fields.get("action") == ["retrieve_batch"]]
    assert len(batch_calls) == 2
    assert client.retrieve_batch([]) == []


class _StingyTasksApi(BaseHTTPRequestHandler):
    """A Tasks API that returns one item per page whatever limit is asked for."""

    tasks = [{"id": f"t{i}", "trace_id": f"trace-{i}", "created_at": 1.0} for i in range(5)]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        selected = [t for t in self.tasks if t["id"] in body["ids"]]
        page = selected[body["offset"] : body["offset"] + 1]
        out = json.dumps({"items": page, "count": len(selected)}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args) -> None:
        pass


def test_retrieve_batch_pages_with_offset_when_the_service_returns_short_pages():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StingyTasksApi)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/openai"
        with ImagesClient(base, "sk-test", timeout=(2, 5)) as c:
            infos = c.retrieve_batch(["t3", "t1", "nope", "t4"], page_size=12)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert [i.id for i in infos] == ["t3", "t1", "t4"]
    assert all(not i.finished and i.result is None for i in infos)


def test_tasks_api_errors_are_upstream_errors(sim):
    with ImagesClient(sim.base_url, "sk-wrong") as c, pytest.raises(UpstreamError) as info:
        c.retrieve("anything")
    assert (info.value.code, info.value.status) == ("invalid_token", 401)
