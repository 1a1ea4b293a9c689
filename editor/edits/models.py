"""An Edit is one request to change images: who asked, in which team, what they
asked for, what the service answered, and how long it all took. Source and result
images hang off it; their files live in the default storage and are only ever
served through permission-checked views.

Every change of a pending edit's state is a conditional UPDATE on its row: a worker
first *claims* the edit (queued → running, with a fresh lease token), and every later
write names that token. Whoever loses a race (a second worker, a late callback, the
reconciler after the lease ran out) updates nothing, so an edit is never sent upstream
twice at once and never finished twice.
"""

import logging
import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import models
from django.db.models import QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import slugify

from .imaging import DECODE_ERRORS, make_thumbnail

log = logging.getLogger(__name__)


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"


PENDING_STATUSES = (Status.QUEUED, Status.RUNNING)


class Delivery(models.TextChoices):
    """How an attempt gets its answer: the worker waits on the open request (`sync`), or
    the service posts it to our webhook later (`callback`, gateway only)."""

    SYNC = "sync", "Synchronous"
    CALLBACK = "callback", "Callback"


def _new_callback_token() -> str:
    return secrets.token_urlsafe(32)


def _new_lease_token() -> str:
    return secrets.token_hex(8)


def _unique_name(kind: str, filename: str) -> str:
    """Storage names carry no user text: a random name under the kind and month."""
    ext = PurePosixPath(filename).suffix.lower() or ".bin"
    return f"{kind}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{ext}"


def source_upload_to(instance, filename: str) -> str:
    return _unique_name("sources", filename)


def result_upload_to(instance, filename: str) -> str:
    return _unique_name("results", filename)


def thumbnail_upload_to(instance, filename: str) -> str:
    return _unique_name("thumbnails", filename)


def mask_upload_to(instance, filename: str) -> str:
    return _unique_name("masks", filename)


class EditQuerySet(QuerySet):
    def for_team(self, team) -> "EditQuerySet":
        return self.filter(team=team)

    def pending(self) -> "EditQuerySet":
        return self.filter(status__in=PENDING_STATUSES)

    def for_gallery(self) -> "EditQuerySet":
        """Everything a gallery card shows, in a fixed number of queries."""
        return (
            self.select_related("created_by")
            .prefetch_related("results")
            .order_by("-created_at", "-pk")
        )

    def matching(
        self,
        *,
        member: str = "",
        status: str = "",
        model: str = "",
        created_from: datetime | None = None,
        created_before: datetime | None = None,
        text: str = "",
        starred_by=None,
    ) -> "EditQuerySet":
        """The gallery's filters (GalleryFilterForm); an empty value means "any".
        Dates are instants, so the (team, -created_at) index serves the range."""
        edits = self
        if member:
            edits = edits.filter(created_by__username=member)
        if status:
            edits = edits.filter(status=status)
        if model:
            edits = edits.filter(model=model)
        if created_from:
            edits = edits.filter(created_at__gte=created_from)
        if created_before:
            edits = edits.filter(created_at__lt=created_before)
        if text:
            edits = edits.filter(prompt__icontains=text)
        if starred_by is not None:
            edits = edits.filter(stars__user=starred_by)
        return edits

    def with_star_for(self, user) -> "EditQuerySet":
        """Annotate `is_starred` for one person, in the same query."""
        return self.annotate(
            is_starred=models.Exists(Star.objects.filter(edit=models.OuterRef("pk"), user=user))
        )

    def cost_between(self, start: datetime, end: datetime):
        return self.filter(finished_at__gte=start, finished_at__lt=end).aggregate(
            total=models.Sum("cost_usd")
        )["total"] or Decimal(0)

    # -- reliability: what the reconciler looks for -------------------------------------

    def lease_free(self, now: datetime) -> "EditQuerySet":
        """No worker holds these: never leased, released, or the lease ran out."""
        return self.filter(
            models.Q(lease_expires_at__isnull=True) | models.Q(lease_expires_at__lt=now)
        )

    def awaiting_callback(self, now: datetime) -> "EditQuerySet":
        """Accepted by the service in callback mode; nobody is working on them here."""
        return (
            self.filter(status=Status.RUNNING, delivery=Delivery.CALLBACK)
            .exclude(task_id="")
            .lease_free(now)
        )

    def abandoned(self, now: datetime) -> "EditQuerySet":
        """Running, but the worker that claimed them stopped renewing its lease (it crashed
        or was killed) before the service had accepted them."""
        return self.filter(status=Status.RUNNING, lease_expires_at__lt=now)


class Edit(models.Model):
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="edits")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="edits"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    model = models.CharField(max_length=64)
    prompt = models.TextField()
    # The optional parameters as sent upstream (size, quality, n, background, ...).
    params = models.JSONField(default=dict, blank=True)
    # Optional PNG whose transparent pixels mark where the first image may change.
    mask = models.FileField(upload_to=mask_upload_to, max_length=255, blank=True)

    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_detail = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)

    # Identifiers the service gave us, for support and for the Tasks API.
    trace_id = models.CharField(max_length=100, blank=True, db_index=True)
    task_id = models.CharField(max_length=100, blank=True, db_index=True)
    request_id = models.CharField(max_length=100, blank=True, db_index=True)
    upstream_created = models.BigIntegerField(null=True, blank=True)
    upstream_elapsed = models.FloatField(null=True, blank=True)
    usage = models.JSONField(null=True, blank=True)
    # Estimated from usage and the price table (costs.py) when the results are stored.
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    callback_token = models.CharField(max_length=64, default=_new_callback_token, editable=False)

    # Delivery and retries. `attempts` counts every request sent upstream; `retries` the
    # automatic ones since the edit was last queued by a person (bounded by a setting).
    delivery = models.CharField(max_length=10, choices=Delivery.choices, blank=True)
    retries = models.PositiveSmallIntegerField(default=0)
    # Queued for an automatic retry: not before this moment.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Callback mode: when the service accepted the edit (the callback is due from then on).
    submitted_at = models.DateTimeField(null=True, blank=True)
    # The claim of the worker handling the edit right now; renewed while it works.
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = EditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["team", "-created_at"], name="edit_team_recent")]

    def __str__(self) -> str:
        return f"Edit {self.pk}: {self.prompt[:40]}"

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING_STATUSES

    @cached_property
    def first_result(self) -> "ResultImage | None":
        """The result a gallery card shows (from prefetched results when loaded); a view
        that knows there is none yet sets it to None and saves the query."""
        return next(iter(self.results.all()), None)

    @property
    def is_final(self) -> bool:
        return not self.is_pending

    @property
    def queue_seconds(self) -> float | None:
        if self.started_at:
            return (self.started_at - self.created_at).total_seconds()
        return None

    @property
    def run_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def ancestors(self, limit: int = 20) -> list["Edit"]:
        """The edits this one was made from, oldest first (bounded: lineage is shown,
        not walked forever)."""
        chain = []
        current = self.parent
        while current is not None and len(chain) < limit:
            chain.append(current)
            current = current.parent
        return chain[::-1]

    def download_stem(self) -> str:
        """`2026-11-25-make-the-sky-stormy`: the date and what was asked, for file names."""
        slug = slugify(self.prompt)[:50].strip("-") or "edit"
        return f"{timezone.localdate(self.created_at).isoformat()}-{slug}"

    @property
    def attempt_limit(self) -> int:
        return settings.RETOUCH_MAX_ATTEMPTS

    @property
    def is_retrying(self) -> bool:
        """Waiting for an automatic retry after a failed attempt."""
        return self.status == Status.QUEUED and self.retries > 0

    def _held(self) -> "EditQuerySet":
        """This row, only while this object's lease is still the current one."""
        return Edit.objects.filter(pk=self.pk, status=Status.RUNNING, lease_token=self.lease_token)

    def claim(self, delivery: str, lease_seconds: float) -> bool:
        """Take a queued, due edit for one attempt; False when someone else has it or its
        retry is not due yet. The winner holds a new lease until it renews or releases it."""
        now = timezone.now()
        token = _new_lease_token()
        claimed = (
            Edit.objects.filter(pk=self.pk, status=Status.QUEUED)
            .filter(models.Q(next_attempt_at__isnull=True) | models.Q(next_attempt_at__lte=now))
            .update(
                status=Status.RUNNING,
                delivery=delivery,
                lease_token=token,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                started_at=Coalesce("started_at", Value(now)),
                attempts=models.F("attempts") + 1,
                next_attempt_at=None,
                task_id="",
                submitted_at=None,
                updated_at=now,
            )
            == 1
        )
        if claimed:
            self.refresh_from_db()
        return claimed

    def claim_finish(self, lease_seconds: float) -> bool:
        """Take an edit the service has accepted (callback mode) to store its outcome; False
        when it is final, belongs to another task now, or another worker is finishing it."""
        now = timezone.now()
        token = _new_lease_token()
        claimed = (
            Edit.objects.filter(pk=self.pk, task_id=self.task_id)
            .awaiting_callback(now)
            .update(
                lease_token=token,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
            == 1
        )
        if claimed:  # nothing else changes while an edit awaits its callback
            self.lease_token, self.lease_expires_at = token, now + timedelta(seconds=lease_seconds)
            self.updated_at = now
        return claimed

    def take_over(self, lease_seconds: float) -> bool:
        """Claim a running edit whose worker's lease ran out (it crashed or was killed);
        False when the lease was renewed meanwhile or someone else took it first."""
        now = timezone.now()
        token = _new_lease_token()
        taken = (
            Edit.objects.filter(
                pk=self.pk,
                status=Status.RUNNING,
                lease_token=self.lease_token,
                lease_expires_at__lt=now,
            ).update(
                lease_token=token,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
            == 1
        )
        if taken:
            self.refresh_from_db()
        return taken

    def release_lease(self) -> bool:
        """Stop working on a running edit without changing its state."""
        done = self._held().update(lease_token="", lease_expires_at=None) == 1
        if done:
            self.lease_token, self.lease_expires_at = "", None
        return done

    def renew_lease(self, lease_seconds: float) -> bool:
        now = timezone.now()
        return self._held().update(lease_expires_at=now + timedelta(seconds=lease_seconds)) == 1

    def record_submission(self, task_id: str, trace_id: str = "", request_id: str = "") -> bool:
        """The service accepted the edit in callback mode: remember the task and let go of
        the lease; the callback (or the reconciler) finishes it."""
        now = timezone.now()
        changes = {"task_id": task_id, "submitted_at": now, "updated_at": now}
        changes |= {"trace_id": trace_id} if trace_id else {}
        changes |= {"request_id": request_id} if request_id else {}
        done = self._held().update(lease_token="", lease_expires_at=None, **changes) == 1
        if done:  # exactly what was written, without reading the row back
            for name, value in {"lease_token": "", "lease_expires_at": None, **changes}.items():
                setattr(self, name, value)
        return done

    def schedule_retry(
        self, when: datetime, code: str, message: str, detail: str = "", **ids: str
    ) -> bool:
        """Back to the queue after a failed attempt, due at `when`, with the error kept so
        the page can say what went wrong and that Retouch will try again."""
        changes = {name: value for name, value in ids.items() if value}
        done = (
            self._held().update(
                status=Status.QUEUED,
                next_attempt_at=when,
                retries=models.F("retries") + 1,
                error_code=code,
                error_message=message,
                error_detail=detail[:5000],
                lease_token="",
                lease_expires_at=None,
                task_id="",
                submitted_at=None,
                updated_at=timezone.now(),
                **changes,
            )
            == 1
        )
        if done:
            self.refresh_from_db()
        return done

    def mark_failed(self, code: str, message: str, detail: str = "", **ids: str) -> bool:
        """Final failure. While a lease is held only its holder can do this; without one
        (the reconciler, tests) any pending edit can be failed. False when it was final."""
        rows = self._held() if self.lease_token else Edit.objects.pending().filter(pk=self.pk)
        now = timezone.now()
        changes = {name: value for name, value in ids.items() if value}
        done = (
            rows.update(
                status=Status.FAILED,
                error_code=code,
                error_message=message,
                error_detail=detail[:5000],
                lease_token="",
                lease_expires_at=None,
                next_attempt_at=None,
                finished_at=now,
                updated_at=now,
                **changes,
            )
            == 1
        )
        if done:
            self.refresh_from_db()
        return done

    def requeue(self) -> bool:
        """A person asked to try a failed edit again: a fresh round of attempts, keeping
        what earlier attempts recorded (attempt count, trace id)."""
        done = (
            Edit.objects.filter(pk=self.pk, status=Status.FAILED).update(
                status=Status.QUEUED,
                error_code="",
                error_message="",
                error_detail="",
                started_at=None,
                finished_at=None,
                retries=0,
                next_attempt_at=None,
                task_id="",
                submitted_at=None,
                lease_token="",
                lease_expires_at=None,
                updated_at=timezone.now(),
            )
            == 1
        )
        self.refresh_from_db()
        return done


class ImageFileMixin(models.Model):
    position = models.PositiveSmallIntegerField()
    content_type = models.CharField(max_length=50)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveBigIntegerField()

    class Meta:
        abstract = True
        ordering = ["position"]

    @property
    def extension(self) -> str:
        return {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(
            self.content_type, "bin"
        )


class SourceImage(ImageFileMixin):
    edit = models.ForeignKey(Edit, on_delete=models.CASCADE, related_name="sources")
    file = models.FileField(upload_to=source_upload_to, max_length=255)
    original_name = models.CharField(max_length=255, blank=True)

    class Meta(ImageFileMixin.Meta):
        constraints = [
            models.UniqueConstraint(fields=["edit", "position"], name="unique_source_position")
        ]

    def __str__(self) -> str:
        return self.original_name or self.file.name


class ResultImage(ImageFileMixin):
    edit = models.ForeignKey(Edit, on_delete=models.CASCADE, related_name="results")
    file = models.FileField(upload_to=result_upload_to, max_length=255)
    thumbnail = models.FileField(upload_to=thumbnail_upload_to, max_length=255, blank=True)
    revised_prompt = models.TextField(blank=True)

    class Meta(ImageFileMixin.Meta):
        constraints = [
            models.UniqueConstraint(fields=["edit", "position"], name="unique_result_position")
        ]

    def __str__(self) -> str:
        return self.file.name

    def download_name(self) -> str:
        return f"{self.edit.download_stem()}-{self.position + 1}.{self.extension}"

    def ensure_thumbnail(self) -> bool:
        """Make the gallery thumbnail the first time somebody needs it; False when the
        result cannot be decoded (it is then shown as it is).

        Not made while finishing: 200 edits finishing at once would otherwise decode 200
        images in the same few seconds. Two requests racing here both draw one, and the
        conditional update keeps exactly one of them.
        """
        if self.thumbnail:
            return True
        try:
            with self.file.open("rb") as fh:
                data = make_thumbnail(fh)
        except DECODE_ERRORS as exc:
            log.warning("Result %s: no thumbnail, the image does not decode (%s)", self.pk, exc)
            return False
        storage = self.thumbnail.storage
        name = storage.save(thumbnail_upload_to(self, f"{self.position}.webp"), ContentFile(data))
        kept = ResultImage.objects.filter(pk=self.pk, thumbnail="").update(thumbnail=name)
        if kept:
            self.thumbnail.name = name
        else:
            storage.delete(name)
            self.refresh_from_db(fields=["thumbnail"])
        return bool(self.thumbnail)


class Star(models.Model):
    """A person's bookmark on an edit, to find it again (the gallery's starred filter)."""

    edit = models.ForeignKey(Edit, on_delete=models.CASCADE, related_name="stars")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["edit", "user"], name="unique_star")]

    def __str__(self) -> str:
        return f"{self.user} ★ {self.edit_id}"

    @classmethod
    def toggle(cls, edit: Edit, user) -> bool:
        """Star the edit for this person, or unstar it; True when it is now starred."""
        deleted, _ = cls.objects.filter(edit=edit, user=user).delete()
        if deleted:
            return False
        cls.objects.get_or_create(edit=edit, user=user)
        return True
