"""The background edit, run against the API simulator over real HTTP."""

import io

import pytest
import requests
from django.urls import reverse
from PIL import Image

from editor.edits.models import Edit, Status
from editor.edits.tasks import run_edit

from .factories import make_edit, personal_team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def one_attempt(settings):
    """One attempt per edit here, so each failure is final at once; automatic retries
    have their own tests (test_faults.py)."""
    settings.RETOUCH_MAX_ATTEMPTS = 1


def queued_edit(owner, **kwargs) -> Edit:
    return make_edit(personal_team(owner), owner, **kwargs)


def test_b64_result_is_stored_with_its_size_ids_usage_and_timings(upstream, owner):
    edit = queued_edit(owner, sources=2, params={"size": "1024x1024", "quality": "low"})
    assert run_edit.call(edit.pk) == "succeeded"
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED
    assert edit.attempts == 1
    assert edit.trace_id and edit.task_id and edit.request_id
    assert edit.usage["total_tokens"] > 0
    assert edit.upstream_created
    assert edit.created_at <= edit.started_at <= edit.finished_at
    result = edit.results.get()
    with result.file.open("rb") as f:
        data = f.read()
    assert result.size_bytes == len(data)
    assert Image.open(io.BytesIO(data)).size == (1024, 1024) == (result.width, result.height)
    assert result.thumbnail  # made by the worker as the edit finishes: a card shows it at once
    sent = upstream.edit_requests[-1]
    assert [f["field"] for f in sent.files] == ["image[]", "image[]"]
    assert sent.fields["quality"] == ["low"]
    assert sent.fields["user"] == [f"retouch-user-{owner.pk}"]
    assert sent.headers["x-request-id"] == edit.request_id


def test_url_results_are_downloaded_and_kept_byte_for_byte(upstream, owner):
    edit = queued_edit(owner, params={"n": 2, "size": "1024x1024"})
    assert run_edit.call(edit.pk) == "succeeded"
    sent = upstream.edit_requests[-1]
    assert sent.fields["response_format"] == ["url"]
    edit.refresh_from_db()
    results = list(edit.results.all())
    assert len(results) == 2
    # The simulator still serves what it sent: our copies must be identical.
    served = [
        requests.get(f"{upstream.root_url}/_sim/files/{name}", timeout=5)
        for name in sorted(upstream.served_files())
    ]
    stored = []
    for result in results:
        with result.file.open("rb") as f:
            stored.append(f.read())
    assert sorted(stored) == sorted(r.content for r in served)


def test_dall_e_2_sends_a_single_image_field(upstream, owner):
    edit = queued_edit(owner, model="dall-e-2", params={"size": "256x256"})
    assert run_edit.call(edit.pk) == "succeeded"
    assert [f["field"] for f in upstream.edit_requests[-1].files] == ["image"]
    assert edit.results.get().width == 256


@pytest.mark.parametrize(
    ("fault", "code", "words"),
    [
        (
            {"kind": "http", "status": 400, "code": "bad_request", "message": "bad mask"},
            "bad_request",
            None,
        ),
        (
            {
                "kind": "openai_error",
                "status": 400,
                "type": "invalid_request_error",
                "code": "invalid_value",
                "param": "mask",
                "message": "Invalid mask",
            },
            "invalid_value",
            None,
        ),
        (
            {"kind": "http", "status": 403, "code": "forbidden", "message": "not allowed"},
            "forbidden",
            None,
        ),
        ({"kind": "http", "status": 429, "retry_after": 7}, "too_many_requests", "busy"),
        (
            {"kind": "http", "status": 429, "code": "insufficient_quota"},
            "insufficient_quota",
            "quota",
        ),
        ({"kind": "http", "status": 500}, "api_error", None),
        ({"kind": "bare", "status": 502, "body": "<html>Bad gateway</html>"}, None, None),
        ({"kind": "bare", "status": 504, "body": "<html>504 Gateway Time-out</html>"}, None, None),
        ({"kind": "malformed"}, "malformed_response", None),
        ({"kind": "disconnect"}, None, None),
    ],
)
def test_each_upstream_error_is_stored_as_a_failure_with_a_plain_message(
    upstream, owner, fault, code, words
):
    upstream.push_fault(**fault)
    edit = queued_edit(owner)
    assert run_edit.call(edit.pk) == "failed"
    edit.refresh_from_db()
    assert edit.status == Status.FAILED
    assert edit.finished_at is not None
    if code:
        assert edit.error_code == code
    else:
        assert edit.error_code
    assert edit.error_message
    assert "{" not in edit.error_message and "Traceback" not in edit.error_message
    # Retouch has stopped trying: the message must not promise another attempt.
    assert "will try again" not in edit.error_message
    if words:
        assert words in edit.error_message.lower()
    assert not edit.results.exists()


def test_gateway_errors_keep_their_trace_id(upstream, owner):
    upstream.push_fault("http", status=500)
    edit = queued_edit(owner)
    run_edit.call(edit.pk)
    edit.refresh_from_db()
    assert edit.trace_id


def test_a_wrong_api_key_fails_with_a_message_for_the_administrator(upstream, owner, settings):
    settings.OPENAI_API_KEY = "sk-wrong"
    edit = queued_edit(owner)
    run_edit.call(edit.pk)
    edit.refresh_from_db()
    assert edit.error_code == "invalid_token"
    assert "OPENAI_API_KEY" in edit.error_message


def test_a_read_timeout_fails_the_edit(upstream, owner, settings):
    settings.OPENAI_TIMEOUT = 1
    upstream.push_fault("hang", seconds=5)
    edit = queued_edit(owner)
    run_edit.call(edit.pk)
    edit.refresh_from_db()
    assert edit.status == Status.FAILED
    assert edit.error_code == "timeout"


def test_an_unreachable_service_fails_the_edit(owner, settings, db):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/openai"
    settings.OPENAI_API_KEY = "sk-test"
    edit = queued_edit(owner)
    run_edit.call(edit.pk)
    edit.refresh_from_db()
    assert edit.status == Status.FAILED
    assert edit.error_code == "connect_error"


def test_an_edit_is_run_only_once(upstream, owner):
    edit = queued_edit(owner)
    assert run_edit.call(edit.pk) == "succeeded"
    assert run_edit.call(edit.pk) == "not-queued"
    assert len(upstream.edit_requests) == 1


def test_retry_requeues_a_failed_edit_which_then_succeeds(
    upstream, owner, client, django_capture_on_commit_callbacks
):
    upstream.push_fault("http", status=500)
    edit = queued_edit(owner)
    run_edit.call(edit.pk)
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("edit_retry", args=[edit.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "data-pending" in response.content.decode()
    edit.refresh_from_db()
    assert edit.status == Status.QUEUED and edit.error_message == ""
    assert run_edit.call(edit.pk) == "succeeded"
    edit.refresh_from_db()
    assert edit.attempts == 2
    assert edit.results.count() == 1
