"""Reading a stream of server-sent events whose events are megabytes long.

A streamed edit (``stream=true``) is a ``text/event-stream`` answer: each event is an
``event: <type>`` line and one ``data:`` line holding a JSON object with a base64 image (a
partial image, then the final one), then a blank line. The final event of a 4K result is
~15 MB of base64 on a single line.

Written here rather than taken from PyPI: ``sseclient-py`` and ``requests-sse`` (the
maintained readers for ``requests``) build each event's data as one ``str``, after holding
the raw bytes and their decoded text, so a 4K event would cost several copies of its
base64 before ``json`` makes another. Here each event's data goes to a spooled temporary
file as it arrives (in memory while small), and ``streamed_json.load_streamed`` decodes
the image from it piece by piece, as for spooled answers and callbacks.

The rules followed are the WHATWG ones a client needs: lines end with CRLF, LF or CR; a
line starting with ``:`` is a comment; ``field: value`` loses one space after the colon;
several ``data`` lines join with LF; a blank line dispatches the event if it has data; an
event cut off by the end of the stream is dropped. ``id`` and ``retry`` are ignored (we
never reconnect a stream: a broken edit is retried as a new request).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from .transport import spooled_file

# Field names and the ``event`` value are short; anything longer is not a field we read.
_MAX_SHORT = 256
_LINE_END = re.compile(rb"[\r\n]")


class EventTooLarge(Exception):
    pass


@dataclass
class Event:
    """One dispatched event: its ``event`` type (``message`` when the stream named none) and
    its data in a rewound temporary file, which the reader closes once the next event is
    asked for."""

    type: str
    data: IO[bytes]


def read_events(chunks: Iterable[bytes], *, max_event_bytes: int) -> Iterator[Event]:
    """The events of a stream, each as soon as its blank line has arrived.

    An event whose data is larger than ``max_event_bytes`` raises ``EventTooLarge``.
    """
    reader = _Reader(max_event_bytes)
    try:
        for chunk in chunks:
            yield from reader.feed(chunk)
    finally:
        reader.close()


class _Reader:
    def __init__(self, max_event_bytes: int) -> None:
        self.max_event_bytes = max_event_bytes
        self.event_type = b""
        self.data: IO[bytes] | None = None
        self.data_size = 0
        self.dispatched: IO[bytes] | None = None
        # The line being read: its start until the field name is known, then the field.
        self.head = bytearray()
        self.field: bytes | None = None
        self.value = bytearray()  # the value of a short field (``event``)
        self.skip_space = False  # the one space after the colon may open the next chunk
        self.after_cr = False  # a CR ended the last line: an LF opening this chunk is its pair
        self.empty_line = True

    def close(self) -> None:
        for file in (self.data, self.dispatched):
            if file is not None:
                file.close()

    def feed(self, chunk: bytes) -> Iterator[Event]:
        pos = 0
        if self.after_cr and chunk[:1] == b"\n":
            pos = 1
        self.after_cr = False
        while pos < len(chunk):
            found = _LINE_END.search(chunk, pos)
            end = found.start() if found else len(chunk)
            if end > pos:
                self._add(chunk, pos, end)
            if found is None:
                return
            if chunk[end] == ord("\r"):
                if end + 1 < len(chunk):
                    end += chunk[end + 1] == ord("\n")
                else:
                    self.after_cr = True
            pos = end + 1
            event = self._line_done()
            if event is not None:
                yield event

    def _add(self, chunk: bytes, start: int, end: int) -> None:
        """Bytes of the current line, from ``chunk[start:end]`` (no line end among them)."""
        self.empty_line = False
        if self.field is None:
            colon = chunk.find(b":", start, end)
            stop = end if colon < 0 else colon
            if len(self.head) < _MAX_SHORT:
                self.head += chunk[start : min(stop, start + _MAX_SHORT)]
            if colon < 0:
                return
            self.field = bytes(self.head)
            self.skip_space = True
            start = colon + 1
            if self.field == b"data":
                self._open_data()
            if start == end:
                return
        if self.skip_space:
            self.skip_space = False
            if chunk[start] == ord(" "):
                start += 1
        if self.field == b"data":
            self._write(chunk[start:end])
        elif self.field == b"event" and len(self.value) < _MAX_SHORT:
            self.value += chunk[start : min(end, start + _MAX_SHORT)]

    def _open_data(self) -> None:
        if self.data is None:
            self.data = spooled_file()
        else:
            self._write(b"\n")

    def _write(self, piece: bytes) -> None:
        self.data_size += len(piece)
        if self.data_size > self.max_event_bytes:
            raise EventTooLarge(f"an event is larger than {self.max_event_bytes} bytes")
        assert self.data is not None
        self.data.write(piece)

    def _line_done(self) -> Event | None:
        empty, field = self.empty_line, self.field
        if field is None and self.head:
            field = bytes(self.head)  # a line without a colon: the field with no value
            if field == b"data":
                self._open_data()
        if field == b"event":
            self.event_type = bytes(self.value)
        self.head.clear()
        self.value.clear()
        self.field, self.skip_space, self.empty_line = None, False, True
        if not empty:
            return None
        return self._dispatch()

    def _dispatch(self) -> Event | None:
        data, event_type = self.data, self.event_type
        self.data, self.data_size, self.event_type = None, 0, b""
        if data is None:
            return None
        if self.dispatched is not None:
            self.dispatched.close()
        self.dispatched = data
        data.seek(0)
        name = event_type.decode("utf-8", errors="replace") or "message"
        return Event(type=name, data=data)
