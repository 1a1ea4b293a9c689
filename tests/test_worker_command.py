"""`manage.py worker`'s dispatcher: it claims ready tasks for its idle threads, as many
as there are, in one transaction. (The whole command runs as a real process in
test_crash_recovery.py and the browser tests.)"""

from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from editor.edits.management.commands.worker import Dispatcher
from editor.edits.tasks import run_edit

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def dispatcher(threads: int = 3) -> Dispatcher:
    return Dispatcher(threads=threads, interval=0.1, queue_names=["default"], worker_id="w-1")


def test_it_claims_at_most_as_many_ready_tasks_as_asked_oldest_first():
    queued = [run_edit.enqueue(edit_id) for edit_id in range(1, 6)]
    claimed = dispatcher()._claim(3)
    assert [str(t.id) for t in claimed] == [r.id for r in queued[:3]]
    rows = DBTaskResult.objects.order_by("enqueued_at")
    assert [r.status for r in rows] == [TaskResultStatus.RUNNING] * 3 + [TaskResultStatus.READY] * 2
    assert all(r.worker_ids == ["w-1"] for r in rows[:3])


def test_an_empty_queue_or_a_task_not_due_yet_gives_nothing():
    assert dispatcher()._claim(3) == []
    run_edit.using(run_after=timezone.now() + timedelta(minutes=5)).enqueue(1)
    assert dispatcher()._claim(3) == []
    assert DBTaskResult.objects.get().status == TaskResultStatus.READY
