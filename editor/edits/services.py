"""Rules that span several models: creating an edit with its files, storing what the
service sent back, deleting an edit with its files. Used by the views and by
`delivery.py`; imports only models (and `queueing` to hand a new edit to the worker)."""

import io
import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import ngettext

from editor.teams.models import Activity
from editor.upstream import EditResult, ImagesClient

from . import limits
from .imaging import DECODE_ERRORS, make_thumbnail, result_size
from .media import STORAGE_ERRORS, writing
from .models import Batch, Edit, LedgerEntry, ResultImage, SourceImage, Status
from .queueing import queue_attempt

log = logging.getLogger(__name__)

# How long a finishing edit waits for a decode slot to make its thumbnails before the
# commit (a 1024² PNG takes ~40 ms, a 4K one ~0.2 s); past it, they are made after.
THUMBNAIL_WAIT_SECONDS = 1.0


def upstream_client() -> ImagesClient:
    return ImagesClient(
        base_url=settings.OPENAI_BASE_URL,
        api_key=settings.OPENAI_API_KEY,
        timeout=settings.OPENAI_TIMEOUT,  # to read the answer; connecting has its own bound
        result_hosts=settings.RETOUCH_RESULT_HOSTS,
    )


def enqueue_edit(edit: Edit) -> None:
    """Hand the edit to the worker.

    The queue is a table in the same database, so inside a transaction the task row
    commits (or rolls back) together with the edit: a worker never sees one without the
    other, and no second write transaction is needed after the commit.
    """
    queue_attempt(edit.pk)


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
    """Store a new edit with its photos and mask, and queue it; LimitReached (and nothing
    stored) when the person's rate limit or the team's budget does not allow it now.
    Without photos it is a generation (`Edit.Kind.GENERATION`).

    The files are written first, then the rows in one short transaction, which also
    checks and counts the start (limits.admit): on SQLite one writer at a time gets in,
    and nobody should wait while another writes files. The check comes last: it locks
    the person's and the team's rows until the commit, and on PostgreSQL the person's
    other starts wait for that lock. If the rows cannot be stored, the files written for
    them are removed again. StorageUnavailable (and nothing stored) when the media
    storage cannot take the files.
    """
    written: list[str] = []
    try:
        sources = []
        for position, (upload, fact) in enumerate(zip(images, facts, strict=True)):
            sources.append(_write_source(position, upload, fact, written))
        edit = Edit(
            team=membership.team,
            created_by=membership.user,
            # No photo: an image created from the prompt alone (the form refuses a mask).
            kind=Edit.Kind.EDIT if sources else Edit.Kind.GENERATION,
            model=model,
            prompt=prompt,
            params=params,
            parent=parent,
        )
        if mask:
            with writing():
                edit.mask.save("mask.png", mask, save=False)
            written.append(edit.mask.name)
        with transaction.atomic():
            edit.save()
            for source in sources:
                source.edit = edit
            SourceImage.objects.bulk_create(sources)
            Activity.objects.record(edit.team, membership.user, Activity.Verb.EDIT_CREATED, prompt)
            enqueue_edit(edit)
            limits.admit(edit.team, membership.user, LedgerEntry.Kind.STARTED, edit)
    except Exception:
        _remove(written)
        raise
    return edit


def _write_source(position: int, upload, fact, written: list[str]) -> SourceImage:
    """Write one uploaded photo to storage as the SourceImage at `position` (the row is
    saved later, with its edit); its file name goes on `written` for the clean-up."""
    source = SourceImage(
        position=position,
        original_name=upload.name[:255],
        content_type=fact.content_type,
        width=fact.width,
        height=fact.height,
        size_bytes=upload.size,
    )
    with writing():  # StorageUnavailable when the storage cannot take it
        source.file.save(f"{position}.{source.extension}", upload, save=False)
    written.append(source.file.name)
    return source


def retry_edit(edit: Edit, *, by) -> bool:
    """A person's Retry of a failed edit: back to the queue, counted like a new start;
    False when it was not failed any more (a concurrent Retry won), LimitReached when a
    limit does not allow it. Only the request that really requeued it queues a task."""
    with transaction.atomic():
        if not edit.requeue():
            return False
        limits.admit(edit.team, by, LedgerEntry.Kind.RETRIED, edit)
        enqueue_edit(edit)
    return True


def store_results(edit: Edit, result: EditResult) -> bool:
    """Keep every result byte-for-byte as the service returned it, with its gallery
    thumbnail, and mark the edit done; False (and nothing kept) when the edit is no longer
    ours to finish.

    Each thumbnail is made from the bytes in hand, before the commit that makes the
    result visible: the card an open page fetches at that moment shows its picture at
    once, and nobody reads the result back or decodes it a second time (a first look
    racing the worker used to make one of its own). Making one waits at most
    THUMBNAIL_WAIT_SECONDS for a decode slot, so a burst of edits finishing at once is
    not held back from showing; one not made then is made after the commit, and one
    that does not decode is left to the first look (ResultImage.ensure_thumbnail).

    Files are written before the rows; if anything fails half-way, or the worker's lease
    was lost meanwhile (the reconciler gave the edit to someone else or the deadline
    failed it), the files written so far are removed, so no orphans are left behind and
    an edit never gets two sets of results. StorageUnavailable when the media storage
    cannot take them (delivery.finish then holds them in the database).
    """
    written: list[str] = []
    rows: list[ResultImage] = []
    later: list[ResultImage] = []  # no decode slot in time: thumbnails after the commit
    try:
        for position, image in enumerate(result.images):
            # From the header alone: a 4K result is not decoded here (imaging.result_size).
            width, height = result_size(image.data)
            row = ResultImage(
                edit=edit,
                position=position,
                content_type=image.content_type,
                width=width,
                height=height,
                size_bytes=len(image.data),
                revised_prompt=image.revised_prompt or "",
            )
            # The bytes are written from where the client decoded them, with no copy:
            # ContentFile's BytesIO shares an immutable bytes object until written to,
            # and the storage writes it out 64 KB at a time (a 4K PNG: no rise in peak
            # memory, benchmarks/large_results.py).
            with writing():
                row.file.save(f"{position}.{row.extension}", ContentFile(image.data), save=False)
            written.append(row.file.name)
            if not _add_thumbnail(row, image.data, written):
                later.append(row)
            rows.append(row)
        finished = edit.succeed(result, rows)
    except Exception:
        _remove(written)
        raise
    if not finished:
        log.warning("Edit %s was no longer ours to finish; its results were dropped", edit.pk)
        _remove(written)
        return finished
    for row in later:
        try:
            row.ensure_thumbnail()
        except STORAGE_ERRORS as exc:  # the result itself is stored and shown
            log.warning("Edit %s: thumbnail %s not made (%s)", edit.pk, row.position, exc)
    return finished


def _add_thumbnail(row: ResultImage, data: bytes, written: list[str]) -> bool:
    """Give a result about to be stored its thumbnail, made from `data` and written to
    storage (its name goes on `written` for the clean-up). False when no decode slot was
    free in time; True otherwise, also for an image that does not decode (left to the
    first look, which shows the result as it is) or a thumbnail the storage refused."""
    try:
        thumbnail = make_thumbnail(io.BytesIO(data), wait=THUMBNAIL_WAIT_SECONDS)
    except TimeoutError:
        return False
    except DECODE_ERRORS as exc:
        log.warning("Edit %s: result %s does not decode (%s)", row.edit_id, row.position, exc)
        return True
    try:
        row.thumbnail.save(f"{row.position}.webp", ContentFile(thumbnail), save=False)
    except STORAGE_ERRORS as exc:
        log.warning("Edit %s: thumbnail %s not stored (%s)", row.edit_id, row.position, exc)
        row.thumbnail.name = ""
        return True
    written.append(row.thumbnail.name)
    return True


def _remove(names: list[str]) -> None:
    for name in names:
        try:
            ResultImage.file.field.storage.delete(name)
        except Exception:  # pragma: no cover - best effort cleanup
            log.exception("Could not remove %s", name)


class EditInProgress(Exception):
    """The edit is being made right now; it can be deleted once it has finished."""


def delete_edit(edit: Edit, *, by) -> None:
    """Delete an edit with its images, and their files once the deletion is committed.

    Files go only after the commit: if the transaction rolls back, the rows still point
    at files that still exist. A running edit is refused, because its worker (or the
    service's callback) is about to write results for it; the row lock makes that check
    race-free against a worker claiming a queued edit at the same moment.
    """
    with transaction.atomic():
        locked = Edit.objects.select_for_update().filter(pk=edit.pk).first()
        if locked is None:
            return
        if locked.status == Status.RUNNING:
            raise EditInProgress
        stored = _stored_files([locked])
        locked.delete()
        Activity.objects.record(edit.team, by, Activity.Verb.EDIT_DELETED, locked.prompt)
        transaction.on_commit(lambda: _remove_deleted_files(stored))


def _stored_files(edits: Iterable[Edit]) -> list:
    """(storage, name) of every file of these edits: photos, mask, results, thumbnails;
    read before the rows are deleted, removed after the commit."""
    files = []
    for edit in edits:
        files += [source.file for source in edit.sources.all()]
        if edit.mask:
            files.append(edit.mask)
        for result in edit.results.all():
            files += [result.file, *([result.thumbnail] if result.thumbnail else [])]
    return [(f.storage, f.name) for f in files]


def _remove_deleted_files(stored: list) -> None:
    for storage, name in stored:
        try:
            storage.delete(name)
        except Exception:  # a file left behind is harmless; failing the request is not
            log.exception("Could not remove %s of a deleted edit", name)


# --- Batches: one prompt applied to each of several photos ------------------------------


def create_batch(
    *,
    membership,
    model: str,
    prompt: str,
    params: dict,
    images: list,
    facts,
    mask=None,
    parent: Edit | None = None,
) -> Batch:
    """Store one edit per photo, grouped as a batch, and queue them all; LimitReached (and
    nothing stored) when the limits do not allow all of them now: a batch is its edits.

    As for one edit: each photo is written to storage in turn (an upload spooled to a
    temporary file is moved, not read into memory), then every row in one short
    transaction that also checks and counts the starts; if anything fails, every file
    written for the batch is removed again. With `parent` ("Edit this result"), the
    first photo is that result and its edit is the parent of the first edit only.
    """
    written: list[str] = []
    try:
        team, user = membership.team, membership.user
        edits, sources = [], []
        for index, (upload, fact) in enumerate(zip(images, facts, strict=True)):
            sources.append(_write_source(0, upload, fact, written))
            edit = Edit(
                team=team,
                created_by=user,
                model=model,
                prompt=prompt,
                params=params,
                parent=parent if index == 0 else None,
            )
            if mask:
                # A copy each: deleting one edit of the batch removes its own mask only.
                with writing():
                    edit.mask.save("mask.png", File(mask.file, name="mask.png"), save=False)
                written.append(edit.mask.name)
            edits.append(edit)
        with transaction.atomic():
            batch = Batch.objects.create(team=team, created_by=user, prompt=prompt)
            for edit in edits:
                edit.batch = batch
                edit.save()
            for edit, source in zip(edits, sources, strict=True):
                source.edit = edit
            SourceImage.objects.bulk_create(sources)
            summary = batch_summary(prompt, len(edits))
            Activity.objects.record(team, user, Activity.Verb.EDIT_CREATED, summary)
            for edit in edits:
                enqueue_edit(edit)
            limits.admit(team, user, LedgerEntry.Kind.STARTED, *edits)  # last: see create_edit
    except Exception:
        _remove(written)
        raise
    return batch


def batch_summary(prompt: str, count: int) -> str:
    """How the team's activity log names a batch (in the language of whoever acted: the
    log keeps what was written)."""
    return ngettext(
        "%(prompt)s (a batch of %(count)s photo)", "%(prompt)s (a batch of %(count)s photos)", count
    ) % {"prompt": prompt, "count": count}


def retry_batch(batch: Batch, *, by) -> int:
    """Retry every failed edit of the batch at once, counted like as many starts and
    refused whole (LimitReached) when the limits do not allow them all. Returns how
    many were queued again."""
    with transaction.atomic():
        failed = list(batch.edits.filter(status=Status.FAILED).select_for_update())
        requeued = [edit for edit in failed if edit.requeue()]
        if requeued:
            limits.admit(batch.team, by, LedgerEntry.Kind.RETRIED, *requeued)
        for edit in requeued:
            enqueue_edit(edit)
    return len(requeued)


def delete_batch(batch: Batch, *, by) -> int:
    """Delete a batch with all its edits and their files (after the commit); refused
    whole (EditInProgress) while any of its edits is being made. Returns how many edits
    went."""
    with transaction.atomic():
        edits = list(
            Edit.objects.select_for_update()
            .filter(batch=batch)
            .prefetch_related("sources", "results")
        )
        if any(edit.status == Status.RUNNING for edit in edits):
            raise EditInProgress
        stored = _stored_files(edits)
        Edit.objects.filter(pk__in=[edit.pk for edit in edits]).delete()
        batch.delete()
        summary = batch_summary(batch.prompt, len(edits))
        Activity.objects.record(batch.team, by, Activity.Verb.EDIT_DELETED, summary)
        transaction.on_commit(lambda: _remove_deleted_files(stored))
    return len(edits)
