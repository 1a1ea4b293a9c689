"""Callback delivery: the worker hands the edit to the simulator with a callback URL
and is free at once; the callback finishes it through the webhook.

PUBLIC_URL points at a port nobody listens on, so the simulator records each
callback it tried to deliver (URL and body) and the test delivers exactly that body
to the webhook through Django's test client. The callback leg over real HTTP, through
gunicorn, is in test_crash_recovery.py."""

import io
import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from editor.edits.models import Delivery, Edit, Status
from editor.edits.reconcile import reconcile
from editor.edits.tasks import run_edit

from .factories import make_edit, personal_team
from .queue import assert_settled, queued_tasks, run_queue

pytestmark = pytest.mark.django_db


def submitted_edit(owner, **kwargs) -> Edit:
    edit = make_edit(personal_team(owner), owner, **kwargs)
    assert run_edit.call(edit.pk) == "submitted"
    edit.refresh_from_db()
    return edit


def deliver(client, sim, index: int = 0, payload=None):
    """Post what the simulator sent (or tried to send) as callback number `index`."""
    assert sim.wait_for_callbacks(index + 1, timeout=10)
    callback = sim.callbacks[index]
    body = json.dumps(payload if payload is not None else callback["payload"])
    return client.post(urlsplit(callback["url"]).path, body, content_type="application/json")


def hook_path(edit: Edit, token: str | None = None) -> str:
    return reverse("edit_callback", args=[edit.pk, token or edit.callback_token])


def test_the_worker_submits_with_a_secret_callback_url_and_is_free_at_once(callbacks, owner):
    edit = submitted_edit(owner)
    assert edit.status == Status.RUNNING and edit.delivery == Delivery.CALLBACK
    assert edit.task_id and edit.submitted_at
    assert edit.lease_token == "" and edit.lease_expires_at is None  # nobody is busy on it
    sent = callbacks.edit_requests[-1].fields["callback_url"]
    assert sent == [f"http://127.0.0.1:9/hooks/edits/{edit.pk}/{edit.callback_token}/"]
    assert len(edit.callback_token) >= 40


def test_the_callback_finishes_the_edit(callbacks, owner, client):
    edit = submitted_edit(owner)
    response = deliver(client, callbacks)
    assert response.status_code == 202
    assert run_queue() == [("finish_callback", "succeeded")]
    assert assert_settled([edit]) == {"succeeded": 1}
    edit.refresh_from_db()
    assert edit.trace_id and edit.upstream_created and edit.usage
    assert len(callbacks.edit_requests) == 1
    # The body was only kept until the worker read it.
    assert default_storage.listdir("callbacks")[1] == []


def test_duplicate_callbacks_store_the_result_once(callbacks, owner, client):
    callbacks.push_fault("callback", mode="duplicate")
    edit = submitted_edit(owner)
    assert deliver(client, callbacks, 0).status_code == 202
    assert deliver(client, callbacks, 1).status_code == 202
    outcomes = sorted(outcome for _, outcome in run_queue())
    assert outcomes == ["ignored", "succeeded"]
    assert assert_settled([edit]) == {"succeeded": 1}
    # Once final, another copy is acknowledged and changes nothing.
    again = deliver(client, callbacks, 1)
    assert again.status_code == 200 and again.json() == {"status": "already-final"}
    assert queued_tasks() == []
    assert len(callbacks.edit_requests) == 1


def test_a_callback_with_a_wrong_token_is_404_and_changes_nothing(callbacks, owner, client):
    edit = submitted_edit(owner)
    assert callbacks.wait_for_callbacks(1)
    payload = json.dumps(callbacks.callbacks[0]["payload"])
    # The real token with its last character changed (to one it surely is not).
    off_by_one = edit.callback_token[:-1] + ("B" if edit.callback_token.endswith("A") else "A")
    for token in ["x" * 43, off_by_one, ""]:
        path = f"/hooks/edits/{edit.pk}/{token}/" if token else f"/hooks/edits/{edit.pk}//"
        response = client.post(path, payload, content_type="application/json")
        assert response.status_code == 404
    assert queued_tasks() == []
    assert Edit.objects.get(pk=edit.pk).status == Status.RUNNING


def test_a_forged_callback_for_another_task_is_refused_and_the_real_one_wins(
    callbacks, owner, client
):
    edit = submitted_edit(owner)
    assert callbacks.wait_for_callbacks(1)
    real = callbacks.callbacks[0]["payload"]
    forged = {**real, "task_id": "00000000-forged", "data": {**real["data"]}}
    response = client.post(hook_path(edit), json.dumps(forged), content_type="application/json")
    assert response.status_code == 409 and response.json() == {"status": "wrong-task"}
    assert queued_tasks() == []
    edit.refresh_from_db()
    assert edit.status == Status.RUNNING and not edit.results.exists()
    assert deliver(client, callbacks).status_code == 202
    assert run_queue() == [("finish_callback", "succeeded")]
    assert assert_settled([edit]) == {"succeeded": 1}


def test_a_callback_for_an_unknown_edit_or_task_changes_nothing(callbacks, owner, client):
    edit = submitted_edit(owner)
    assert callbacks.wait_for_callbacks(1)
    payload = json.dumps(callbacks.callbacks[0]["payload"])
    unknown = client.post(
        f"/hooks/edits/{edit.pk + 1000}/{edit.callback_token}/",
        payload,
        content_type="application/json",
    )
    assert unknown.status_code == 404
    # A sync-mode edit is not waiting for any callback.
    other = make_edit(personal_team(owner), owner)
    refused = client.post(hook_path(other), payload, content_type="application/json")
    assert refused.status_code == 409
    assert queued_tasks() == []
    assert Edit.objects.get(pk=other.pk).status == Status.QUEUED


def test_a_late_callback_after_the_edit_failed_changes_nothing(callbacks, owner, client):
    callbacks.push_fault("callback", mode="late", delay=0.2)
    edit = submitted_edit(owner)
    # The deadline passes before the callback comes (the clock is moved, not waited for).
    counts = reconcile(now=timezone.now() + timedelta(hours=1))
    assert counts["deadline_failed"] == 1
    response = deliver(client, callbacks)
    assert response.status_code == 200 and response.json() == {"status": "already-final"}
    assert queued_tasks() == []
    assert assert_settled([edit]) == {"failed": 1}
    edit.refresh_from_db()
    assert edit.error_code == "deadline_exceeded"
    assert "did not finish within 30 minutes" in edit.error_message


def test_a_failure_callback_worth_retrying_sends_the_edit_again(callbacks, owner, client):
    callbacks.push_fault("callback", mode="fail", code="api_error", message="upstream broke")
    edit = submitted_edit(owner)
    assert deliver(client, callbacks, 0).status_code == 202
    # The failure schedules a retry; the retry submits again and is free at once.
    assert [o for _, o in run_queue()] == ["retrying", "submitted"]
    assert deliver(client, callbacks, 1).status_code == 202
    assert run_queue() == [("finish_callback", "succeeded")]
    assert len(callbacks.edit_requests) == 2
    assert assert_settled([edit]) == {"succeeded": 1}
    edit.refresh_from_db()
    assert edit.attempts == 2


def test_a_refusal_in_the_callback_fails_the_edit_without_a_retry(callbacks, owner, client):
    callbacks.push_fault(
        "callback", mode="fail", code="moderation_blocked", message="refused by safety system"
    )
    edit = submitted_edit(owner)
    assert deliver(client, callbacks).status_code == 202
    assert run_queue() == [("finish_callback", "failed")]
    assert len(callbacks.edit_requests) == 1
    assert assert_settled([edit]) == {"failed": 1}
    edit.refresh_from_db()
    assert edit.error_code == "moderation_blocked" and "safety" in edit.error_message
    assert edit.trace_id


def test_an_oversized_callback_is_413_and_nothing_is_stored(callbacks, owner, client, settings):
    settings.RETOUCH_CALLBACK_MAX_MB = 1
    edit = submitted_edit(owner)
    body = json.dumps({"task_id": edit.task_id, "pad": "x" * (1024 * 1024)})
    response = client.post(hook_path(edit), body, content_type="application/json")
    assert response.status_code == 413
    assert queued_tasks() == []
    assert Edit.objects.get(pk=edit.pk).status == Status.RUNNING


def test_a_large_callback_within_the_limit_is_streamed_and_accepted(callbacks, owner, client):
    # Bigger than Django's in-memory request limit: the webhook must not read it whole.
    edit = submitted_edit(owner)
    assert callbacks.wait_for_callbacks(1)
    payload = {**callbacks.callbacks[0]["payload"], "padding": "x" * (6 * 1024 * 1024)}
    response = deliver(client, callbacks, payload=payload)
    assert response.status_code == 202
    assert run_queue() == [("finish_callback", "succeeded")]
    assert assert_settled([edit]) == {"succeeded": 1}


def test_a_body_without_a_task_id_is_refused(callbacks, owner, client):
    edit = submitted_edit(owner)
    response = client.post(hook_path(edit), b"not json at all", content_type="application/json")
    assert response.status_code == 400
    assert queued_tasks() == []


def test_the_webhook_needs_no_csrf_token_and_only_takes_post(callbacks, owner):
    edit = submitted_edit(owner)
    strict = Client(enforce_csrf_checks=True)
    assert strict.get(hook_path(edit)).status_code == 405
    assert callbacks.wait_for_callbacks(1)
    body = json.dumps(callbacks.callbacks[0]["payload"])
    assert strict.post(hook_path(edit), body, content_type="application/json").status_code == 202


def test_a_callback_that_overtakes_the_submission_waits_for_the_task_id(callbacks, owner, client):
    edit = submitted_edit(owner)
    task_id = edit.task_id
    # As if the worker had not yet recorded the gateway's answer: still holding its lease.
    Edit.objects.filter(pk=edit.pk).update(
        task_id="", lease_token="w1", lease_expires_at=timezone.now() + timedelta(seconds=60)
    )
    assert deliver(client, callbacks).status_code == 202
    assert run_queue(max_tasks=1, until_empty=False) == [("finish_callback", "early")]
    Edit.objects.filter(pk=edit.pk).update(task_id=task_id, lease_token="", lease_expires_at=None)
    assert run_queue() == [("finish_callback", "succeeded")]
    assert assert_settled([edit]) == {"succeeded": 1}


def test_an_unreadable_callback_is_left_to_the_tasks_api_not_sent_again(
    callbacks, owner, client, settings
):
    settings.RETOUCH_CALLBACK_GRACE_SECONDS = 0
    edit = submitted_edit(owner)
    broken = {"success": True, "task_id": edit.task_id, "data": {"data": [{"b64_json": "%%"}]}}
    response = client.post(hook_path(edit), json.dumps(broken), content_type="application/json")
    assert response.status_code == 202
    assert run_queue() == [("finish_callback", "unusable")]
    edit.refresh_from_db()
    assert edit.status == Status.RUNNING and edit.lease_token == ""
    assert callbacks.wait_for_callbacks(1)
    assert reconcile()["polled_succeeded"] == 1
    assert len(callbacks.edit_requests) == 1
    assert assert_settled([edit]) == {"succeeded": 1}


def test_spooled_bodies_are_removed_after_use(callbacks, owner, client):
    submitted_edit(owner)
    deliver(client, callbacks)
    task = DBTaskResult.objects.get(status="READY")
    name = task.args_kwargs["args"][1]
    assert name.startswith("callbacks/") and default_storage.exists(name)
    run_queue()
    assert not default_storage.exists(name)


def test_a_body_without_content_length_is_read_when_the_server_ends_the_input(
    callbacks, owner, client
):
    # As gunicorn hands over a chunked body: decoded, no Content-Length, and
    # wsgi.input_terminated set. Over real HTTP in test_callback_streaming.py.
    edit = submitted_edit(owner)
    assert callbacks.wait_for_callbacks(1)
    body = json.dumps(callbacks.callbacks[0]["payload"]).encode()
    chunked = {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"}
    response = client.post(
        hook_path(edit),
        b"",
        content_type="application/json",
        **chunked,
        **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
    )
    assert response.status_code == 202
    assert run_queue() == [("finish_callback", "succeeded")]
    assert assert_settled([edit]) == {"succeeded": 1}


def test_a_body_without_content_length_over_the_limit_is_413(callbacks, owner, client, settings):
    settings.RETOUCH_CALLBACK_MAX_MB = 1
    edit = submitted_edit(owner)
    body = json.dumps({"task_id": edit.task_id, "pad": "x" * (1024 * 1024)}).encode()
    response = client.post(
        hook_path(edit),
        b"",
        content_type="application/json",
        CONTENT_LENGTH="",
        **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert queued_tasks() == []
    assert not default_storage.exists("callbacks") or default_storage.listdir("callbacks")[1] == []
