"""How an edit reaches the image service and how its outcome comes back.

One attempt is: claim the queued edit (a conditional UPDATE that only one worker can
win, giving it a lease), send it, then either store the answer (`sync`: the worker
waits on the open request) or record the task id the gateway returned and let go
(`callback`: the answer arrives later at the webhook, or through the Tasks API when
the callback is overdue; see `reconcile.py`). While a worker works on an edit a
background thread renews its lease, so a crashed worker's edits are recognised by
their lease running out, not by guessing from timestamps. An edit without photos
(`Edit.is_generation`) goes to images/generations the same way, in either mode.

Where the model streams at the configured service, a synchronous attempt asks for
partial images (`RETOUCH_PARTIAL_IMAGES`, 0-3) and stores each as a small preview as
it arrives (`PreviewImage`, only under the lease); the card and the detail page show
the latest one until the result replaces it, and the previews are deleted once the
edit is final. A stream that breaks mid-way is a network error like any other.

Failures the service says are worth another try (429, 5xx, time-outs, network
errors) go back to the queue with exponential backoff and jitter, never sooner than
the service's Retry-After, until `RETOUCH_MAX_ATTEMPTS`; everything else fails at
once with the message `UpstreamError` carries.

Called by the tasks (`tasks.py`) and the reconciler; queues further attempts through
`queueing.py`, so it never imports either of them.
"""

from __future__ import annotations

import copy
import logging
import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from editor.logs import bind as log_ids
from editor.upstream import (
    CallbackTaskId,
    EditRequest,
    EditResult,
    GenerateRequest,
    ImageInput,
    ImagesClient,
    UpstreamError,
    can_stream,
    parse_callback,
    response_format_for,
    service_for,
)
from editor.upstream.error_messages import TRY_AGAIN, english

from .costs import TOKENS_PER_PARTIAL_IMAGE
from .media import StorageUnavailable
from .models import Delivery, Edit, HeldResult, PreviewImage, Status
from .queueing import queue_attempt, queue_callback
from .services import store_results, upstream_client

log = logging.getLogger(__name__)

MB = 1024 * 1024
# Failures in *reading* an answer the service already produced (its result URL did not
# download, our connection broke): asking the Tasks API again later can still succeed,
# so these never cost a second edit upstream.
# Partial images asked for where the model streams and RETOUCH_PARTIAL_IMAGES is unset:
# two show progress early (a quarter and half-way through) for ~200 output tokens. None
# at the gateway: its stream carries no trace_id, the id its support asks for, and it
# documents streaming only "where supported".
DEFAULT_PARTIAL_IMAGES = {"openai": 2, "gateway": 0, "unknown": 2}
MAX_PARTIAL_IMAGES = 3
READ_ERRORS = frozenset({"download_failed", "timeout", "connection_lost", "connect_error"})
# A callback is not signed: these outcomes of one are checked with the Tasks API.
UNTRUSTED_CALLBACK_ERRORS = READ_ERRORS | {"malformed_response", "result_host_refused"}
# How long a callback that overtook the answer to our own request waits for the task id
# to be recorded (one try a second).
EARLY_CALLBACK_TRIES = 30

# Stored in English like the image service's messages; a page shows them in its reader's
# language (Edit.plain_error_message), so each sentence is in the catalogue.
INTERNAL_ERROR_MESSAGE = english(
    (
        gettext_noop("Something went wrong inside Retouch while sending this edit."),
        gettext_noop("Try again; if it keeps failing, tell your administrator."),
    )
)
STORE_FAILED_MESSAGE = english(
    (
        gettext_noop("The edit finished but Retouch could not save the result."),
        gettext_noop("Try again."),
    )
)
WORKER_LOST_MESSAGE = english(
    (
        gettext_noop("The worker sending this edit stopped before the image service answered."),
        TRY_AGAIN,
    )
)


def delivery_mode() -> str:
    return Delivery.CALLBACK if settings.RETOUCH_DELIVERY == Delivery.CALLBACK else Delivery.SYNC


def callback_url(edit: Edit) -> str:
    """The webhook address for this edit; its token is the only proof a callback is real."""
    path = reverse("edit_callback", args=[edit.pk, edit.callback_token])
    return settings.PUBLIC_URL + path


def retry_delay(retry_number: int, retry_after: float | None = None) -> float:
    """Seconds before automatic retry number `retry_number` (1 for the first).

    Exponential with "equal jitter" (between half and all of the step), so 200 edits
    that hit the same 429 do not come back in one burst; never sooner than the
    service's Retry-After.
    """
    step = settings.RETOUCH_RETRY_BASE_SECONDS * 2 ** max(retry_number - 1, 0)
    step = min(settings.RETOUCH_RETRY_MAX_SECONDS, step)
    delay = random.uniform(step / 2, step)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def configured_service() -> str:
    return service_for(settings.OPENAI_BASE_URL, settings.RETOUCH_SERVICE)


def partial_images_for(model: str) -> int:
    """How many previews to ask of the service for an edit with `model`: the setting
    RETOUCH_PARTIAL_IMAGES (0-3; unset: 2 at OpenAI and unknown services, 0 at the
    gateway) where the model streams at the configured service (the catalogue's
    `can_stream`), none elsewhere."""
    service = configured_service()
    if not can_stream(model, service):
        return 0
    wanted = settings.RETOUCH_PARTIAL_IMAGES
    wanted = DEFAULT_PARTIAL_IMAGES[service] if wanted is None else int(wanted)
    return max(0, min(MAX_PARTIAL_IMAGES, wanted))


def build_request(edit: Edit, stack: ExitStack) -> EditRequest | GenerateRequest:
    """The upstream request for an edit, with its stored files opened for streaming; for
    an image created from the prompt alone (`Edit.is_generation`), a generation."""
    if edit.is_generation:
        return GenerateRequest(
            model=edit.model,
            prompt=edit.prompt,
            user=_user_id(edit),
            **_params(edit, generation=True),
        )
    images = [
        ImageInput(
            filename=source.original_name or PurePosixPath(source.file.name).name,
            content_type=source.content_type,
            fileobj=stack.enter_context(source.file.storage.open(source.file.name, "rb")),
        )
        for source in edit.sources.all()
    ]
    mask = None
    if edit.mask:
        mask = ImageInput(
            "mask.png", "image/png", stack.enter_context(edit.mask.storage.open(edit.mask.name))
        )
    return EditRequest(
        model=edit.model,
        prompt=edit.prompt,
        images=images,
        mask=mask,
        user=_user_id(edit),
        **_params(edit),
    )


def _user_id(edit: Edit) -> str | None:
    return f"retouch-user-{edit.created_by_id}" if edit.created_by_id else None


def _params(edit: Edit, *, generation: bool = False) -> dict:
    """The edit's options as sent: a generation leaves out input_fidelity (it matches
    source images, of which it has none)."""
    params = dict(edit.params)
    if generation:
        params.pop("input_fidelity", None)
    # Which kind of result to ask for is the model's and the service's rule (several
    # results only as links at the gateway, none at all for nano-banana or for gpt-image
    # models at OpenAI): the client package decides, the operator's preference aside.
    service = configured_service()
    response_format = response_format_for(
        edit.model, service, params.get("n"), preferred=settings.OPENAI_RESPONSE_FORMAT or None
    )
    params.pop("response_format", None)
    if response_format:
        params["response_format"] = response_format
    return params


@contextmanager
def holding(edit: Edit) -> Iterator[None]:
    """Renew `edit`'s lease from a background thread for as long as the block runs.

    Nothing is written until a third of the lease has passed, so quick work costs no
    extra queries. The thread stops by itself when the lease is no longer ours.
    """
    seconds = settings.RETOUCH_LEASE_SECONDS
    snapshot = copy.copy(edit)
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(seconds / 3):
                renewed = snapshot.renew_lease(seconds)
                # No connection kept between renewals: a worker renewing the leases of
                # 25 long edits would hold 25 more (PostgreSQL allows 100 in all).
                connections.close_all()
                if not renewed:
                    if not stop.is_set():
                        log.warning("Edit %s: lease lost while working on it", snapshot.pk)
                    return
        except Exception:
            log.exception("Edit %s: could not renew the lease", snapshot.pk)
        finally:
            connections.close_all()

    thread = threading.Thread(target=renew, name=f"lease-edit-{edit.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def release_connection() -> None:
    """While the service takes an edit (an upload) or works on a sync one (10-60 s,
    previews apart) the thread reads and writes nothing: its connection goes back to the
    pool (RETOUCH_DB_POOL), so that a worker's threads share a few; a persistent one is
    kept, as it would only be opened again. Not inside a transaction (a test's)."""
    connection = connections["default"]
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def run_attempt(edit_id: int) -> str:
    """One attempt at an edit; returns what happened, for the task result and the logs."""
    mode = delivery_mode()
    edit = Edit(pk=edit_id)  # claimed by id; the row is read once, by a successful claim
    if not edit.claim(mode, settings.RETOUCH_LEASE_SECONDS):
        return "not-queued" if Edit.objects.filter(pk=edit_id).exists() else "missing"
    with holding(edit), ExitStack() as stack:
        client = stack.enter_context(upstream_client())
        try:
            request = build_request(edit, stack)
            if mode == Delivery.CALLBACK:
                request.callback_url = callback_url(edit)
                release_connection()  # the upload of large photos takes a while
                accepted = client.submit(request)
            else:
                result = edit_with_previews(edit, client, request)
        except UpstreamError as exc:
            return _tidy_previews(edit, after_failure(edit, exc))
        except Exception as exc:
            log.exception("Edit %s failed unexpectedly", edit.pk)
            edit.mark_failed("internal_error", INTERNAL_ERROR_MESSAGE, repr(exc))
            return _tidy_previews(edit, "failed")
        if mode == Delivery.CALLBACK:
            log_ids(trace_id=accepted.trace_id, request_id=accepted.request_id)
            recorded = edit.record_submission(
                accepted.task_id, accepted.trace_id or "", accepted.request_id or ""
            )
            return "submitted" if recorded else "lease-lost"
        return _tidy_previews(edit, finish(edit, result))


def edit_with_previews(
    edit: Edit, client: ImagesClient, request: EditRequest | GenerateRequest
) -> EditResult:
    """Send a synchronous edit (or generation), storing each partial image the service
    streams as a preview as it arrives; returns the result, its usage counting the
    previews."""
    partials = partial_images_for(edit.model)
    if not partials:
        release_connection()
        return client.run(request)
    # From earlier attempts whose stream broke (the first attempt has none to count).
    earlier = edit.previews.count() if edit.attempts > 1 else 0
    stream = client.edit_stream(request, partials)
    release_connection()
    for partial in stream:
        PreviewImage.store(edit, partial.index, partial.data)
        release_connection()
    assert stream.result is not None  # set whenever the iteration ends without raising
    result = stream.result
    if earlier or stream.partials:
        # The completed event's usage counts its own attempt's previews in output_tokens
        # (the contract: "about 100 extra output tokens" each, as the simulator reports
        # them); the previews of broken attempts are in no usage the service sent, so they
        # are estimated on top, for the cost and the budget.
        result.usage = {
            **(result.usage or {}),
            "partial_images": earlier + stream.partials,
            "partial_image_tokens": earlier * TOKENS_PER_PARTIAL_IMAGE,
        }
    return result


def _tidy_previews(edit: Edit, outcome: str) -> str:
    """Previews go once the edit has its outcome (they stay while it waits for another
    attempt, so its card keeps showing the latest). Returns `outcome`."""
    if outcome in ("retrying", "succeeded"):  # succeeded: gone in its commit (succeed())
        return outcome
    # Failed, or no longer ours: it may be pending still, in another worker's hands.
    if not Edit.objects.filter(pk=edit.pk).pending().exists():
        PreviewImage.discard(edit)
    return outcome


def finish(edit: Edit, result: EditResult) -> str:
    """Store the images of a successful edit the caller holds the lease on. While the
    media storage cannot take them they are held in the database instead ("held"), and
    the reconciler stores them later (models/held.py): never lost, never paid twice."""
    log_ids(trace_id=result.trace_id, request_id=result.request_id)
    try:
        stored = store_results(edit, result)
    except StorageUnavailable as exc:
        log.warning("Edit %s: results held until the storage takes them (%s)", edit.pk, exc)
        return "held" if HeldResult.hold(edit, result) else "lease-lost"
    except Exception as exc:
        log.exception("Edit %s: could not store results", edit.pk)
        edit.mark_failed(
            "store_failed",
            STORE_FAILED_MESSAGE,
            repr(exc),
            trace_id=result.trace_id or "",
            request_id=result.request_id or "",
        )
        return "failed"
    # With their thumbnails (store_results): the card that turns "Done" shows its picture.
    return "succeeded" if stored else "lease-lost"


def after_failure(edit: Edit, exc: UpstreamError) -> str:
    """Retry later or fail for good, for an edit the caller holds the lease on."""
    log_ids(trace_id=exc.trace_id, request_id=exc.request_id)
    log.warning("Edit %s attempt %s failed: %s", edit.pk, edit.attempts, exc)
    ids = {"trace_id": exc.trace_id or "", "request_id": exc.request_id or ""}
    attempt_number = edit.retries + 1
    if exc.retryable and attempt_number < settings.RETOUCH_MAX_ATTEMPTS:
        when = timezone.now() + timedelta(seconds=retry_delay(attempt_number, exc.retry_after))
        if not edit.schedule_retry(when, exc.code, exc.message, exc.detail, **ids):
            return "lease-lost"
        queue_attempt(edit.pk, when)
        return "retrying"
    edit.mark_failed(exc.code, exc.gave_up_message(attempt_number), exc.detail, **ids)
    return "failed"


def give_up_or_retry_lost_attempt(edit: Edit) -> str:
    """The worker holding `edit` died before the service accepted it (we have no task id):
    only a new attempt can produce the images. The caller holds the lease."""
    exc = UpstreamError(
        "worker_lost",
        WORKER_LOST_MESSAGE,
        detail="the lease of the worker handling this attempt ran out",
        retryable=True,
    )
    return after_failure(edit, exc)


# -- callbacks -------------------------------------------------------------------------


def spool_name(edit: Edit) -> str:
    """Where the webhook keeps a callback body until a worker reads it."""
    return f"callbacks/{edit.pk}-{uuid.uuid4().hex}.json"


def finish_from_callback(edit_id: int, name: str, tries: int = 0) -> str:
    """Finish an edit from a callback body the webhook spooled to storage.

    The webhook already checked the URL token and the task id as the body streamed
    past; here the body is parsed for real and checked again before anything is
    downloaded or stored. It is read from storage in chunks, never whole: its images
    are decoded as they stream past (`parse_callback` on a file). The spooled file is
    removed in every case but one: a callback that arrived before our own request's
    answer was recorded waits for it.
    """
    keep = False
    try:
        edit = Edit.objects.filter(pk=edit_id).first()
        if edit is None or edit.is_final:
            return "ignored"
        log_ids(trace_id=edit.trace_id, request_id=edit.request_id)  # the service's, so far
        if default_storage.size(name) > settings.RETOUCH_CALLBACK_MAX_MB * MB:
            return "too-large"
        claimed_task = _claimed_task(name)
        if not edit.task_id and _still_submitting(edit) and tries < EARLY_CALLBACK_TRIES:
            keep = True
            queue_callback(edit_id, name, tries + 1, when=timezone.now() + timedelta(seconds=1))
            return "early"
        if not edit.task_id or claimed_task != edit.task_id:
            log.warning("Edit %s: dropped a callback for another task", edit.pk)
            return "mismatched"
        if not edit.claim_finish(settings.RETOUCH_LEASE_SECONDS):
            return "ignored"
        with holding(edit), upstream_client() as client, default_storage.open(name, "rb") as fh:
            try:
                result = parse_callback(fh, client=client)
            except UpstreamError as exc:
                if exc.task_id != edit.task_id or exc.code in UNTRUSTED_CALLBACK_ERRORS:
                    # Not a failure the service reported for this task (or a result at an
                    # address we do not download from, which a forged callback could
                    # carry): the reconciler asks the Tasks API instead, which fails the
                    # edit if the service itself answers so.
                    log.warning("Edit %s: unusable callback (%s)", edit.pk, exc)
                    edit.release_lease()
                    return "unusable"
                return after_failure(edit, exc)
            if result.task_id != edit.task_id:
                edit.release_lease()
                return "mismatched"
            return finish(edit, result)
    finally:
        if not keep:
            with suppress(Exception):
                default_storage.delete(name)


def _claimed_task(name: str) -> str | None:
    """The task id a spooled callback body names, read until it is found."""
    task = CallbackTaskId()
    with default_storage.open(name, "rb") as fh:
        while task.task_id is None and (chunk := fh.read(64 * 1024)):
            task.feed(chunk)
    return task.task_id


def _still_submitting(edit: Edit) -> bool:
    return (
        edit.status == Status.RUNNING
        and edit.delivery == Delivery.CALLBACK
        and edit.lease_expires_at is not None
        and edit.lease_expires_at > timezone.now()
    )
