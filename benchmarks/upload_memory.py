"""How much memory does uploading ~200 MB of source images cost the client process?

The client promises to stream multipart bodies from the caller's files, so its resident set
should grow by a small buffer, not by the size of the upload. This script measures that
against the simulator running in its own process:

    .venv/bin/python benchmarks/upload_memory.py [--images 5] [--megabytes 40]

Target: growth under 60 MB. The source PNGs are written by a child process, so the memory
spent generating them never shows up in this process's peak.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

from stack import TOKEN, Processes, start_simulator

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
STARTUP_TIMEOUT = 30.0
GENERATE_TIMEOUT = 300.0
LISTENING = re.compile(r"listening on (http://\S+)")


# -- generating sources (runs in a child process) -----------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_noise_png(path: Path, side: int) -> None:
    """An RGB PNG of random noise, written row by row so it never sits in memory whole.

    Noise does not compress, so the file is about side * side * 3 bytes; level 1 keeps it a
    real deflate stream without spending time on a search that cannot win.
    """
    compressor = zlib.compressobj(1)
    rows_per_block = max(1, (4 * MB) // (side * 3 + 1))
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)))
        for start in range(0, side, rows_per_block):
            rows = min(rows_per_block, side - start)
            raw = b"".join(b"\0" + os.urandom(side * 3) for _ in range(rows))
            compressed = compressor.compress(raw)
            if compressed:
                fh.write(_chunk(b"IDAT", compressed))
        fh.write(_chunk(b"IDAT", compressor.flush()))
        fh.write(_chunk(b"IEND", b""))


def generate(directory: Path, count: int, megabytes: int) -> None:
    side = int((megabytes * MB / 3) ** 0.5)
    for index in range(count):
        write_noise_png(directory / f"noise-{index + 1}.png", side)


# -- measuring (runs in the parent) --------------------------------------------------------


def proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Linux resets VmHWM when "5" is written to clear_refs; then the peak is ours alone."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    """Samples VmRSS as a cross-check on VmHWM (e.g. where clear_refs is not allowed)."""

    def __init__(self, interval: float = 0.01, max_seconds: float = 600.0) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.max_seconds = max_seconds
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.peak_kb = max(self.peak_kb, proc_status_kb("VmRSS") or 0)
            self.stop.wait(self.interval)


class TimedFile(io.FileIO):
    """Notes when the client last read from it: the upload ends with the last file's read."""

    last_read = 0.0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        TimedFile.last_read = time.monotonic()
        return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--megabytes", type=int, default=40, help="size of each image")
    parser.add_argument("--generate-into", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate_into:
        generate(Path(args.generate_into), args.images, args.megabytes)
        return

    sys.path.insert(0, str(ROOT))
    # Import everything the upload needs before the baseline, so imports are not "growth".
    from PIL import Image  # noqa: F401 - imported for parity with the app's worker

    from editor.upstream import EditRequest, ImageInput, ImagesClient

    workdir = Path(tempfile.mkdtemp(prefix="retouch-bench-"))
    procs = None
    try:
        started = time.monotonic()
        subprocess.run(  # noqa: S603 - this very script, as a child
            [
                sys.executable,
                __file__,
                "--images",
                str(args.images),
                "--megabytes",
                str(args.megabytes),
                "--generate-into",
                str(workdir),
            ],
            check=True,
            timeout=GENERATE_TIMEOUT,
        )
        paths = sorted(workdir.glob("*.png"))
        total = sum(p.stat().st_size for p in paths)
        print(
            f"sources: {len(paths)} PNGs, {total / MB:.1f} MB in total "
            f"(largest {max(p.stat().st_size for p in paths) / MB:.1f} MB), "
            f"generated in a child process in {time.monotonic() - started:.1f}s"
        )

        procs = Processes(workdir / "processes.log")
        base_url, simulator_pid = start_simulator(procs, latency=0)
        print(f"simulator: {base_url} (pid {simulator_pid})")

        files = [TimedFile(p, "rb") for p in paths]
        try:
            req = EditRequest(
                model="gpt-image-1",
                prompt="Benchmark: make it look like a watercolour",
                images=[
                    ImageInput(p.name, "image/png", fh) for p, fh in zip(paths, files, strict=True)
                ],
            )
            with ImagesClient(base_url, TOKEN, timeout=(10, 300)) as client:
                baseline_kb = proc_status_kb("VmRSS") or 0
                peak_reset = reset_peak()
                sampler = RssSampler()
                sampler.start()
                t0 = time.monotonic()
                result = client.edit(req)
                upload_seconds = time.monotonic() - t0
                sampler.stop.set()
                sampler.join(timeout=5)
                hwm_kb = proc_status_kb("VmHWM") or 0
        finally:
            for fh in files:
                fh.close()

        maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_kb = max(sampler.peak_kb, hwm_kb if peak_reset else 0)
        growth_mb = (peak_kb - baseline_kb) / 1024
        print(
            f"result: {len(result.images)} image(s), {len(result.images[0].data) / MB:.2f} MB, "
            f"request_id {result.request_id}"
        )
        sent_seconds = TimedFile.last_read - t0
        print(
            f"upload time:        {sent_seconds:.2f}s ({total / MB / sent_seconds:.0f} MB/s, "
            "until the client read the last source byte)"
        )
        print(
            f"upload + edit time: {upload_seconds:.2f}s "
            f"({total / MB / upload_seconds:.0f} MB/s, includes the simulator decoding)"
        )
        print(f"baseline RSS:       {baseline_kb / 1024:8.1f} MB")
        print(
            f"peak RSS (VmHWM):   {hwm_kb / 1024:8.1f} MB"
            + ("" if peak_reset else "  (clear_refs not allowed: includes pre-baseline peak)")
        )
        print(f"peak RSS (sampled): {sampler.peak_kb / 1024:8.1f} MB")
        print(f"ru_maxrss:          {maxrss_kb / 1024:8.1f} MB (whole process lifetime)")
        verdict = "OK" if growth_mb < 60 else "OVER TARGET"
        print(
            f"growth:             {growth_mb:8.1f} MB for a {total / MB:.0f} MB upload "
            f"(target < 60 MB): {verdict}"
        )
    finally:
        if procs is not None:
            procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
