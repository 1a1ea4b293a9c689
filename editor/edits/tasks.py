"""Background work: the tasks `manage.py worker` runs, and how it runs them.

The top of the worker's code: the tasks are thin and call `delivery.py` (sending,
retries, callbacks) and `reconcile.py` (overdue callbacks, crashed workers, deadlines).
Nothing imports this module to queue work: everyone, these modules included, queues
through `queueing.py`, which names the tasks by path (see there).
"""

from django.tasks import task
from django_tasks_db.management.commands.db_worker import Worker

from . import delivery, reconcile
from .delivery import build_request

__all__ = ["build_request", "finish_callback", "reconcile_edits", "run_edit", "runner"]


@task()
def run_edit(edit_id: int) -> str:
    """One attempt at an edit: send it upstream (sync or callback mode, by setting)."""
    return delivery.run_attempt(edit_id)


@task()
def finish_callback(edit_id: int, spool_name: str, tries: int = 0) -> str:
    """Finish an edit from a callback body the webhook stored."""
    return delivery.finish_from_callback(edit_id, spool_name, tries)


@task()
def reconcile_edits() -> dict[str, int]:
    """One reconciliation pass (`manage.py reconcile` runs them on a timer)."""
    return dict(reconcile.reconcile())


def runner(worker_id: str, queue_names: list[str] | None = None) -> Worker:
    """django-tasks-db's own runner, for threads that were handed a claimed task row:
    `runner(...).run_task(row)` calls the task and records its outcome on the row."""
    return Worker(
        queue_names=queue_names or ["default"],
        interval=0,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
