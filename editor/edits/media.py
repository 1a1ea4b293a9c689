"""Where the images live, and how their bytes move.

Media goes to Django's default storage: a folder on this machine (the default), or any
S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Backblaze B2, ...) with
`MEDIA_STORAGE_BACKEND=s3`, which is `S3MediaStorage` below on django-storages. Either
way:

- Nothing is public. Every file is served by a view that checked the person may see
  it; with `RETOUCH_MEDIA_REDIRECT=true` that view answers with a redirect to a
  presigned URL valid for minutes, so the web process does not carry the bytes, and the
  bucket itself stays private (objects are written without an ACL).
- Large files are streamed both ways. Writes hand the storage a file object (an upload
  spooled to disk, a result's bytes) and boto3 sends it in parts; downloads and zips
  read the object as it arrives (`open_stream`), never whole. Where a reader needs to
  seek (Pillow for thumbnails, the upload of sources to the image service), the object
  is spooled to a temporary file past FILE_UPLOAD_MAX_MEMORY_SIZE instead of memory.
  Measured by benchmarks/s3_streaming.py.
- A storage that cannot be reached or refuses a write raises `StorageUnavailable`
  from the code that writes (`writing()`): the edit form then says so (HTTP 503) and
  keeps nothing, and a finishing edit keeps its results in the database until the
  bucket takes them (`HeldResult`, `reconcile.store_held_results`).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import BinaryIO

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext

try:  # the `s3` extra (pyproject.toml): only deployments with a bucket install it
    from boto3.exceptions import Boto3Error
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
    from storages.backends.s3 import S3Storage
    from storages.utils import clean_name
except ImportError:  # pragma: no cover - exercised only without the extra
    S3Storage = None
    STORAGE_ERRORS: tuple[type[BaseException], ...] = (OSError,)
else:
    STORAGE_ERRORS = (OSError, BotoCoreError, ClientError, Boto3Error)

MB = 1024 * 1024
# Downloads are sent on in pieces of this size (FileResponse's own default is 4 KB).
CHUNK = 256 * 1024
# How long a presigned URL of RETOUCH_MEDIA_REDIRECT stays valid; the redirect itself may
# be reused by the browser for half of it (a thumbnail shown again costs no request).
REDIRECT_SECONDS = 300
# What a page says while the storage cannot take files; the form is refused with 503.
RETRY_AFTER_SECONDS = 60


class StorageUnavailable(Exception):
    """The media storage could not be reached or refused a write; nothing was kept."""


@contextmanager
def writing() -> Iterator[None]:
    """Writes to the media storage inside this block raise StorageUnavailable, whatever
    the storage's own exception (a full disk, an unreachable endpoint, AccessDenied)."""
    try:
        yield
    except STORAGE_ERRORS as exc:
        raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc


def unavailable_message() -> str:
    return gettext(
        "Retouch cannot store photos right now: its file storage is unavailable. "
        "Nothing was saved or sent; try again in a minute."
    )


def retry_at():
    return timezone.now() + timedelta(seconds=RETRY_AFTER_SECONDS)


if S3Storage is not None:

    def _parts_two_at_a_time() -> TransferConfig:
        """Writes of more than 8 MB go up in parts of 8 MB, two at a time, with at most two
        read ahead: boto3 copies each part of a file object into memory before sending it,
        and by default reads ten ahead (a 48 MB upload is then held whole). So a write
        costs ~29 MB of memory whatever the file's size (benchmarks/s3_streaming.py)."""
        config = TransferConfig(
            multipart_threshold=8 * MB, multipart_chunksize=8 * MB, max_concurrency=2
        )
        config.max_in_memory_upload_chunks = 2  # s3transfer's, not in boto3's signature
        return config

    class S3MediaStorage(S3Storage):
        """django-storages' S3Storage with Retouch's defaults (`MEDIA_STORAGE_BACKEND=s3`).
        Any of them can be changed in MEDIA_STORAGE_OPTIONS (JSON), as can every option
        of S3Storage: `bucket_name` (required), `endpoint_url` for a store other than AWS,
        `region_name`, `location` (a prefix). Credentials come from the standard
        AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or an instance role)."""

        def get_default_settings(self) -> dict:
            return {
                **super().get_default_settings(),
                # Private objects (the bucket's default), reachable only through
                # presigned URLs that expire within minutes.
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": REDIRECT_SECONDS,
                "signature_version": "s3v4",
                # Names are random (models/files.py): no existence check before a write.
                "file_overwrite": True,
                # A file opened for seeking spills to disk past this, not to memory.
                "max_memory_size": settings.FILE_UPLOAD_MAX_MEMORY_SIZE,
                "transfer_config": _parts_two_at_a_time(),
            }

        def __init__(self, **options) -> None:
            super().__init__(**options)
            # Fail in seconds, not minutes, when the endpoint is down: a person is
            # waiting on the form. Checksums only where the API requires them, as the
            # S3-compatible stores other than AWS expect (botocore's newer default sends
            # CRC32 headers some refuse). Options given in client_config take precedence.
            defaults = Config(
                signature_version=self.signature_version,
                connect_timeout=5,
                read_timeout=60,
                retries={"mode": "standard", "max_attempts": 3},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            self.client_config = defaults.merge(self.client_config)

        def open_stream(self, name: str) -> BinaryIO:
            """The object read front to back as it arrives (one GET, not seekable)."""
            key = self._normalize_name(clean_name(name))
            try:
                answer = self.bucket.Object(key).get()
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    raise FileNotFoundError(name) from exc
                raise
            return ObjectStream(answer["Body"], answer["ContentLength"])

        def signed_url(self, name: str, content_type: str, disposition: str) -> str:
            """A presigned GET of the object, answered with these headers."""
            parameters = {
                "ResponseContentType": content_type,
                "ResponseContentDisposition": disposition,
            }
            return self.url(name, parameters=parameters, expire=self.querystring_expire)

else:  # pragma: no cover
    S3MediaStorage = None


class ObjectStream(io.RawIOBase):
    """An object's body as a file to read once, front to back, with its size known."""

    def __init__(self, body, size: int) -> None:
        self._body = body
        self.size = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._body.read(None if size is None or size < 0 else size)

    def readinto(self, buffer) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def open_stream(fieldfile) -> BinaryIO:
    """A stored file opened to be read once, front to back: from a bucket as its bytes
    arrive (never whole in memory or on disk), from a folder as the file itself.
    FileNotFoundError when it is not there."""
    storage = fieldfile.storage
    if hasattr(storage, "open_stream"):
        return storage.open_stream(fieldfile.name)
    return storage.open(fieldfile.name, "rb")


def file_response(fieldfile, content_type: str, filename: str, *, attachment: bool):
    """A stored file as the answer to a request that already passed the permission check:
    a redirect to a short-lived presigned URL (RETOUCH_MEDIA_REDIRECT with a bucket), or
    the bytes streamed through this process. 404 when it is missing, 503 while the
    storage cannot be reached."""
    if not fieldfile:
        raise Http404
    storage = fieldfile.storage
    disposition = content_disposition_header(attachment, filename)
    if settings.RETOUCH_MEDIA_REDIRECT and hasattr(storage, "signed_url"):
        url = storage.signed_url(fieldfile.name, content_type, disposition)
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = f"private, max-age={storage.querystring_expire // 2}"
        return response
    try:
        handle = open_stream(fieldfile)
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    except STORAGE_ERRORS:
        message = gettext("Retouch cannot reach its file storage right now; try again in a minute.")
        response = HttpResponse(message, status=503, content_type="text/plain")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    response = FileResponse(
        handle, content_type=content_type, as_attachment=attachment, filename=filename
    )
    response.block_size = CHUNK
    if isinstance(handle, ObjectStream):
        response["Content-Length"] = str(handle.size)
    response["Cache-Control"] = "private, max-age=3600"
    return response
