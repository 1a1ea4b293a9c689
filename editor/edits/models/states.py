"""Every change of an edit's state, in one place.

An edit is `queued` until a worker *claims* it (queued → running, with a fresh lease
token and lease expiry); every later write names that token. Each change is one
conditional UPDATE, so whoever loses a race (a second worker, a late callback, the
reconciler after the lease ran out) updates nothing: an edit is never sent upstream
twice at once and never finished twice.

The row-level changes (claim, renew, submit, retry, fail, succeed, requeue, take over)
are methods of `Edit` through `EditStates`; the changes that touch many rows at once
(the deadline) are on the queryset through `EditStateQuerySet`. Both finish an edit the
same way: `EditStateQuerySet.finish`.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, gettext_noop, ngettext, pgettext_lazy

from editor.upstream.error_messages import Pattern, english, register_pattern

from ..costs import estimate_cost
from .changes import Change
from .files import ResultImage
from .held import HeldResult
from .ledger import LedgerEntry

if TYPE_CHECKING:
    from editor.upstream import EditResult


class Status(models.TextChoices):
    QUEUED = "queued", pgettext_lazy("status of an edit", "Queued")
    RUNNING = "running", pgettext_lazy("status of an edit", "Running")
    SUCCEEDED = "succeeded", pgettext_lazy("status of an edit", "Done")
    FAILED = "failed", pgettext_lazy("status of an edit", "Failed")


PENDING_STATUSES = (Status.QUEUED, Status.RUNNING)
# The error code of an edit a person cancelled while it waited in line.
CANCELLED = "cancelled"


class Delivery(models.TextChoices):
    """How an attempt gets its answer: the worker waits on the open request (`sync`), or
    the service posts it to our webhook later (`callback`, gateway only)."""

    SYNC = "sync", gettext_lazy("Synchronous")
    CALLBACK = "callback", gettext_lazy("Callback")


# Column values written together by several changes.
RELEASED = {"lease_token": "", "lease_expires_at": None}
NOT_SUBMITTED = {"task_id": "", "submitted_at": None}


def errors(code: str, message: str, detail: str = "") -> dict[str, str]:
    return {"error_code": code, "error_message": message, "error_detail": detail[:5000]}


def known(**ids: str) -> dict[str, str]:
    """The identifiers the service gave (trace, request, task id); empty ones keep what
    the edit already has."""
    return {name: value for name, value in ids.items() if value}


# The messages this app stores on a failed edit, in English like the image service's
# (upstream/error_messages.py): registered there, a page shows them in its reader's
# language (Edit.plain_error_message).
CANCELLED_BY = register_pattern(Pattern(lambda n: gettext("Cancelled by %(name)s.")))
_NOT_FINISHED_MINUTES = register_pattern(
    Pattern(
        lambda n: ngettext(
            "This edit did not finish within %(count)d minute, so Retouch stopped waiting for it.",
            "This edit did not finish within %(count)d minutes, so Retouch stopped waiting for it.",
            n,
        ),
        number="count",
    )
)
_NOT_FINISHED_SECONDS = register_pattern(
    Pattern(
        lambda n: ngettext(
            "This edit did not finish within %(count)d second, so Retouch stopped waiting for it.",
            "This edit did not finish within %(count)d seconds, so Retouch stopped waiting for it.",
            n,
        ),
        number="count",
    )
)
_OVERLOADED = gettext_noop("The image service may be overloaded; press Retry to try again.")


def deadline_message(seconds: float) -> str:
    """The (English, stored) message of an edit failed past the deadline."""
    minutes = round(seconds / 60)
    if minutes >= 2:
        not_finished = _NOT_FINISHED_MINUTES.english(count=minutes)
    else:
        not_finished = _NOT_FINISHED_SECONDS.english(count=round(seconds))
    return english((not_finished, _OVERLOADED))


def _new_lease_token() -> str:
    return secrets.token_hex(8)


class EditStateQuerySet(models.QuerySet):
    def pending(self) -> EditStateQuerySet:
        return self.filter(status__in=PENDING_STATUSES)

    def lease_free(self, now: datetime) -> EditStateQuerySet:
        """No worker holds these: never leased, released, or the lease ran out."""
        return self.filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))

    def awaiting_callback(self, now: datetime) -> EditStateQuerySet:
        """Accepted by the service in callback mode; nobody is working on them here."""
        return (
            self.filter(status=Status.RUNNING, delivery=Delivery.CALLBACK)
            .exclude(task_id="")
            .lease_free(now)
            .without_held_results()
        )

    def abandoned(self, now: datetime) -> EditStateQuerySet:
        """Running, but the worker that claimed them stopped renewing its lease (it crashed
        or was killed) before the service had accepted them."""
        return self.filter(status=Status.RUNNING, lease_expires_at__lt=now).without_held_results()

    def holding_results(self) -> EditStateQuerySet:
        """Finished upstream, their results held in the database until the storage takes
        them (HeldResult): nothing may send them again, fail them or poll for them."""
        return self.filter(Exists(HeldResult.objects.filter(edit=OuterRef("pk"))))

    def without_held_results(self) -> EditStateQuerySet:
        return self.filter(~Exists(HeldResult.objects.filter(edit=OuterRef("pk"))))

    def finish(self, status: Status, now: datetime | None = None, **changes: Any) -> int:
        """Make these edits final (succeeded or failed), letting go of any lease: the one
        way every edit ends. The caller narrows the rows to those it may finish (pending,
        or held under its lease). Returns how many rows changed. Open pages hear of each
        (a Change row, in the same transaction)."""
        now = now or timezone.now()
        # Inside a caller's transaction (succeed) no savepoint: an error here fails it whole.
        with transaction.atomic(using=self.db, savepoint=False):
            # Read and locked first, so that the rows updated are among those recorded.
            ending = list(self.select_for_update().values_list("pk", "team_id", "batch_id"))
            if not ending:
                return 0
            count = self.filter(pk__in=[pk for pk, _, _ in ending]).update(
                status=status,
                next_attempt_at=None,
                finished_at=now,
                updated_at=now,
                **RELEASED,
                **changes,
            )
            if count:
                Change.objects.record(ending)
        return count

    def fail(self, code: str, message: str, detail: str = "", **changes: Any) -> int:
        return self.finish(Status.FAILED, **errors(code, message, detail), **changes)

    def fail_past_deadline(self, now: datetime, seconds: float) -> int:
        """Pending edits whose first attempt started more than `seconds` ago. A worker still
        waiting on one of them finds its lease gone and drops whatever it gets."""
        overdue = self.pending().filter(started_at__lt=now - timedelta(seconds=seconds))
        overdue = overdue.without_held_results()  # their results arrived in time
        return overdue.fail("deadline_exceeded", deadline_message(seconds), now=now)


class EditStates:
    """The state changes of one edit (mixed into `Edit`). Each returns whether it won."""

    @property
    def _rows(self) -> EditStateQuerySet:
        return type(self).objects.filter(pk=self.pk)

    def _held(self) -> EditStateQuerySet:
        """This row, only while this object's lease is still the current one."""
        return self._rows.filter(status=Status.RUNNING, lease_token=self.lease_token)

    def _finishable(self) -> EditStateQuerySet:
        """This row if this object may finish it: while a lease is held only its holder
        can; without one (the reconciler, tests) any pending edit can be finished."""
        return self._held() if self.lease_token else self._rows.pending()

    def _update(self, rows: EditStateQuerySet, **changes: Any) -> bool:
        """Write `changes` to `rows` (this edit at most); when written, open pages hear
        of it (a Change row) in the same transaction."""
        with transaction.atomic():
            done = rows.update(**changes) == 1
            if done:
                Change.objects.record_edit(self)
        return done

    def _write(self, rows: EditStateQuerySet, **changes: Any) -> bool:
        """Write `changes` to `rows` (this edit, if still in the state the caller expects)
        and read the row back when they were written: in the same transaction, so that
        the change recorded for open pages needs no query of its own for the team."""
        with transaction.atomic():
            done = rows.update(**changes) == 1
            if done:
                self.refresh_from_db()
                Change.objects.record_edit(self)
        return done

    def _change(self, rows: EditStateQuerySet, **changes: Any) -> bool:
        """Like `_write`, for changes of plain values: set on this object, not read back."""
        done = self._update(rows, **changes)
        if done:
            for name, value in changes.items():
                setattr(self, name, value)
        return done

    def _lease(
        self, rows: EditStateQuerySet, lease_seconds: float, read_back: bool = True, **changes: Any
    ) -> bool:
        """Give this object a new lease on `rows`, with `changes`."""
        now = timezone.now()
        lease = {
            "lease_token": _new_lease_token(),
            "lease_expires_at": now + timedelta(seconds=lease_seconds),
            "updated_at": now,
        }
        return (self._write if read_back else self._change)(rows, **lease, **changes)

    def claim(self, delivery: str, lease_seconds: float) -> bool:
        """Take a queued, due edit for one attempt; False when someone else has it or its
        retry is not due yet. The winner holds a new lease until it renews or releases it."""
        now = timezone.now()
        due = self._rows.filter(status=Status.QUEUED).filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        )
        return self._lease(
            due,
            lease_seconds,
            status=Status.RUNNING,
            delivery=delivery,
            started_at=Coalesce("started_at", Value(now)),
            attempts=models.F("attempts") + 1,
            next_attempt_at=None,
            **NOT_SUBMITTED,
        )

    def claim_finish(self, lease_seconds: float) -> bool:
        """Take an edit the service has accepted (callback mode) to store its outcome; False
        when it is final, belongs to another task now, or another worker is finishing it."""
        waiting = self._rows.filter(task_id=self.task_id).awaiting_callback(timezone.now())
        # Nothing else changes while an edit awaits its callback: no need to read it back.
        return self._lease(waiting, lease_seconds, read_back=False)

    def claim_held(self, lease_seconds: float) -> bool:
        """Take a running edit whose results are held in the database (HeldResult) to store
        them; False when another reconciler is storing them or they are stored already."""
        held = self._rows.filter(status=Status.RUNNING).holding_results()
        return self._lease(held.lease_free(timezone.now()), lease_seconds)

    def take_over(self, lease_seconds: float) -> bool:
        """Claim a running edit whose worker's lease ran out (it crashed or was killed);
        False when the lease was renewed meanwhile or someone else took it first."""
        expired = self._held().filter(lease_expires_at__lt=timezone.now())
        return self._lease(expired, lease_seconds)

    def renew_lease(self, lease_seconds: float) -> bool:
        expires = timezone.now() + timedelta(seconds=lease_seconds)
        return self._held().update(lease_expires_at=expires) == 1

    def release_lease(self) -> bool:
        """Stop working on a running edit without changing its state."""
        return self._change(self._held(), **RELEASED)

    def record_submission(self, task_id: str, trace_id: str = "", request_id: str = "") -> bool:
        """The service accepted the edit in callback mode: remember the task and let go of
        the lease; the callback (or the reconciler) finishes it."""
        now = timezone.now()
        return self._change(
            self._held(),
            task_id=task_id,
            submitted_at=now,
            updated_at=now,
            **known(trace_id=trace_id, request_id=request_id),
            **RELEASED,
        )

    def schedule_retry(
        self, when: datetime, code: str, message: str, detail: str = "", **ids: str
    ) -> bool:
        """Back to the queue after a failed attempt, due at `when`, with the error kept so
        the page can say what went wrong and that Retouch will try again."""
        return self._write(
            self._held(),
            status=Status.QUEUED,
            next_attempt_at=when,
            retries=models.F("retries") + 1,
            updated_at=timezone.now(),
            **errors(code, message, detail),
            **RELEASED,
            **NOT_SUBMITTED,
            **known(**ids),
        )

    def mark_failed(self, code: str, message: str, detail: str = "", **ids: str) -> bool:
        """Final failure; False when the edit was already final or no longer ours."""
        done = self._finishable().fail(code, message, detail, **known(**ids)) == 1
        if done:
            self.refresh_from_db()
        return done

    def succeed(self, result: EditResult, images: list[ResultImage]) -> bool:
        """Final success with `images` (not saved yet; their files are): the row and the
        images are stored together, or not at all when the edit is no longer ours."""
        cost = estimate_cost(self.model, self.params, result.usage, len(images))
        now = timezone.now()
        changes = {
            "upstream_created": result.created,
            "upstream_elapsed": result.elapsed,
            "usage": result.usage,
            "cost_usd": cost,
            **errors("", ""),
            **known(trace_id=result.trace_id, task_id=result.task_id, request_id=result.request_id),
        }
        with transaction.atomic():
            done = self._finishable().finish(Status.SUCCEEDED, now, **changes)
            if done:
                ResultImage.objects.bulk_create(images)
                HeldResult.objects.filter(edit_id=self.pk).delete()  # stored now, if held
                self.previews.all().delete()  # the result replaces them, in the same commit
                if cost is not None:  # counted for the budget, even once the edit is deleted
                    LedgerEntry.objects.create(
                        team_id=self.team_id,
                        user_id=self.created_by_id,
                        edit_id=self.pk,
                        kind=LedgerEntry.Kind.COST,
                        cost_usd=cost,
                    )
        if done:  # what finish() wrote, set here rather than read back
            written = {"status": Status.SUCCEEDED, "next_attempt_at": None, "finished_at": now}
            for name, value in {**written, "updated_at": now, **RELEASED, **changes}.items():
                setattr(self, name, value)
        return bool(done)

    def cancel(self, by) -> bool:
        """A person withdrew an edit still waiting in line: it fails with a plain message.
        Claiming also asks for `queued`, so exactly one of the two wins; the cancelled
        edit was never sent this round, so it costs nothing. False when it had started
        (or finished) meanwhile."""
        name = by.get_short_name() or by.get_username()
        queued = self._rows.filter(status=Status.QUEUED)
        done = queued.fail(CANCELLED, CANCELLED_BY.english(name=name)) == 1
        if done:
            self.refresh_from_db()
        return done

    def requeue(self) -> bool:
        """A person asked to try a failed edit again: a fresh round of attempts, keeping
        what earlier attempts recorded (attempt count, trace id)."""
        done = self._write(
            self._rows.filter(status=Status.FAILED),
            status=Status.QUEUED,
            started_at=None,
            finished_at=None,
            retries=0,
            next_attempt_at=None,
            updated_at=timezone.now(),
            **errors("", ""),
            **NOT_SUBMITTED,
            **RELEASED,
        )
        if not done:
            self.refresh_from_db()  # show the edit as it is now
        return done
