"""The images of an edit: the photos it was given and the results it produced. Their
files live in the default storage under random names and are only ever served through
permission-checked views."""

import logging
import uuid
from pathlib import PurePosixPath

from django.core.files.base import ContentFile
from django.db import models
from django.utils import timezone

from ..imaging import DECODE_ERRORS, make_thumbnail

log = logging.getLogger(__name__)


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
    edit = models.ForeignKey("edits.Edit", on_delete=models.CASCADE, related_name="sources")
    file = models.FileField(upload_to=source_upload_to, max_length=255)
    original_name = models.CharField(max_length=255, blank=True)

    class Meta(ImageFileMixin.Meta):
        constraints = [
            models.UniqueConstraint(fields=["edit", "position"], name="unique_source_position")
        ]

    def __str__(self) -> str:
        return self.original_name or self.file.name


class ResultImage(ImageFileMixin):
    edit = models.ForeignKey("edits.Edit", on_delete=models.CASCADE, related_name="results")
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

        Usually made already with the result (services.store_results, in the worker);
        here for one that could not be made then (no decode slot in time, a storage
        hiccup, an image that does not decode). Two requests racing here both draw one,
        and the conditional update keeps one.
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
