"""Callback bodies over real HTTP, through gunicorn as production runs it: chunked
(no Content-Length) bodies are read, bounded by RETOUCH_CALLBACK_MAX_MB, and the worker
finishes the edit from the spooled body.

Django's test client cannot send a chunked body, so gunicorn and a worker run as
subprocesses (``ProcessStack``). PUBLIC_URL points at a port nobody listens on: the
simulator records the callback it could not deliver and the test sends exactly that
body to gunicorn, chunked or with a Content-Length."""

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from .processes import ProcessStack

pytestmark = pytest.mark.slow

LIMIT_MB = 2
MB = 1024 * 1024


@pytest.fixture(scope="module")
def stack(tmp_path_factory, simulator):
    stack = ProcessStack(
        Path(tmp_path_factory.mktemp("callback-streaming")),
        simulator.base_url,
        RETOUCH_DELIVERY="callback",
        PUBLIC_URL="http://127.0.0.1:9",
        RETOUCH_CALLBACK_MAX_MB=str(LIMIT_MB),
    )
    try:
        stack.start_web()
        stack.create_user("carol")
        stack.start_worker(threads=1)
        yield stack
    finally:
        stack.stop()


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A generator body: requests sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def submitted(stack: ProcessStack, sim, prompt: str) -> tuple[int, str, dict]:
    """An edit the worker submitted in callback mode: (edit id, webhook URL, payload)."""
    before = len(sim.callbacks)
    stack.start_edit(stack.sign_in("carol"), prompt)
    assert sim.wait_for_callbacks(before + 1, timeout=30), stack.log()
    callback = sim.callbacks[before]
    assert callback["status"] is None  # nobody listens at PUBLIC_URL
    path = urlsplit(callback["url"]).path
    edit_id = int(path.strip("/").split("/")[2])
    stack.wait_for(
        lambda: edit(stack, edit_id)["task_id"], timeout=30, what="the task id to be recorded"
    )
    return edit_id, stack.url + path, callback["payload"]


def edit(stack: ProcessStack, edit_id: int):
    return next(row for row in stack.edits() if row["id"] == edit_id)


def spooled(stack: ProcessStack) -> list[str]:
    folder = stack.data_dir / "media" / "callbacks"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def finish_tasks(stack: ProcessStack, edit_id: int) -> list:
    return stack.query(
        "SELECT status FROM django_tasks_database_dbtaskresult"
        " WHERE task_path LIKE '%finish_callback' AND args_kwargs LIKE ?",
        f'%"args": [{edit_id},%',
    )


def test_a_chunked_callback_is_accepted_and_finishes_the_edit(stack, sim):
    edit_id, url, payload = submitted(stack, sim, "chunked callback")
    body = json.dumps(payload).encode()
    response = requests.post(
        url, data=chunks(body, 1000), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request.headers
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted"}
    stack.wait_for(
        lambda: edit(stack, edit_id)["status"] == "succeeded", timeout=30, what="the edit"
    )
    assert edit(stack, edit_id)["result_count"] == 1
    stack.wait_for(lambda: not spooled(stack), timeout=10, what="the spooled body removed")


def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_spooled(stack, sim):
    edit_id, url, payload = submitted(stack, sim, "oversized chunked callback")
    # The real task id first, so only the size can be the reason to refuse it.
    body = json.dumps({**payload, "padding": "x" * (LIMIT_MB * MB + 1)}).encode()
    response = requests.post(
        url, data=chunks(body), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 413, response.text
    assert response.json() == {"status": "too-large"}
    assert spooled(stack) == []
    assert finish_tasks(stack, edit_id) == []
    assert edit(stack, edit_id)["status"] == "running"


def test_a_chunked_body_without_a_task_id_is_still_refused(stack, sim):
    _, url, _ = submitted(stack, sim, "chunked garbage")
    response = requests.post(url, data=chunks(b"not json at all", 4), timeout=30)
    assert response.status_code == 400
    assert response.json() == {"status": "no-task-id"}
    assert spooled(stack) == []


def test_a_callback_with_a_content_length_works_as_before(stack, sim):
    edit_id, url, payload = submitted(stack, sim, "content-length callback")
    body = json.dumps(payload).encode()
    response = requests.post(
        url, data=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.request.headers["Content-Length"] == str(len(body))
    assert response.status_code == 202, response.text
    stack.wait_for(
        lambda: edit(stack, edit_id)["status"] == "succeeded", timeout=30, what="the edit"
    )
    # Over the limit with a Content-Length: refused from the header, body unread.
    big = json.dumps({**payload, "padding": "x" * (LIMIT_MB * MB)}).encode()
    refused = requests.post(submitted(stack, sim, "too big")[1], data=big, timeout=30)
    assert refused.status_code == 413
    assert spooled(stack) == []
