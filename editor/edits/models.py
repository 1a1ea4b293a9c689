"""An Edit is one request to change images: who asked, in which team, what they
asked for, what the service answered, and how long it all took. Source and result
images hang off it; their files live in the default storage and are only ever
served through permission-checked views."""

import secrets
import uuid
from datetime import datetime
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"


PENDING_STATUSES = (Status.QUEUED, Status.RUNNING)


def _new_callback_token() -> str:
    return secrets.token_urlsafe(32)


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

    def changed_since(self, moment: datetime) -> "EditQuerySet":
        return self.filter(updated_at__gte=moment)


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
    callback_token = models.CharField(max_length=64, default=_new_callback_token, editable=False)

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

    @property
    def total_seconds(self) -> float | None:
        if self.finished_at:
            return (self.finished_at - self.created_at).total_seconds()
        return None

    def download_stem(self) -> str:
        """`2026-11-25-make-the-sky-stormy`: the date and what was asked, for file names."""
        slug = slugify(self.prompt)[:50].strip("-") or "edit"
        return f"{timezone.localdate(self.created_at).isoformat()}-{slug}"

    def mark_running(self) -> bool:
        """Claim a queued edit for this worker; False when someone else already has it."""
        now = timezone.now()
        claimed = (
            Edit.objects.filter(pk=self.pk, status=Status.QUEUED).update(
                status=Status.RUNNING,
                started_at=now,
                attempts=models.F("attempts") + 1,
                updated_at=now,
            )
            == 1
        )
        if claimed:
            self.refresh_from_db()
        return claimed

    def mark_failed(self, code: str, message: str, detail: str = "", **ids: str) -> None:
        self.status = Status.FAILED
        self.error_code = code
        self.error_message = message
        self.error_detail = detail[:5000]
        for name, value in ids.items():
            if value:
                setattr(self, name, value)
        self.finished_at = timezone.now()
        self.save()

    def requeue(self) -> None:
        """Back to the queue for a retry, keeping what earlier attempts recorded."""
        self.status = Status.QUEUED
        self.error_code = self.error_message = self.error_detail = ""
        self.started_at = self.finished_at = None
        self.save()


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
