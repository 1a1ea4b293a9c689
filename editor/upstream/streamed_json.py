"""Reading a callback body of tens of megabytes without holding it: a JSON reader that
base64-decodes the long strings (the images) as they stream past.

Written here because nothing maintained serves: `json.load` on the file, `ijson` 3.6
and `json-stream` 2.5 all hold each string whole, so a 60 MB callback cost 165 MB (and
`ijson` 15 s), against 45 MB (the decoded image itself) and 0.3 s here
(`benchmarks/callback_memory.py`). Only string boundaries are tracked; the JSON grammar
of what remains is still the standard parser's.
"""

from __future__ import annotations

import binascii
import io
import json
import re
import secrets
from typing import IO, Any

# JSON strings longer than this (in bytes of the body) are decoded as base64 while they
# stream past instead of being kept as text; nothing but an image is ever that long.
LONG_STRING = 64 * 1024
# What is left of a callback once its long strings are taken out: a few hundred bytes.
SKELETON_MAX = 1024 * 1024
_STRING_STOP = re.compile(rb'["\\]')


class StreamedBase64:
    """A long JSON string of a callback body, base64-decoded piece by piece as it was read.

    JSON lets a writer escape ``/`` as ``\\/`` (PHP does) and break lines with ``\\n``;
    those are taken as ``/`` and dropped whitespace, as ``b64decode`` of the whole string
    sees them. Any other escape or character, padding in the middle, or a length that is
    not a multiple of four makes it invalid, as in the one-piece decode.
    """

    def __init__(self) -> None:
        self.valid = True
        self._decoded = io.BytesIO()
        self._pending = bytearray()
        self._padded = False

    def feed(self, text: bytes) -> None:
        if not self.valid:
            return
        self._pending += text
        whole = len(self._pending) // 4 * 4
        if not whole:
            return
        if self._padded:
            self.valid = False
            return
        try:
            self._decoded.write(binascii.a2b_base64(self._pending[:whole], strict_mode=True))
        except binascii.Error:
            self.valid = False
            return
        self._padded = self._pending[whole - 1] == ord("=")
        del self._pending[:whole]

    def data(self) -> bytes | None:
        """The decoded bytes, or None when the string was not valid base64."""
        if self._pending or not self.valid:
            return None
        return self._decoded.getvalue()


def load_streamed(fileobj: IO[bytes], chunk_size: int = 64 * 1024) -> Any:
    """``json.load`` for a callback body whose images are tens of megabytes of base64.

    The body is read in chunks. Only string boundaries are tracked here (a ``"`` that no
    backslash escapes); every string longer than ``LONG_STRING`` goes to a
    ``StreamedBase64`` as it is read and is left in the rest of the body as a placeholder,
    and ``json.loads`` then reads that small rest, so the JSON grammar stays the standard
    parser's. A ``b64_json`` value that was long is a ``StreamedBase64``; any other long
    value is an empty string.
    """
    nonce = secrets.token_hex(8)
    marker = f"\\u0000long-{nonce}-"  # as JSON text; no callback's own string is like it
    skeleton = bytearray()
    longs: list[StreamedBase64] = []
    text = bytearray()  # the string being read, while it is still short
    current: StreamedBase64 | None = None
    in_string = escape_next = False

    def add(raw: bytes | bytearray) -> None:
        nonlocal current
        if current is None:
            text.extend(raw)
            if len(text) <= LONG_STRING:
                return
            current = StreamedBase64()
            longs.append(current)
            raw = bytes(text)
            text.clear()
            if b"\\" in raw:  # the escapes read so far, by the standard decoder
                try:
                    raw = json.loads(b'"' + raw + b'"').encode("utf-8", "surrogatepass")
                except ValueError:  # an escape no base64 has, cut short
                    current.valid = False
                raw = raw.translate(None, b"\n\r\t")
        current.feed(raw)

    def add_escape(char: int) -> None:
        if current is None:
            text.extend(b"\\" + bytes([char]))
            add(b"")
        elif char == ord("/"):
            current.feed(b"/")
        elif char not in b"nrt":
            current.valid = False

    while chunk := fileobj.read(chunk_size):
        pos = 0
        if escape_next:
            add_escape(chunk[0])
            escape_next, pos = False, 1
        while pos < len(chunk):
            if not in_string:
                end = chunk.find(b'"', pos)
                stop = len(chunk) if end < 0 else end + 1
                skeleton += chunk[pos:stop]
                in_string, pos = end >= 0, stop
                continue
            found = _STRING_STOP.search(chunk, pos)
            stop = found.start() if found else len(chunk)
            add(chunk[pos:stop])
            if found is None:
                break
            if chunk[stop] == ord("\\"):
                if stop + 1 == len(chunk):
                    escape_next, pos = True, stop + 1
                else:
                    add_escape(chunk[stop + 1])
                    pos = stop + 2
                continue
            if current is None:
                skeleton += text
            else:
                skeleton += f"{marker}{len(longs) - 1}".encode()
            skeleton += b'"'
            text.clear()
            current, in_string, pos = None, False, stop + 1
        if len(skeleton) > SKELETON_MAX:
            raise ValueError("too much besides its images")

    placeholders = {f"\0long-{nonce}-{i}": item for i, item in enumerate(longs)}

    def resolve(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = {}
        for key, value in pairs:
            if isinstance(value, str) and value in placeholders:
                value = placeholders[value] if key == "b64_json" else ""
            obj[key] = value
        return obj

    try:
        return json.loads(skeleton, object_pairs_hook=resolve)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
