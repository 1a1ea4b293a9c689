"""The edits app's models: `Edit` (edit.py) and its images (files.py); every change of
an edit's state is in states.py; the usage ledger the limits count is ledger.py; the
previews a streamed edit shows while it runs are previews.py; the workers' heartbeats
(read by /healthz) are heartbeat.py; changes.py is the log the open pages' event streams
read; keyset.py pages a queryset by cursor (the gallery's Older/Newer).
Everything is importable from here, as `from editor.edits.models import Edit, Status`;
migrations name the upload and token functions by this path."""

from .batch import Batch, max_batch
from .changes import Change
from .edit import Edit, EditQuerySet, Star, _new_callback_token
from .files import (
    ImageFileMixin,
    ResultImage,
    SourceImage,
    mask_upload_to,
    result_upload_to,
    source_upload_to,
    thumbnail_upload_to,
)
from .heartbeat import WorkerHeartbeat
from .held import HeldResult
from .ledger import LedgerEntry
from .previews import PreviewImage
from .states import PENDING_STATUSES, Delivery, Status

__all__ = [
    "PENDING_STATUSES",
    "Batch",
    "Change",
    "Delivery",
    "Edit",
    "EditQuerySet",
    "HeldResult",
    "ImageFileMixin",
    "LedgerEntry",
    "PreviewImage",
    "ResultImage",
    "SourceImage",
    "Star",
    "Status",
    "WorkerHeartbeat",
    "_new_callback_token",
    "mask_upload_to",
    "max_batch",
    "result_upload_to",
    "source_upload_to",
    "thumbnail_upload_to",
]
