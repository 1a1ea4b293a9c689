"""The reconciler: lost callbacks finished through the Tasks API, crashed workers'
edits picked up again (without a second request when the gateway already has the
edit), deadlines, and queued edits whose task row was lost. Against the simulator
over real HTTP; crashes are the state a killed worker leaves behind (the real SIGKILL
is in test_crash_recovery.py)."""

import importlib
import os
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from editor.edits.models import Edit, ResultImage, Status
from editor.edits.reconcile import reconcile
from editor.edits.services import store_results, upstream_client
from editor.edits.tasks import build_request, reconcile_edits, run_edit

from .factories import make_edit, personal_team
from .queue import assert_settled, queued_tasks, run_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def callbacks(callbacks, settings):
    """Callback mode with no grace period: an unanswered callback is overdue at once."""
    settings.RETOUCH_CALLBACK_GRACE_SECONDS = 0
    return callbacks


def stored_files(folder: str) -> list[Path]:
    root = Path(default_storage.location) / folder
    return [path for path in root.rglob("*") if path.is_file()]


def tasks_requests(sim) -> list:
    return [r for r in sim.requests if r.path.endswith("/tasks")]


def submitted_edit(owner) -> Edit:
    edit = make_edit(personal_team(owner), owner)
    assert run_edit.call(edit.pk) == "submitted"
    edit.refresh_from_db()
    return edit


def wait_until_done_upstream(sim, count: int = 1) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sum(1 for t in sim.tasks if t.get("response")) >= count:
            return
        time.sleep(0.02)
    raise AssertionError("the simulator never finished the task")


def test_a_lost_callback_is_finished_through_the_tasks_api(callbacks, owner):
    for _ in range(3):
        callbacks.push_fault("callback", mode="lost")
    edits = [submitted_edit(owner) for _ in range(3)]
    wait_until_done_upstream(callbacks, 3)
    assert callbacks.callbacks == []  # the gateway never called back
    counts = reconcile()
    assert counts["polled_succeeded"] == 3
    assert assert_settled(edits) == {"succeeded": 3}
    assert len(callbacks.edit_requests) == 3
    # One page of the Tasks API for all three.
    assert len(tasks_requests(callbacks)) == 1
    assert tasks_requests(callbacks)[0].fields["action"] == ["retrieve_batch"]


def test_a_callback_is_not_overdue_before_the_grace_period(callbacks, owner, settings):
    settings.RETOUCH_CALLBACK_GRACE_SECONDS = 3600
    edit = submitted_edit(owner)
    wait_until_done_upstream(callbacks)
    assert reconcile() == {}
    assert tasks_requests(callbacks) == []
    assert Edit.objects.get(pk=edit.pk).status == Status.RUNNING


def test_an_edit_still_running_upstream_is_left_waiting(callbacks, owner):
    callbacks.set_latency(30)
    edit = submitted_edit(owner)
    counts = reconcile()
    assert counts["still_running"] == 1
    edit.refresh_from_db()
    assert edit.status == Status.RUNNING and edit.lease_token == ""


def test_when_the_tasks_api_is_unreachable_the_edit_keeps_waiting(callbacks, owner, settings):
    edit = submitted_edit(owner)
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/openai"
    assert reconcile()["poll_errors"] == 1
    assert Edit.objects.get(pk=edit.pk).status == Status.RUNNING
    settings.OPENAI_BASE_URL = callbacks.base_url
    wait_until_done_upstream(callbacks)
    assert reconcile()["polled_succeeded"] == 1
    assert assert_settled([edit]) == {"succeeded": 1}


def test_a_task_that_failed_upstream_is_retried_from_the_tasks_api(callbacks, owner):
    callbacks.push_fault("callback", mode="fail", code="api_error")
    edit = submitted_edit(owner)
    wait_until_done_upstream(callbacks)
    assert reconcile()["polled_retrying"] == 1
    assert run_queue() == [("run_edit", "submitted")]
    wait_until_done_upstream(callbacks, 2)
    assert reconcile()["polled_succeeded"] == 1
    assert len(callbacks.edit_requests) == 2
    assert assert_settled([edit]) == {"succeeded": 1}


def expire_lease(edit: Edit, token: str = "dead-worker") -> None:  # noqa: S107
    Edit.objects.filter(pk=edit.pk).update(
        lease_token=token, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_crashed_sync_attempt_is_sent_again(upstream, owner):
    edit = make_edit(personal_team(owner), owner)
    assert edit.claim("sync", 60)  # the worker that then died mid-request
    expire_lease(edit, edit.lease_token)
    assert reconcile()["recovered_retrying"] == 1
    edit.refresh_from_db()
    assert edit.status == Status.QUEUED and edit.error_code == "worker_lost"
    assert run_queue() == [("run_edit", "succeeded")]
    assert assert_settled([edit]) == {"succeeded": 1}
    edit.refresh_from_db()
    assert edit.attempts == 2
    assert len(upstream.edit_requests) == 1


def test_a_crash_after_the_gateway_accepted_the_edit_does_not_send_it_again(callbacks, owner):
    callbacks.push_fault("callback", mode="lost")
    edit = submitted_edit(owner)
    # A worker took the edit to store its result and died half-way.
    expire_lease(edit)
    wait_until_done_upstream(callbacks)
    counts = reconcile()
    assert counts["recovered_to_poll"] == 1 and counts["polled_succeeded"] == 1
    assert len(callbacks.edit_requests) == 1
    assert assert_settled([edit]) == {"succeeded": 1}
    edit.refresh_from_db()
    assert edit.attempts == 1


def test_the_task_row_of_a_killed_worker_ends_failed(upstream, owner):
    edit = make_edit(personal_team(owner), owner)
    row = DBTaskResult.objects.get(pk=run_edit.enqueue(edit.pk).id)
    row.claim("killed-worker")  # the worker took the task row...
    assert edit.claim("sync", 60)  # ...and the edit, then died mid-request
    expire_lease(edit, edit.lease_token)
    DBTaskResult.objects.filter(pk=row.pk).update(started_at=timezone.now() - timedelta(minutes=5))
    reconcile()
    row.refresh_from_db()
    assert row.status == TaskResultStatus.FAILED
    assert row.finished_at is not None and "stopped" in row.traceback
    assert run_queue() == [("run_edit", "succeeded")]
    assert assert_settled([edit]) == {"succeeded": 1}


def test_the_task_row_of_a_worker_killed_before_it_claimed_the_edit_ends_failed(upstream, owner):
    edit = make_edit(personal_team(owner), owner)
    row = DBTaskResult.objects.get(pk=run_edit.enqueue(edit.pk).id)
    row.claim("killed-worker")  # died before claiming the edit: it is still queued
    long_ago = timezone.now() - timedelta(hours=1)
    DBTaskResult.objects.filter(pk=row.pk).update(started_at=long_ago)
    Edit.objects.filter(pk=edit.pk).update(updated_at=long_ago)
    assert reconcile()["requeued"] == 1
    row.refresh_from_db()
    assert row.status == TaskResultStatus.FAILED
    assert run_queue() == [("run_edit", "succeeded")]
    assert assert_settled([edit]) == {"succeeded": 1}


def test_the_task_row_of_a_live_worker_is_left_running(upstream, owner):
    edit = make_edit(personal_team(owner), owner)
    row = DBTaskResult.objects.get(pk=run_edit.enqueue(edit.pk).id)
    row.claim("live-worker")
    assert edit.claim("sync", 60)  # its lease is renewed while the request waits
    DBTaskResult.objects.filter(pk=row.pk).update(started_at=timezone.now() - timedelta(minutes=5))
    assert reconcile() == {}
    row.refresh_from_db()
    assert row.status == TaskResultStatus.RUNNING


def test_a_live_lease_is_left_alone(upstream, owner):
    edit = make_edit(personal_team(owner), owner)
    assert edit.claim("sync", 60)
    assert reconcile() == {}
    assert Edit.objects.get(pk=edit.pk).lease_token == edit.lease_token


def test_a_crash_on_the_last_attempt_fails_the_edit_in_plain_words(upstream, owner, settings):
    settings.RETOUCH_MAX_ATTEMPTS = 1
    edit = make_edit(personal_team(owner), owner)
    assert edit.claim("sync", 60)
    expire_lease(edit, edit.lease_token)
    assert reconcile()["recovered_failed"] == 1
    assert assert_settled([edit]) == {"failed": 1}
    edit.refresh_from_db()
    assert edit.error_code == "worker_lost"
    assert "worker" in edit.error_message and "will try again" not in edit.error_message


def test_an_edit_past_the_deadline_fails_and_a_late_answer_is_dropped(upstream, owner, settings):
    settings.RETOUCH_EDIT_DEADLINE_SECONDS = 600
    edit = make_edit(personal_team(owner), owner)
    assert edit.claim("sync", 60)
    with upstream_client() as client, ExitStack() as stack:
        result = client.edit(build_request(edit, stack))
    assert reconcile(now=timezone.now() + timedelta(minutes=11))["deadline_failed"] == 1
    failed = Edit.objects.get(pk=edit.pk)
    assert failed.status == Status.FAILED and failed.error_code == "deadline_exceeded"
    assert "did not finish within 10 minutes" in failed.error_message
    assert "Retry" in failed.error_message
    # The worker still holding the answer can no longer store it, and leaves no files.
    assert store_results(edit, result) is False
    assert not ResultImage.objects.exists()
    assert (
        default_storage.listdir("results")[1] == [] if default_storage.exists("results") else True
    )
    assert assert_settled([edit]) == {"failed": 1}


def test_a_queued_edit_without_a_task_is_queued_again_once(upstream, owner):
    edit = make_edit(personal_team(owner), owner)  # its task row was lost
    Edit.objects.filter(pk=edit.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert reconcile()["requeued"] == 1
    assert reconcile().get("requeued") is None  # the task is in the queue now
    assert queued_tasks() == [run_edit.module_path]
    assert run_queue() == [("run_edit", "succeeded")]
    assert assert_settled([edit]) == {"succeeded": 1}


def test_a_fresh_queued_edit_is_not_touched(upstream, owner):
    make_edit(personal_team(owner), owner)
    assert reconcile() == {}
    assert queued_tasks() == []


def test_abandoned_callback_bodies_are_swept(settings):
    old = default_storage.save("callbacks/1-old.json", ContentFile(b"{}"))
    new = default_storage.save("callbacks/2-new.json", ContentFile(b"{}"))
    hours_ago = time.time() - 3 * 3600
    os.utime(default_storage.path(old), (hours_ago, hours_ago))
    assert reconcile()["spools_removed"] == 1
    assert not default_storage.exists(old) and default_storage.exists(new)


def test_the_reconciler_is_also_a_task(callbacks, owner):
    callbacks.push_fault("callback", mode="lost")
    edit = submitted_edit(owner)
    wait_until_done_upstream(callbacks)
    assert reconcile_edits.call() == {"polled_succeeded": 1}
    assert assert_settled([edit]) == {"succeeded": 1}


def test_edits_an_older_worker_left_running_are_recovered_after_the_upgrade(upstream, owner):
    from django.apps import apps

    migration = importlib.import_module("editor.edits.migrations.0002_delivery_and_retries")
    edit = make_edit(personal_team(owner), owner, status=Status.RUNNING)
    assert edit.lease_expires_at is None  # the old worker knew no leases
    migration.expire_running_edits(apps, None)
    assert reconcile()["recovered_retrying"] == 1
    assert run_queue() == [("run_edit", "succeeded")]
    assert assert_settled([edit]) == {"succeeded": 1}
