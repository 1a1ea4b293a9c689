"""The reconciler: the periodic pass that makes sure no edit is lost or stuck.

Callbacks can be lost, workers can be killed mid-edit and task rows can vanish with
them. One pass:

1. fails edits past `RETOUCH_EDIT_DEADLINE_SECONDS`, in plain words;
2. takes over edits whose worker's lease ran out: with a task id the gateway has the
   edit, so it is only asked again (step 3), never sent twice; without one, a new
   attempt is queued (bounded by `RETOUCH_MAX_ATTEMPTS`);
3. asks the Tasks API (`retrieve_batch`, a page at a time) about callback-mode edits
   whose callback is overdue, and finishes those that are done;
4. queues again any queued edit that has no task in the queue (its task row was lost);
5. marks failed the task rows a killed worker left running (django-tasks-db would
   show them as running forever): rows of edit tasks whose edit no live lease holds;
6. removes callback bodies that nobody picked up;
7. stores the results held in the database while the media storage could not take
   them (models/held.py), stopping at the first the storage still refuses.

`manage.py reconcile` runs a pass every `RETOUCH_RECONCILE_SECONDS`. Each step changes an
edit only through a conditional UPDATE, so several reconcilers at once do no harm. Like
`delivery.py`, which finishes or retries the edits it recovers, it queues work through
`queueing.py` and never imports `tasks.py`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from editor.upstream import UpstreamError

from . import delivery
from .media import STORAGE_ERRORS
from .models import Delivery, Edit, HeldResult, PreviewImage, Status
from .queueing import EDIT_TASKS, RUN_EDIT, queue_attempt

log = logging.getLogger(__name__)

# The gateway's default page of the Tasks API; also bounds the decoded results held at once.
POLL_PAGE = 12
# Bounds on one pass, so a huge backlog is worked through over several passes.
MAX_POLLED = 600
MAX_RECOVERED = 200
MAX_ORPHANS = 1000
SPOOL_DIR = "callbacks"
SPOOL_MAX_AGE = timedelta(hours=1)


def reconcile(now: datetime | None = None) -> Counter:
    """One pass; returns how many edits each step touched, for the logs."""
    now = now or timezone.now()
    counts: Counter = Counter()
    counts["deadline_failed"] = fail_past_deadline(now)
    recovered, to_poll = recover_abandoned(now)
    counts.update(recovered)
    counts.update(poll_overdue(now, to_poll))
    counts["requeued"] = requeue_orphans(now)
    counts["tasks_failed"] = fail_dead_tasks(now)
    counts["spools_removed"] = sweep_spools(now)
    counts.update(store_held_results())
    counts = +counts  # drop zeros
    if counts:
        log.info("Reconciled: %s", dict(counts))
    return counts


def fail_past_deadline(now: datetime) -> int:
    return Edit.objects.fail_past_deadline(now, settings.RETOUCH_EDIT_DEADLINE_SECONDS)


def recover_abandoned(now: datetime) -> tuple[Counter, set[int]]:
    counts: Counter = Counter()
    to_poll: set[int] = set()
    lease = settings.RETOUCH_LEASE_SECONDS
    for edit in Edit.objects.abandoned(now).order_by("lease_expires_at")[:MAX_RECOVERED]:
        if not edit.take_over(lease):
            continue
        if edit.delivery == Delivery.CALLBACK and edit.task_id:
            # The service has it: the worker died while storing the answer. Ask again.
            edit.release_lease()
            to_poll.add(edit.pk)
            counts["recovered_to_poll"] += 1
        else:
            log.warning("Edit %s: its worker stopped mid-attempt", edit.pk)
            counts[f"recovered_{delivery.give_up_or_retry_lost_attempt(edit)}"] += 1
    return counts, to_poll


def poll_overdue(now: datetime, also: Collection[int] = ()) -> Counter:
    """Finish callback-mode edits from the Tasks API when their callback is late."""
    counts: Counter = Counter()
    cutoff = now - timedelta(seconds=settings.RETOUCH_CALLBACK_GRACE_SECONDS)
    edits = list(
        Edit.objects.awaiting_callback(now)
        .filter(Q(submitted_at__lt=cutoff) | Q(submitted_at__isnull=True) | Q(pk__in=also))
        .order_by("submitted_at")[:MAX_POLLED]
    )
    if not edits:
        return counts
    with delivery.upstream_client() as client:
        for start in range(0, len(edits), POLL_PAGE):
            page = edits[start : start + POLL_PAGE]
            try:
                tasks = {info.id: info for info in client.retrieve_batch(e.task_id for e in page)}
            except UpstreamError as exc:
                log.warning("The Tasks API did not answer: %s", exc)
                counts["poll_errors"] += 1
                break
            for edit in page:
                info = tasks.get(edit.task_id)
                if info is None or not info.finished:
                    counts["still_running"] += 1
                    continue
                if info.error is not None and info.error.code in delivery.READ_ERRORS:
                    # Done upstream, but we could not read it now: next pass.
                    counts["unreadable"] += 1
                    continue
                if not edit.claim_finish(settings.RETOUCH_LEASE_SECONDS):
                    continue
                with delivery.holding(edit):
                    if info.result is not None:
                        outcome = delivery.finish(edit, info.result)
                    else:
                        outcome = delivery.after_failure(edit, info.error)
                counts[f"polled_{outcome}"] += 1
            del tasks
    return counts


def requeue_orphans(now: datetime) -> int:
    """Queued edits that nothing in the queue will run (their task row was claimed by a
    worker that died, or never written): queue them again. A spare task is harmless,
    because only one worker can claim the edit."""
    grace = now - timedelta(seconds=settings.RETOUCH_LEASE_SECONDS)
    waiting = list(
        Edit.objects.filter(status=Status.QUEUED)
        .filter(
            Q(next_attempt_at__isnull=True, updated_at__lt=grace) | Q(next_attempt_at__lt=grace)
        )
        .values_list("pk", flat=True)[:MAX_ORPHANS]
    )
    if not waiting:
        return 0
    in_queue = {
        (args.get("args") or [None])[0]
        for args in DBTaskResult.objects.filter(
            task_path=RUN_EDIT, status=TaskResultStatus.READY
        ).values_list("args_kwargs", flat=True)
    }
    orphans = [pk for pk in waiting if pk not in in_queue]
    for pk in orphans:
        queue_attempt(pk)
    if orphans:
        log.warning("Queued again %s edit(s) that had no task in the queue", len(orphans))
    return len(orphans)


class WorkerLost(Exception):
    """What a task row says when the worker running it stopped (recorded as its error)."""


def fail_dead_tasks(now: datetime) -> int:
    """Task rows still marked running although no worker runs them any more: rows of the
    tasks that work on one edit (and hold its lease while they do) whose edit no live
    lease holds, claimed longer than a lease ago. A worker that is merely slow renews its
    lease, so its rows are left alone; one that was killed leaves its lease to run out.
    (Should the worker still be there after all, its own result overwrites this one.)"""
    started_before = now - timedelta(seconds=settings.RETOUCH_LEASE_SECONDS)
    rows = (
        DBTaskResult.objects.running()
        .filter(task_path__in=EDIT_TASKS, started_at__lt=started_before)
        .values_list("pk", "args_kwargs")[:MAX_RECOVERED]
    )
    edit_of = {pk: (args.get("args") or [None])[0] for pk, args in rows}
    held = set(
        Edit.objects.filter(pk__in=edit_of.values(), lease_expires_at__gte=now).values_list(
            "pk", flat=True
        )
    )
    dead = [pk for pk, edit_id in edit_of.items() if edit_id not in held]
    if not dead:
        return 0
    log.warning("%s task(s) of stopped workers marked failed", len(dead))
    return DBTaskResult.objects.filter(pk__in=dead, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        return_value=None,
        exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
        traceback=f"{WorkerLost.__qualname__}: the worker running this task stopped before it "
        "finished; the reconciler takes care of its edit.\n",
    )


def sweep_spools(now: datetime) -> int:
    """Callback bodies left behind by a worker that died before reading them."""
    removed = 0
    try:
        _dirs, files = default_storage.listdir(SPOOL_DIR)
    except (NotImplementedError, *STORAGE_ERRORS):  # a bucket that is down: next pass
        return 0
    for filename in files[:1000]:
        name = f"{SPOOL_DIR}/{filename}"
        try:
            if default_storage.get_modified_time(name) < now - SPOOL_MAX_AGE:
                default_storage.delete(name)
                removed += 1
        except (NotImplementedError, *STORAGE_ERRORS):
            continue
    return removed


def store_held_results() -> Counter:
    """Results that arrived while the media storage could not take them, stored now that
    it may (oldest first), each under a lease so that two reconcilers never store the
    same. One that is still refused ends the step: the storage is down, and trying the
    others would only wait on it again; the next pass tries once more."""
    counts: Counter = Counter()
    lease = settings.RETOUCH_LEASE_SECONDS
    edits = Edit.objects.holding_results().filter(status=Status.RUNNING).order_by("started_at")
    for edit in edits[:MAX_RECOVERED]:
        if not edit.claim_held(lease):
            continue
        with delivery.holding(edit):
            outcome = delivery.finish(edit, HeldResult.result_of(edit))
        counts[f"held_{outcome}"] += 1
        if outcome == "succeeded":
            PreviewImage.discard(edit)
        elif outcome == "failed":  # not the storage (finish logged why): nothing to wait for
            HeldResult.objects.filter(edit_id=edit.pk).delete()
            PreviewImage.discard(edit)
        elif outcome == "held":
            break
    return counts
