"""Rules that span several models: creating an edit with its files, and storing
what the service sent back."""

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from editor.upstream import EditResult, ImagesClient

from .imaging import describe_result
from .models import Edit, ResultImage, SourceImage, Status

log = logging.getLogger(__name__)


def upstream_client() -> ImagesClient:
    return ImagesClient(
        base_url=settings.OPENAI_BASE_URL,
        api_key=settings.OPENAI_API_KEY,
        timeout=(10, settings.OPENAI_TIMEOUT),
    )


def enqueue_edit(edit: Edit) -> None:
    """Hand the edit to the worker once the rows it needs are committed."""
    from .tasks import run_edit

    transaction.on_commit(lambda: run_edit.enqueue(edit.pk))


@transaction.atomic
def create_edit(
    *,
    membership,
    model: str,
    prompt: str,
    params: dict,
    images: Iterable,
    facts,
    mask=None,
    parent: Edit | None = None,
) -> Edit:
    edit = Edit.objects.create(
        team=membership.team,
        created_by=membership.user,
        model=model,
        prompt=prompt,
        params=params,
        parent=parent,
    )
    for position, (upload, fact) in enumerate(zip(images, facts, strict=True)):
        source = SourceImage(
            edit=edit,
            position=position,
            original_name=upload.name[:255],
            content_type=fact.content_type,
            width=fact.width,
            height=fact.height,
            size_bytes=upload.size,
        )
        source.file.save(f"{position}.{source.extension}", upload, save=False)
        source.save()
    if mask:
        edit.mask.save("mask.png", mask, save=True)
    enqueue_edit(edit)
    return edit


def store_results(edit: Edit, result: EditResult) -> None:
    """Keep every result byte-for-byte as the service returned it, with a thumbnail.

    Files are written before the rows; if anything fails half-way the files written so
    far are removed, so a failed store leaves no orphans behind.
    """
    written: list[str] = []
    rows: list[ResultImage] = []
    try:
        for position, image in enumerate(result.images):
            decoded = describe_result(image.data)
            row = ResultImage(
                edit=edit,
                position=position,
                content_type=image.content_type,
                width=decoded.width,
                height=decoded.height,
                size_bytes=len(image.data),
                revised_prompt=image.revised_prompt or "",
            )
            row.file.save(f"{position}.{row.extension}", ContentFile(image.data), save=False)
            written.append(row.file.name)
            row.thumbnail.save(f"{position}.webp", ContentFile(decoded.thumbnail), save=False)
            written.append(row.thumbnail.name)
            rows.append(row)
        with transaction.atomic():
            ResultImage.objects.bulk_create(rows)
            edit.status = Status.SUCCEEDED
            edit.error_code = edit.error_message = edit.error_detail = ""
            edit.trace_id = result.trace_id or edit.trace_id
            edit.task_id = result.task_id or edit.task_id
            edit.request_id = result.request_id or edit.request_id
            edit.upstream_created = result.created
            edit.upstream_elapsed = result.elapsed
            edit.usage = result.usage
            edit.finished_at = timezone.now()
            edit.save()
    except Exception:
        for name in written:
            try:
                ResultImage.file.field.storage.delete(name)
            except Exception:  # pragma: no cover - best effort cleanup
                log.exception("Could not remove %s after a failed store", name)
        raise
