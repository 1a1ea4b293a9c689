"""Running the task queue inside a test, the way `manage.py worker` runs it.

Tasks go through django-tasks-db's own Worker (claim the row, run, record the result),
including the ones a retry scheduled a moment ahead; only the process is the test's.
"""

import time

from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from editor.edits.tasks import runner


def run_queue(
    *, max_tasks: int = 100, timeout: float = 15.0, until_empty: bool = True
) -> list[tuple[str, object]]:
    """Run every queued task, waiting for scheduled ones, until none is left (or, with
    `until_empty=False`, until `max_tasks` have run).

    Returns (task name, return value) in the order they ran. Raises if a task raised:
    a task that crashes is a bug, not an outcome. Bounded in count and time.
    """
    worker = runner("test-worker", ["*"])
    ran: list[tuple[str, object]] = []
    deadline = time.monotonic() + timeout
    while len(ran) < max_tasks and time.monotonic() < deadline:
        task = DBTaskResult.objects.ready().first()
        if task is None:
            later = DBTaskResult.objects.filter(status=TaskResultStatus.READY).exists()
            if not later:
                return ran
            time.sleep(0.01)
            continue
        task.claim(worker.worker_id)
        worker.run_task(task)
        task.refresh_from_db()
        if task.status == TaskResultStatus.FAILED:
            raise AssertionError(f"task {task.task_path} raised:\n{task.traceback}")
        ran.append((task.task_path.rsplit(".", 1)[-1], task.return_value))
    if not until_empty and len(ran) == max_tasks:
        return ran
    raise AssertionError(f"the queue did not drain ({len(ran)} tasks run): {ran[-5:]}")


def queued_tasks() -> list[str]:
    return list(
        DBTaskResult.objects.filter(status=TaskResultStatus.READY).values_list(
            "task_path", flat=True
        )
    )


def assert_settled(edits, *, results_each: int = 1) -> dict[str, int]:
    """0 lost, 0 duplicated, 0 stuck: every edit still exists and is final, and each
    succeeded one has exactly its results (with their files), each failed one none.

    Returns the final statuses counted, for the caller's own expectations.
    """
    from editor.edits.models import Edit

    statuses: dict[str, int] = {}
    for edit in edits:
        current = Edit.objects.filter(pk=edit.pk).first()
        assert current is not None, f"edit {edit.pk} was lost"
        assert current.is_final, f"edit {edit.pk} is stuck in {current.status}"
        results = list(current.results.all())
        if current.status == "succeeded":
            assert len(results) == results_each, f"edit {edit.pk} has {len(results)} results"
            for result in results:
                assert result.file.storage.exists(result.file.name)
        else:
            assert results == [], f"failed edit {edit.pk} has results"
        assert not current.lease_token and current.lease_expires_at is None
        statuses[current.status] = statuses.get(current.status, 0) + 1
    return statuses
