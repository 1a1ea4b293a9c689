"""A batch: one prompt applied to each of several photos separately ("Apply to each
photo separately" on the form). Each photo is an edit of its own, with its own detail
page, history, ids and costs; the batch groups them in the gallery, and lets a person
retry, download or delete them together."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .states import Status

DEFAULT_MAX_BATCH = 50


def max_batch() -> int:
    """How many photos one batch may have (``RETOUCH_MAX_BATCH``)."""
    return int(settings.RETOUCH_MAX_BATCH or DEFAULT_MAX_BATCH)


class BatchQuerySet(models.QuerySet):
    def for_team(self, team) -> BatchQuerySet:
        return self.filter(team=team)

    def with_progress(self) -> BatchQuerySet:
        """How many of each batch's edits are in each state, in the same query: the card's
        progress and its poll token cost one query whatever the batch's size."""
        counts = {
            f"{status}_count": Count("edits", filter=Q(edits__status=status)) for status in Status
        }
        return self.select_related("created_by").annotate(total=Count("edits"), **counts)


class Batch(models.Model):
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    prompt = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = BatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = gettext_lazy("batches")

    def __str__(self) -> str:
        return f"Batch {self.pk}: {self.prompt[:40]}"

    # The counts below come from BatchQuerySet.with_progress().

    @property
    def pending_count(self) -> int:
        return self.queued_count + self.running_count

    @property
    def is_pending(self) -> bool:
        return self.pending_count > 0

    @property
    def progress(self) -> str:
        """``7 of 20 done, 1 failed``."""
        counts = {"done": self.succeeded_count, "total": self.total, "failed": self.failed_count}
        if self.failed_count:
            return _("%(done)s of %(total)s done, %(failed)s failed") % counts
        return _("%(done)s of %(total)s done") % counts

    @property
    def poll_token(self) -> str:
        """What a batch card tells the gallery's poll it shows: how many edits are in each
        state (`queued.running.succeeded.failed`), so any change brings the card back."""
        counts = (self.queued_count, self.running_count, self.succeeded_count)
        return ".".join(str(n) for n in (*counts, self.failed_count))

    def download_stem(self) -> str:
        slug = slugify(self.prompt)[:50].strip("-") or "batch"
        return f"{timezone.localdate(self.created_at).isoformat()}-{slug}-batch"
