"""Callback bodies over real HTTP, through gunicorn as production runs it: chunked
(no Content-Length) bodies are read, bounded by RETOUCH_CALLBACK_MAX_MB, and the worker
finishes the edit from the spooled body.

Django's test client cannot send a chunked body, so gunicorn and a worker run as
subprocesses (``ProcessStack``). PUBLIC_URL points at a port nobody listens on: the
simulator records the callback it could not deliver and the test sends exactly that
body to gunicorn, chunked or with a Content-Length."""

import base64
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from editor.upstream import UpstreamError, parse_callback
from editor.upstream.streamed_json import LONG_STRING, load_streamed

from .processes import ProcessStack

slow = pytest.mark.slow

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


@slow
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


@slow
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


@slow
def test_a_chunked_body_without_a_task_id_is_still_refused(stack, sim):
    _, url, _ = submitted(stack, sim, "chunked garbage")
    response = requests.post(url, data=chunks(b"not json at all", 4), timeout=30)
    assert response.status_code == 400
    assert response.json() == {"status": "no-task-id"}
    assert spooled(stack) == []


@slow
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


# -- the worker's side: a spooled body parsed from its file, in chunks ---------------------

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3 * LONG_STRING)


def callback_body(b64: str, **extra) -> dict:
    return {
        "success": True,
        "task_id": "6a97bf49-task",
        "trace_id": "9b4b1ff3-trace",
        "data": {"created": 1721626477, "data": [{"b64_json": b64, "revised_prompt": "a/b"}]},
        **extra,
    }


@pytest.mark.parametrize("chunk_size", [1, 3, 4096, 65536])
@pytest.mark.parametrize("escape_slashes", [False, True])
def test_a_body_read_from_a_file_in_chunks_gives_the_same_result(chunk_size, escape_slashes):
    text = json.dumps(callback_body(base64.b64encode(PNG).decode()))
    if escape_slashes:  # as PHP's json_encode writes base64
        text = text.replace("/", "\\/")
    body = text.encode()
    streamed = load_streamed(io.BytesIO(body), chunk_size=chunk_size)
    assert streamed["data"]["data"][0]["b64_json"].data() == PNG
    from_file = parse_callback(io.BytesIO(body), result_hosts=[])
    from_bytes = parse_callback(body, result_hosts=[])
    assert from_file.images[0].data == from_bytes.images[0].data == PNG
    assert from_file.images[0].revised_prompt == "a/b"
    assert (from_file.task_id, from_file.trace_id) == ("6a97bf49-task", "9b4b1ff3-trace")


@pytest.mark.parametrize(
    "b64",
    [
        base64.b64encode(PNG).decode()[:-1],  # cut short
        base64.b64encode(PNG).decode() + "QUJD",  # data after the padding
        base64.b64encode(PNG[:-1]).decode() + base64.b64encode(b"xyz").decode(),  # inner "=="
        "\\" + base64.b64encode(PNG).decode(),  # a backslash
        "é" * LONG_STRING,
    ],
)
def test_a_long_string_that_is_not_base64_is_malformed_as_before(b64):
    body = json.dumps(callback_body(b64)).encode()
    for payload in (io.BytesIO(body), body):
        with pytest.raises(UpstreamError) as caught:
            parse_callback(payload, result_hosts=[])
        assert caught.value.code == "malformed_response"
        assert "not valid base64" in caught.value.detail
        assert caught.value.task_id == "6a97bf49-task"


def test_a_long_value_that_is_not_an_image_is_dropped_not_decoded():
    body = callback_body(base64.b64encode(PNG).decode(), padding="y" * (2 * LONG_STRING + 1))
    result = parse_callback(io.BytesIO(json.dumps(body).encode()), result_hosts=[])
    assert result.images[0].data == PNG


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"task_id": "t", "data": "unterminated',
        b"[1, 2]",
        b"[" + b"1," * 600_000 + b"1]",
    ],
)
def test_a_file_that_is_not_a_callback_is_malformed(body):
    with pytest.raises(UpstreamError) as caught:
        parse_callback(io.BytesIO(body), result_hosts=[])
    assert caught.value.code == "malformed_response"
