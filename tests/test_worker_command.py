"""`manage.py worker`'s dispatcher: it claims ready tasks for its idle threads, as many
as there are, in one transaction. (The whole command runs as a real process in
test_crash_recovery.py and the browser tests.)"""

import sqlite3
from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from editor.edits.management.commands.worker import FULL_LOOK_SECONDS, Dispatcher, QueueWatch
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


# -- QueueWatch: on a SQLite file, the queue is read only when it may have changed ---------


def test_a_look_reads_the_queue_when_another_connection_committed_or_a_second_passed():
    watch = QueueWatch("default")
    assert watch.changed((1, 7), now=100.0)  # the first look always reads
    assert not watch.changed((1, 7), now=100.1)  # nobody committed since
    assert not watch.changed((1, 7), now=100.9)
    assert watch.changed((1, 8), now=101.0)  # somebody did (data_version moved on)
    assert not watch.changed((1, 8), now=101.5)
    assert watch.changed((1, 8), now=102.0 + FULL_LOOK_SECONDS)  # a retry may be due now
    assert watch.changed((2, 8), now=102.1 + FULL_LOOK_SECONDS)  # a new connection


def test_a_look_after_a_full_claim_or_a_failed_one_reads_the_queue_again():
    watch = QueueWatch("default")
    assert watch.changed((1, 7), now=100.0)
    watch.look_again()  # as after a claim that filled every idle thread
    assert watch.changed((1, 7), now=100.1)


def test_without_a_data_version_every_look_reads_the_queue():
    # PostgreSQL, or SQLite in memory (the test database): no cheap way to know.
    watch = QueueWatch("default")
    assert watch._data_version() is None
    assert all(watch.changed(None, now=100.0 + n / 10) for n in range(5))


def test_on_a_sqlite_file_the_watch_sees_other_connections_commits_not_its_own(tmp_path):
    """Two connections to one SQLite file: the dispatcher's PRAGMA data_version moves on
    only when the other one commits, which is what QueueWatch relies on."""
    path = tmp_path / "queue.sqlite3"
    dispatcher_side, web_side = sqlite3.connect(path), sqlite3.connect(path)
    web_side.execute("CREATE TABLE task (id INTEGER PRIMARY KEY)")
    web_side.commit()

    def version() -> tuple[int, int]:
        return 1, dispatcher_side.execute("PRAGMA data_version").fetchone()[0]

    watch = QueueWatch("default")
    assert watch.changed(version(), now=100.0)
    dispatcher_side.execute("INSERT INTO task DEFAULT VALUES")  # its own heartbeat, say
    dispatcher_side.commit()
    assert not watch.changed(version(), now=100.1)
    web_side.execute("INSERT INTO task DEFAULT VALUES")  # a new edit's task
    web_side.commit()
    assert watch.changed(version(), now=100.2)
    dispatcher_side.close()
    web_side.close()
