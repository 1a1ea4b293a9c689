"""The gateway's callback: where an edit sent in callback mode reports its outcome.

The gateway signs nothing, so the URL is the secret: each edit has its own random
token, compared in constant time, and it only opens the door while the edit is still
waiting. The view answers at once: it streams the body (bounded) to storage while
checking which task it is about, and leaves parsing, downloading and thumbnails to the
worker (`finish_callback`). Callbacks for an edit that is already final change nothing.
"""

import logging
import secrets
import tempfile

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from editor.upstream import CallbackTaskId

from .delivery import MB, spool_name
from .media import STORAGE_ERRORS
from .models import Delivery, Edit, Status
from .queueing import queue_callback

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
# Bodies up to this size stay in memory while they are checked; larger ones go to a
# temporary file first, so memory stays flat whatever the gateway sends.
IN_MEMORY = 1 * MB
# Compared against when the edit does not exist, so both cases take the same time.
_NO_TOKEN = secrets.token_urlsafe(32)


def _answer(status: int, outcome: str) -> JsonResponse:
    return JsonResponse({"status": outcome}, status=status)


def body_stream(request: HttpRequest, limit: int):
    """The request body, read straight from the server's input.

    Django's own `request.read()` stops at Content-Length, so a chunked body (which has
    none) reads as empty. A server that decodes chunked bodies itself and ends the input
    where the body ends says so with `wsgi.input_terminated` (gunicorn does); werkzeug's
    `get_input_stream` is the standard reading of that rule: Content-Length when there
    is one, the terminated input otherwise, and an empty body from a server that gives
    neither. It stops one byte past `limit` so the caller sees the overflow and answers
    413 before storing anything.
    """
    return get_input_stream(request.META, max_content_length=limit + 1)


@csrf_exempt
@require_POST
def edit_callback(request: HttpRequest, pk: int, token: str) -> JsonResponse:
    edit = (
        Edit.objects.filter(pk=pk)
        .only("pk", "status", "delivery", "task_id", "callback_token")
        .first()
    )
    expected = edit.callback_token if edit else _NO_TOKEN
    if not secrets.compare_digest(expected.encode(), token.encode()) or edit is None:
        return _answer(404, "unknown")
    if edit.is_final:
        # A duplicate or late callback: the edit is settled, and stays as it is.
        return _answer(200, "already-final")
    if edit.status != Status.RUNNING or edit.delivery != Delivery.CALLBACK:
        return _answer(409, "not-waiting")

    limit = settings.RETOUCH_CALLBACK_MAX_MB * MB
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        return _answer(413, "too-large")
    task = CallbackTaskId()
    stream = body_stream(request, limit)
    with tempfile.SpooledTemporaryFile(max_size=IN_MEMORY) as body:
        size = 0
        try:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    return _answer(413, "too-large")
                task.feed(chunk)
                body.write(chunk)
        except RequestEntityTooLarge:
            return _answer(413, "too-large")
        except ClientDisconnected:
            return _answer(400, "incomplete")
        if task.task_id is None:
            return _answer(400, "no-task-id")
        # Before our own request's answer is recorded the task id is not known yet; the
        # worker then waits for it and checks again.
        if edit.task_id and not secrets.compare_digest(
            edit.task_id.encode(), task.task_id.encode()
        ):
            log.warning("Edit %s: refused a callback for another task", edit.pk)
            return _answer(409, "wrong-task")
        body.seek(0)
        try:
            name = default_storage.save(spool_name(edit), File(body))
        except STORAGE_ERRORS:
            # Kept nowhere: the gateway may send it again, and the reconciler asks the
            # Tasks API once the callback is overdue.
            log.warning("Edit %s: the storage did not take its callback", edit.pk)
            return _answer(503, "storage-unavailable")

    queue_callback(edit.pk, name)
    return _answer(202, "accepted")
