"""Fault injection, synchronous delivery: every failure the contract lists, injected in
the simulator and met over real HTTP by the real worker task, run through the
django-tasks-db queue (tests/queue.py) with millisecond backoff.

For each: the final status, how many edit requests reached the simulator, and that
no edit was lost, duplicated or left pending."""

from datetime import timedelta
from random import Random

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from editor.edits import delivery
from editor.edits.models import Edit, Status
from editor.edits.tasks import run_edit

from .factories import make_edit, personal_team
from .queue import assert_settled, run_queue

pytestmark = pytest.mark.django_db


def start_edit(owner, **kwargs) -> Edit:
    edit = make_edit(personal_team(owner), owner, **kwargs)
    run_edit.enqueue(edit.pk)
    return edit


def closed_port_url() -> str:
    # Port 9 (discard) is closed on test machines: the connection is refused at once.
    return "http://127.0.0.1:9/openai"


@pytest.mark.parametrize(
    ("fault", "first_code"),
    [
        ({"kind": "http", "status": 500}, "api_error"),
        ({"kind": "bare", "status": 502, "body": "<html>Bad gateway</html>"}, "bad_gateway"),
        ({"kind": "bare", "status": 503, "body": "<html>down</html>"}, "service_unavailable"),
        ({"kind": "bare", "status": 504, "body": "<html>504</html>"}, "gateway_timeout"),
        ({"kind": "malformed"}, "malformed_response"),
        ({"kind": "disconnect"}, "connection_lost"),
    ],
)
def test_a_transient_failure_is_retried_and_the_edit_succeeds(upstream, owner, fault, first_code):
    upstream.push_fault(**fault)
    edit = start_edit(owner)
    first = run_queue(max_tasks=1, until_empty=False)
    assert first == [("run_edit", "retrying")]
    edit.refresh_from_db()
    assert edit.status == Status.QUEUED and edit.error_code == first_code
    assert run_queue() == [("run_edit", "succeeded")]
    assert len(upstream.edit_requests) == 2
    assert assert_settled([edit]) == {"succeeded": 1}
    edit.refresh_from_db()
    assert edit.attempts == 2 and edit.retries == 1
    # Success clears the last error.
    assert edit.error_code == "" and edit.error_message == ""


def test_a_read_timeout_is_retried(upstream, owner, settings):
    settings.OPENAI_TIMEOUT = 1
    upstream.push_fault("hang", seconds=3)
    edit = start_edit(owner)
    ran = run_queue()
    assert [outcome for _, outcome in ran] == ["retrying", "succeeded"]
    assert len(upstream.edit_requests) == 2
    assert assert_settled([edit]) == {"succeeded": 1}


def test_a_refused_connection_is_retried_once_the_service_is_back(upstream, owner, settings):
    settings.OPENAI_BASE_URL = closed_port_url()
    edit = start_edit(owner)
    first = run_queue(max_tasks=1, timeout=5, until_empty=False)
    assert first == [("run_edit", "retrying")]
    edit.refresh_from_db()
    assert edit.status == Status.QUEUED and edit.error_code == "connect_error"
    settings.OPENAI_BASE_URL = upstream.base_url
    assert run_queue() == [("run_edit", "succeeded")]
    assert len(upstream.edit_requests) == 1
    assert assert_settled([edit]) == {"succeeded": 1}


def test_429_waits_at_least_retry_after(upstream, owner):
    upstream.push_fault("http", status=429, retry_after=1)
    edit = start_edit(owner)
    ran = run_queue()
    assert [outcome for _, outcome in ran] == ["retrying", "succeeded"]
    retry = DBTaskResult.objects.filter(task_path=run_edit.module_path).order_by("enqueued_at")[1]
    # Our backoff here is milliseconds: the wait can only come from Retry-After.
    assert retry.run_after - retry.enqueued_at >= timedelta(seconds=0.95)
    assert retry.started_at >= retry.run_after
    assert len(upstream.edit_requests) == 2
    assert assert_settled([edit]) == {"succeeded": 1}


def test_retries_stop_at_the_limit_with_a_plain_final_message(upstream, owner, settings):
    settings.RETOUCH_MAX_ATTEMPTS = 3
    for _ in range(3):
        upstream.push_fault("http", status=500)
    edit = start_edit(owner)
    ran = run_queue()
    assert [outcome for _, outcome in ran] == ["retrying", "retrying", "failed"]
    assert len(upstream.edit_requests) == 3
    assert assert_settled([edit]) == {"failed": 1}
    edit.refresh_from_db()
    assert edit.attempts == 3
    assert edit.error_code == "api_error" and edit.trace_id
    assert "tried 3 times" in edit.error_message
    assert "will try again" not in edit.error_message
    assert upstream.faults == []


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"kind": "http", "status": 400, "code": "bad_request", "message": "bad"}, "bad_request"),
        ({"kind": "http", "status": 401, "code": "invalid_token"}, "invalid_token"),
        ({"kind": "http", "status": 429, "code": "insufficient_quota"}, "insufficient_quota"),
        (
            {"kind": "openai_error", "status": 400, "param": "mask", "code": "invalid_value"},
            "invalid_value",
        ),
    ],
)
def test_client_errors_are_never_retried(upstream, owner, fault, code):
    upstream.push_fault(**fault)
    edit = start_edit(owner)
    assert run_queue() == [("run_edit", "failed")]
    assert len(upstream.edit_requests) == 1
    assert assert_settled([edit]) == {"failed": 1}
    edit.refresh_from_db()
    assert edit.error_code == code and edit.attempts == 1


def test_a_wrong_api_key_is_not_retried(upstream, owner, settings):
    settings.OPENAI_API_KEY = "sk-wrong"
    edit = start_edit(owner)
    assert run_queue() == [("run_edit", "failed")]
    assert len(upstream.edit_requests) == 1
    edit.refresh_from_db()
    assert edit.error_code == "invalid_token"


def test_while_waiting_to_retry_the_edit_is_queued_and_the_pages_say_so(
    upstream, owner, settings, client
):
    settings.RETOUCH_RETRY_BASE_SECONDS = 600
    settings.RETOUCH_RETRY_MAX_SECONDS = 600
    upstream.push_fault("http", status=503, code="service_unavailable")
    edit = make_edit(personal_team(owner), owner)
    assert run_edit.call(edit.pk) == "retrying"
    edit.refresh_from_db()
    assert edit.status == Status.QUEUED and edit.is_retrying and edit.is_pending
    assert edit.next_attempt_at > timezone.now() + timedelta(seconds=250)
    assert edit.error_code == "service_unavailable" and edit.attempts == 1
    scheduled = DBTaskResult.objects.get(status="READY", task_path=run_edit.module_path)
    assert scheduled.run_after == edit.next_attempt_at

    client.force_login(owner)
    page = client.get(reverse("edit_detail", args=[edit.pk])).content.decode()
    assert "Attempt 1 did not work" in page
    assert "Retouch will try again shortly" in page
    assert f"Next attempt (2 of {settings.RETOUCH_MAX_ATTEMPTS})" in page
    gallery = client.get(reverse("home")).content.decode()
    assert "Will try again shortly" in gallery

    # A stray copy of the task cannot jump the backoff: the edit is not due yet.
    assert run_edit.call(edit.pk) == "not-queued"
    assert len(upstream.edit_requests) == 1


def test_an_edit_claimed_by_one_worker_is_not_sent_by_another(upstream, owner):
    edit = make_edit(personal_team(owner), owner)
    assert edit.claim("sync", 60)
    assert run_edit.call(edit.pk) == "not-queued"
    assert upstream.edit_requests == []
    # ...and the first worker's claim is the only one that can finish it.
    assert not Edit.objects.get(pk=edit.pk).claim("sync", 60)


def test_a_person_retrying_a_failed_edit_gets_a_fresh_round_of_attempts(upstream, owner, settings):
    settings.RETOUCH_MAX_ATTEMPTS = 2
    for _ in range(2):
        upstream.push_fault("http", status=500)
    edit = start_edit(owner)
    assert [o for _, o in run_queue()] == ["retrying", "failed"]
    edit.refresh_from_db()
    assert edit.requeue()
    run_edit.enqueue(edit.pk)
    upstream.push_fault("http", status=500)
    assert [o for _, o in run_queue()] == ["retrying", "succeeded"]
    edit.refresh_from_db()
    assert edit.attempts == 4 and edit.status == Status.SUCCEEDED
    assert len(upstream.edit_requests) == 4


def test_backoff_doubles_with_jitter_up_to_the_cap_and_honours_retry_after(settings, monkeypatch):
    settings.RETOUCH_RETRY_BASE_SECONDS = 2
    settings.RETOUCH_RETRY_MAX_SECONDS = 20
    rng = Random(5)
    monkeypatch.setattr(delivery.random, "uniform", rng.uniform)
    for retry_number, step in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 20), (9, 20)]:
        delays = [delivery.retry_delay(retry_number) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 1  # jittered, not all at once
    assert delivery.retry_delay(1, retry_after=45) == 45
    assert 1 <= delivery.retry_delay(1, retry_after=0.5) <= 2


def test_many_edits_with_mixed_faults_all_settle(upstream, owner):
    upstream.push_faults(
        [
            {"kind": "http", "status": 429, "retry_after": 0},
            {"kind": "http", "status": 500},
            {"kind": "disconnect"},
            {"kind": "http", "status": 400},
            {"kind": "malformed"},
        ]
    )
    edits = [start_edit(owner, prompt=f"edit {i}") for i in range(8)]
    run_queue(max_tasks=40)
    statuses = assert_settled(edits)
    # Exactly one edit met the 400; every other fault was retried away.
    assert statuses == {"succeeded": 7, "failed": 1}
    assert len(upstream.edit_requests) == 8 + 4
    assert sum(Edit.objects.get(pk=e.pk).attempts for e in edits) == 12
