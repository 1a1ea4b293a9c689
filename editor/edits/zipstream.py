"""A zip archive streamed as it is written, so downloading many results never holds
them all in memory. Entries are stored, not deflated: images are already compressed."""

import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import BinaryIO

CHUNK = 256 * 1024


class _Sink:
    """Collects what ZipFile writes. It has no tell()/seek(), so ZipFile writes data
    descriptors instead of seeking back to patch headers."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


Entry = tuple[str, Callable[[], BinaryIO] | bytes, datetime]


def stream_zip(entries: Iterable[Entry]) -> Iterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name, source, modified in entries:
            info = zipfile.ZipInfo(name, date_time=modified.timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, mode="w", force_zip64=True) as target:
                if isinstance(source, bytes):
                    target.write(source)
                else:
                    with source() as fileobj:
                        while chunk := fileobj.read(CHUNK):
                            target.write(chunk)
                            yield sink.drain()
            yield sink.drain()
    yield sink.drain()
