"""Background work, run by `manage.py worker` (or django-tasks-db's `db_worker`).

The tasks are thin: the rules live in `delivery.py` (sending, retries, callbacks) and
`reconcile.py` (overdue callbacks, crashed workers, deadlines).
"""

from django.tasks import task

from . import delivery, reconcile
from .delivery import build_request

__all__ = ["build_request", "finish_callback", "reconcile_edits", "run_edit"]


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
    """One reconciliation pass; `manage.py worker` runs this on a timer by itself."""
    return dict(reconcile.reconcile())
