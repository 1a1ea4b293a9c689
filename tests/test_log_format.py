"""Log lines say which edit and request they are about (edit_id, trace_id, request_id),
in the web and in the worker; LOG_FORMAT=json writes one JSON object per line, for
Django's lines and gunicorn's alike, callback tokens still redacted."""

import io
import json
import logging
import os
import subprocess
import sys
import time

import pytest
import requests
from django.urls import reverse

from editor.edits.management.commands import worker as worker_command
from editor.edits.management.commands.worker import Dispatcher
from editor.edits.models import Status
from editor.edits.tasks import run_edit
from editor.logs import AddLogContext, JsonLines, PlainFormatter, RedactSecrets, log_context

from .factories import make_edit, personal_team
from .processes import ROOT, free_port
from .test_log_redaction import procfile_web_command

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-Callback-Token-abcdefghijklmnop"


@pytest.fixture
def json_lines():
    """What the root logger writes as JSON (the settings' console handler, LOG_FORMAT=json),
    parsed: one object per line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    handler.addFilter(AddLogContext())
    handler.addFilter(RedactSecrets())
    logging.getLogger().addHandler(handler)

    def read() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield read
    logging.getLogger().removeHandler(handler)


def lines_saying(lines: list[dict], words: str) -> list[dict]:
    return [line for line in lines if words in line["message"]]


def test_a_worker_attempt_logs_the_edit_trace_and_request_ids(
    upstream, owner, settings, json_lines, monkeypatch
):
    settings.RETOUCH_MAX_ATTEMPTS = 1
    # Run on this thread, inside the test's transaction: the connection must stay open.
    monkeypatch.setattr(worker_command, "close_old_connections", lambda: None)
    upstream.push_fault("http", status=500)
    edit = make_edit(personal_team(owner), owner)
    run_edit.enqueue(edit.pk)
    worker = Dispatcher(threads=1, interval=0.1, queue_names=["default"], worker_id="w-logs")
    [task] = worker._claim(1)
    worker._run(task)

    edit.refresh_from_db()
    assert edit.status == Status.FAILED and edit.trace_id and edit.request_id
    [line] = lines_saying(json_lines(), f"Edit {edit.pk} attempt 1 failed")
    assert line["level"] == "WARNING"
    assert line["logger"] == "editor.edits.delivery"
    assert line["edit_id"] == edit.pk
    assert line["trace_id"] == edit.trace_id  # the service's, for its support
    assert line["request_id"] == edit.request_id
    assert line["time"].endswith("+00:00")


def test_a_web_request_logs_its_request_id_and_the_edit_and_sends_the_id_back(
    alice_client, json_lines
):
    response = alice_client.get(
        reverse("edit_detail", kwargs={"pk": 987654}), HTTP_X_REQUEST_ID="lb-req-0042"
    )
    assert response.status_code == 404
    assert response["X-Request-ID"] == "lb-req-0042"
    [line] = lines_saying(json_lines(), "Not Found: /edits/987654/")
    assert line["request_id"] == "lb-req-0042"
    assert line["edit_id"] == 987654
    assert line["status_code"] == 404
    assert "request" not in line  # Django's request object: its repr is no log field


def test_a_request_without_a_usable_id_gets_a_new_one(client, json_lines):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID='forged" "level": "x')
    new_id = response["X-Request-ID"]
    assert len(new_id) == 32 and "forged" not in new_id
    [line] = lines_saying(json_lines(), "Not Found: /no-such-page/")
    assert line["request_id"] == new_id
    assert "edit_id" not in line


def test_a_callback_line_carries_the_edit_but_never_its_token(client, owner, json_lines):
    edit = make_edit(personal_team(owner), owner, status=Status.RUNNING)
    url = reverse("edit_callback", kwargs={"pk": edit.pk, "token": TOKEN})
    assert client.post(url, b"{}", content_type="application/json").status_code == 404
    lines = json_lines()
    saying = lines_saying(lines, f"/hooks/edits/{edit.pk}/[token]/")
    [line] = [line for line in saying if line["logger"] != "retouch.access"]
    [access] = [line for line in saying if line["logger"] == "retouch.access"]
    assert line["edit_id"] == edit.pk and access["edit_id"] == edit.pk
    assert TOKEN not in json.dumps(lines)


def test_plain_lines_end_with_the_ids_they_know():
    formatter = PlainFormatter("%(levelname)s %(name)s: %(message)s")
    record = logging.LogRecord("editor.x", logging.INFO, __file__, 1, "Stored %s", (3,), None)
    with log_context(edit_id=12, trace_id="tr-1"):
        AddLogContext().filter(record)
    assert formatter.format(record) == "INFO editor.x: Stored 3 [edit_id=12 trace_id=tr-1]"
    bare = logging.LogRecord("editor.x", logging.INFO, __file__, 1, "Started", (), None)
    assert formatter.format(bare) == "INFO editor.x: Started"


def test_the_context_ends_with_its_block_and_binds_only_inside_one():
    from editor.logs import bind, current_context

    bind(edit_id=1)  # outside any block: nothing sticks to the thread
    assert current_context() == {}
    with log_context(request_id="r-1"):
        bind(trace_id="t-1", request_id="")
        assert current_context() == {"request_id": "r-1", "trace_id": "t-1"}
        with log_context(edit_id=5):
            assert current_context()["edit_id"] == 5
        assert "edit_id" not in current_context()
    assert current_context() == {}


# --- LOG_FORMAT=json through the settings, in real processes ---------------------------------


def environment(tmp_path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return env | {"RETOUCH_DATA_DIR": str(tmp_path), "SECRET_KEY": "log-tests-only"} | extra


LOGS_SOME_LINES = """
import logging
from editor.logs import log_context
log = logging.getLogger("editor.edits.worker")
with log_context(edit_id=7, trace_id="trace-abc"):
    log.warning("Edit 7: first line")
    try:
        raise RuntimeError("went wrong")
    except RuntimeError:
        log.exception("Edit 7: with its traceback")
"""


@pytest.mark.slow
def test_log_format_json_writes_one_object_per_line_tracebacks_included(tmp_path):
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", LOGS_SOME_LINES],
        cwd=ROOT,
        env=environment(tmp_path, LOG_FORMAT="json"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["message"] for line in lines] == [
        "Edit 7: first line",
        "Edit 7: with its traceback",
    ]
    assert all(line["edit_id"] == 7 and line["trace_id"] == "trace-abc" for line in lines)
    assert "RuntimeError: went wrong" in lines[1]["exc_info"]


@pytest.mark.slow
def test_an_unknown_log_format_stops_start_up_with_a_sentence(tmp_path):
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment(tmp_path, LOG_FORMAT="xml"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "LOG_FORMAT must be plain or json" in done.stderr


@pytest.mark.slow
def test_gunicorn_as_the_procfile_runs_it_writes_json_lines_with_the_request_id(tmp_path):
    env = environment(tmp_path, LOG_FORMAT="json", DEBUG="false")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    port = free_port()
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        web = subprocess.Popen(
            procfile_web_command(port), cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = requests.get(
                        base + "/healthz", headers={"X-Request-ID": "probe-1"}, timeout=5
                    )
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            assert health.status_code == 200
            assert health.headers["X-Request-ID"] == "probe-1"
            callback = requests.post(f"{base}/hooks/edits/424242/{TOKEN}/", data=b"{}", timeout=5)
            assert callback.status_code == 404
        finally:
            web.terminate()
            web.wait(30)
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one object
    assert TOKEN not in text
    access = [line for line in lines if line["logger"] == "retouch.access"]
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]  # no second line
    [probe] = [line for line in access if "GET /healthz" in line["message"]]
    assert probe["request_id"] == "probe-1"
    [warning] = lines_saying(lines, "Not Found: /hooks/edits/424242/[token]/")
    assert warning["edit_id"] == 424242 and warning["request_id"]
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # "Booting worker ..."
