"""Reading request bodies to disk and splitting multipart/form-data without loading it all.

The simulator must take 50 MB uploads the way the real gateway does, so a body is spooled to a
temporary file first and the parts are then streamed out of that file into their own spooled
files. ``cgi`` left the standard library in 3.13 and ``email`` parses into memory, hence this.
"""

from __future__ import annotations

import io
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from typing import IO, BinaryIO

CHUNK = 64 * 1024
# Bodies below this stay in memory; anything larger goes to a real temporary file.
SPOOL_IN_MEMORY = 1024 * 1024
MAX_PART_HEADERS = 16 * 1024
MAX_TEXT_FIELD = 1024 * 1024
MAX_PARTS = 256
# One chunk-size line per iteration; this many chunks is far beyond any real client.
MAX_CHUNKS = 10_000_000


class BodyTooLarge(Exception):
    """The body is over the server's limit (answered with 413)."""


class BodyIncomplete(Exception):
    """The client went away or sent a broken transfer encoding before the body ended."""


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data (answered with 400)."""


def spool_body(
    rfile: BinaryIO, headers: Message, limit: int
) -> tempfile.SpooledTemporaryFile[bytes]:
    """Copy the request body from ``rfile`` to a spooled temporary file, rewound.

    Handles ``Content-Length`` and ``Transfer-Encoding: chunked``; without either the body is
    empty. Raises ``BodyTooLarge`` before reading when a declared length is over ``limit``.
    """
    # Returned open: the caller owns it and closes it (it is a context manager).
    out: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=SPOOL_IN_MEMORY
    )
    try:
        if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
            _copy_chunked(rfile, out, limit)
        else:
            length = _content_length(headers)
            if length > limit:
                raise BodyTooLarge(length)
            _copy_exact(rfile, out, length)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def _content_length(headers: Message) -> int:
    raw = headers.get("Content-Length")
    if raw is None:
        return 0
    try:
        length = int(raw.strip())
    except ValueError:
        raise BodyIncomplete(f"bad Content-Length {raw!r}") from None
    if length < 0:
        raise BodyIncomplete(f"bad Content-Length {raw!r}")
    return length


def _copy_exact(rfile: BinaryIO, out: IO[bytes], length: int) -> None:
    remaining = length
    # Every read returns at least one byte or ends the body, so ``length + 1`` rounds suffice.
    for _ in range(length + 1):
        if remaining <= 0:
            return
        data = rfile.read(min(CHUNK, remaining))
        if not data:
            raise BodyIncomplete("client closed the connection mid-body")
        out.write(data)
        remaining -= len(data)


def _copy_chunked(rfile: BinaryIO, out: IO[bytes], limit: int) -> None:
    total = 0
    for _ in range(MAX_CHUNKS):
        line = rfile.readline(1024)
        if not line.endswith(b"\n"):
            raise BodyIncomplete("bad chunk-size line")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BodyIncomplete("bad chunk-size line") from None
        if size == 0:
            _skip_trailers(rfile)
            return
        total += size
        if total > limit:
            raise BodyTooLarge(total)
        _copy_exact(rfile, out, size)
        if rfile.read(2) != b"\r\n":
            raise BodyIncomplete("chunk not followed by CRLF")
    raise BodyIncomplete("too many chunks")


def _skip_trailers(rfile: BinaryIO) -> None:
    for _ in range(100):
        line = rfile.readline(8192)
        if line in (b"\r\n", b"\n", b""):
            return
    raise BodyIncomplete("too many trailer lines")


@dataclass
class Part:
    """One multipart part: text fields keep ``text``, file parts keep a rewound ``file``."""

    name: str
    filename: str | None
    content_type: str | None
    size: int = 0
    text: str | None = None
    file: IO[bytes] | None = None


@dataclass
class FormData:
    """The parsed form: every part in the order sent."""

    parts: list[Part] = field(default_factory=list)

    def fields(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for part in self.parts:
            if part.text is not None:
                out.setdefault(part.name, []).append(part.text)
        return out

    def files(self) -> list[Part]:
        return [part for part in self.parts if part.file is not None]

    def close(self) -> None:
        for part in self.parts:
            if part.file is not None:
                part.file.close()


def parse_any_form(body: IO[bytes], size: int, content_type: str) -> FormData:
    """Parse multipart/form-data, or a urlencoded form (text fields only, so no images).

    Clients send a urlencoded body when they have no file to attach; answering that with
    "no image" says more than "wrong Content-Type".
    """
    msg = Message()
    msg["Content-Type"] = content_type
    if msg.get_content_type() == "application/x-www-form-urlencoded":
        if size > MAX_TEXT_FIELD:
            raise MultipartError("a urlencoded form body is too large")
        try:
            pairs = urllib.parse.parse_qsl(body.read().decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise MultipartError("the form body is not valid UTF-8") from None
        return FormData([Part(name, None, None, len(value), text=value) for name, value in pairs])
    return parse_form(body, size, boundary_of(content_type), frozenset({"mask"}))


def boundary_of(content_type: str) -> str:
    """The boundary of a multipart/form-data Content-Type, or ``MultipartError``."""
    msg = Message()
    msg["Content-Type"] = content_type
    if msg.get_content_type() != "multipart/form-data":
        raise MultipartError(
            f"Content-Type must be multipart/form-data, got {content_type or 'nothing'!r}"
        )
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not boundary or len(boundary) > 200:
        raise MultipartError("the multipart/form-data Content-Type has no boundary")
    return boundary


class _Scanner:
    """A buffered reader that can copy everything up to a delimiter into a sink."""

    def __init__(self, fp: IO[bytes], size: int) -> None:
        self.fp = fp
        # The first boundary has no CRLF before it; pretending it does makes every delimiter alike.
        self.buf = b"\r\n"
        self.max_reads = size // CHUNK + 4

    def _fill(self) -> bool:
        if self.max_reads <= 0:
            return False
        self.max_reads -= 1
        data = self.fp.read(CHUNK)
        if not data:
            self.max_reads = 0
            return False
        self.buf += data
        return True

    def read_until(self, delim: bytes, sink: IO[bytes] | None, limit: int | None = None) -> int:
        """Copy bytes up to ``delim`` into ``sink`` and drop the delimiter; return bytes copied.

        Raises ``MultipartError`` if the body ends first or more than ``limit`` bytes come.
        """
        copied = 0
        keep = len(delim) - 1
        for _ in range(self.max_reads + 2):
            idx = self.buf.find(delim)
            if idx >= 0:
                copied += idx
                self._check(copied, limit)
                if sink is not None:
                    sink.write(self.buf[:idx])
                self.buf = self.buf[idx + len(delim) :]
                return copied
            if len(self.buf) > keep:
                # Keep a possible partial delimiter at the end for the next round.
                head, self.buf = self.buf[: len(self.buf) - keep], self.buf[len(self.buf) - keep :]
                copied += len(head)
                self._check(copied, limit)
                if sink is not None:
                    sink.write(head)
            if not self._fill():
                break
        raise MultipartError("the multipart body ended before its closing boundary")

    @staticmethod
    def _check(copied: int, limit: int | None) -> None:
        if limit is not None and copied > limit:
            raise MultipartError("a multipart part or header block is too large")

    def peek(self, n: int) -> bytes:
        if len(self.buf) < n:
            self._fill()
        return self.buf[:n]

    def skip(self, n: int) -> None:
        self.buf = self.buf[n:]


def parse_form(
    body: IO[bytes], size: int, boundary: str, file_fields: frozenset[str] | None = None
) -> FormData:
    """Split a multipart/form-data body into parts.

    A part is a file when it has a filename or its name is in ``file_fields``; files are copied
    to their own spooled temporary files, text parts are decoded as UTF-8.
    """
    delim = b"\r\n--" + boundary.encode("latin-1")
    scanner = _Scanner(body, size)
    form = FormData()
    try:
        scanner.read_until(delim, None)  # the preamble
        for _ in range(MAX_PARTS + 1):
            if scanner.peek(2) == b"--":
                return form
            scanner.read_until(b"\r\n", None, limit=256)  # transport padding after the boundary
            if len(form.parts) >= MAX_PARTS:
                raise MultipartError(f"more than {MAX_PARTS} multipart parts")
            form.parts.append(_read_part(scanner, delim, file_fields or frozenset()))
        raise MultipartError(f"more than {MAX_PARTS} multipart parts")
    except BaseException:
        form.close()
        raise


def _read_part(scanner: _Scanner, delim: bytes, file_fields: frozenset[str]) -> Part:
    if scanner.peek(2) == b"\r\n":
        scanner.skip(2)
        raw_headers = b""
    else:
        header_sink = io.BytesIO()
        scanner.read_until(b"\r\n\r\n", header_sink, limit=MAX_PART_HEADERS)
        raw_headers = header_sink.getvalue()
    headers = BytesHeaderParser().parsebytes(raw_headers + b"\r\n\r\n")
    disposition = headers.get("Content-Disposition")
    if disposition is None:
        raise MultipartError("a multipart part has no Content-Disposition header")
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str):
        raise MultipartError("a multipart part has no name")
    filename = headers.get_filename()
    content_type = headers.get("Content-Type")
    part = Part(name=name, filename=filename, content_type=content_type)
    if filename is not None or name in file_fields:
        # Closed by FormData.close() once the request is answered.
        part.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            part.size = scanner.read_until(delim, part.file)
        except BaseException:
            part.file.close()
            raise
        part.file.seek(0)
    else:
        text_sink = io.BytesIO()
        part.size = scanner.read_until(delim, text_sink, limit=MAX_TEXT_FIELD)
        try:
            part.text = text_sink.getvalue().decode("utf-8")
        except UnicodeDecodeError:
            raise MultipartError(f"the field {name!r} is not valid UTF-8") from None
    return part
