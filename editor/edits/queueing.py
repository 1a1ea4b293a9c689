"""Putting work on the task queue, from anywhere in the app.

The tasks (`tasks.py`) are the top of the worker's code: they call `delivery.py` and
`reconcile.py`, which queue more work in turn (a retry, a callback that came early, an
edit whose task was lost), as do `services.py` (a new edit, Retry) and the webhook. They
all queue through these functions, which name the tasks by their path instead of
importing `tasks.py`, so imports run one way only:

    views, admin        → services → models
    webhooks            → delivery → services → models
    tasks, commands     → delivery, reconcile → services, models, editor.upstream
    every one of them   → queueing (imports no module of this app)

The queue is a table in the same database: inside a transaction a task row commits (or
rolls back) together with the edit rows written beside it.
"""

from datetime import datetime

from django.tasks import Task
from django.utils.module_loading import import_string

RUN_EDIT = "editor.edits.tasks.run_edit"
FINISH_CALLBACK = "editor.edits.tasks.finish_callback"
# The tasks that work on one edit, whose first argument is the edit's id.
EDIT_TASKS = (RUN_EDIT, FINISH_CALLBACK)


def _task(path: str, when: datetime | None) -> Task:
    return import_string(path).using(run_after=when)


def queue_attempt(edit_id: int, when: datetime | None = None) -> None:
    """An attempt at the edit, at once or not before `when`."""
    _task(RUN_EDIT, when).enqueue(edit_id)


def queue_callback(edit_id: int, spool_name: str, *more: int, when: datetime | None = None):
    """Finishing the edit from a callback body the webhook stored (`more`: how often that
    was tried already)."""
    _task(FINISH_CALLBACK, when).enqueue(edit_id, spool_name, *more)
