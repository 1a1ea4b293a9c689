"""Results the image service returned while the media storage could not take them.

A finished edit whose results cannot be written (the bucket is unreachable or refuses
writes) keeps them here, in the database that just answered, instead of failing: the
service has made and charged for them, and a new attempt would cost a second edit.
The edit stays `running` with no lease; the reconciler stores them once the storage
takes writes again (`reconcile.store_held_results`), and they go with the rows that
make the edit succeed (`EditStates.succeed`), or with the edit when it is deleted.

Kept in the database rather than retried in the worker's memory until the deadline: a
worker may be restarted or killed while the bucket is down, and nothing it held in
memory would survive that. A result is a few megabytes (at most
RETOUCH_CALLBACK_MAX_MB), held only for as long as the storage is down.
"""

from __future__ import annotations

from django.db import models, transaction
from django.utils import timezone

from editor.upstream import EditResult
from editor.upstream.schema import ResultImage as Answered

# What of the service's answer the edit keeps when its results are stored (states.succeed).
ANSWER_FIELDS = ("created", "usage", "trace_id", "task_id", "request_id", "elapsed")


class HeldResult(models.Model):
    edit = models.ForeignKey("edits.Edit", on_delete=models.CASCADE, related_name="held_results")
    position = models.PositiveSmallIntegerField()
    content_type = models.CharField(max_length=50)
    revised_prompt = models.TextField(blank=True)
    data = models.BinaryField()
    # The rest of the service's answer (ANSWER_FIELDS), the same on every image of it.
    answer = models.JSONField(default=dict)
    held_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["edit", "position"]
        constraints = [
            models.UniqueConstraint(fields=["edit", "position"], name="unique_held_position")
        ]

    def __str__(self) -> str:
        return f"Result {self.position} of edit {self.edit_id}, held since {self.held_at:%c}"

    @classmethod
    def hold(cls, edit, result: EditResult) -> bool:
        """Keep the results of `edit`, which the caller holds the lease on, and let go of
        the lease: the edit waits, running, for the storage. False (nothing kept) when
        the lease was no longer ours. Holding again what is already held keeps the rows
        as they are."""
        answer = {name: getattr(result, name) for name in ANSWER_FIELDS}
        rows = [
            cls(
                edit_id=edit.pk,
                position=position,
                content_type=image.content_type,
                revised_prompt=image.revised_prompt or "",
                data=image.data,
                answer=answer,
            )
            for position, image in enumerate(result.images)
        ]
        with transaction.atomic():
            if not edit.release_lease():
                return False
            if not cls.objects.filter(edit_id=edit.pk).exists():
                cls.objects.bulk_create(rows)
        return True

    @classmethod
    def result_of(cls, edit) -> EditResult:
        """The service's answer as it was held, to be stored as if it had just arrived."""
        held = list(cls.objects.filter(edit_id=edit.pk).order_by("position"))
        images = [
            Answered(
                data=bytes(row.data),
                content_type=row.content_type,
                revised_prompt=row.revised_prompt or None,
            )
            for row in held
        ]
        return EditResult(images=images, **(held[0].answer if held else {}))
