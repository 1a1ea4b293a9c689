"""Large files to and from an S3-compatible bucket: how far each step raises the peak
memory of the process doing it, Retouch's storage (editor/edits/media.py) beside
django-storages' S3Storage with its defaults.

    .venv/bin/python benchmarks/s3_streaming.py [--upload-mb 48] [--result-mb 24]

A real S3 server runs on 127.0.0.1 in a process of its own (moto's server mode, as the
tests start it: tests/s3_server.py), so the objects it keeps are not counted. Each step
runs in a fresh child process with Django set up on the bucket; the figure is the rise
of its peak RSS (VmHWM, reset just before the step) over its RSS then, so what the child
had allocated before (a result's bytes, Django, boto3) is not counted:

1. upload: storing a photo the size of --upload-mb from a file on disk, as Django hands
   an upload over (TemporaryUploadedFile).
2. result: storing a result of --result-mb from the bytes the API client decoded.
3. download: a result served through the download view's response
   (media.file_response), read to the end; for S3Storage, its file opened and read in
   the same 256 KB pieces.
4. zip: three results in one streamed zip (zipstream.stream_zip, as "Download all").
5. thumbnail: the gallery thumbnail of a 3840 x 2160 PNG drawn from the bucket (the
   decode itself costs ~25 MB of pixels either way; the difference is the file).

Targets, for Retouch's storage: writes (upload, result) rise by at most 32 MB, the parts
in flight, and reads (download, zip) by at most 4 MB, whatever the size of the file (run
with a larger --upload-mb / --result-mb to see them stay flat while S3Storage's defaults
grow with the file). Everything started is stopped at the end; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stack import ROOT, memory_kb, print_verdict, reset_peak

from tests.s3_server import S3Server

MB = 1024 * 1024
STEPS = ("upload", "result", "download", "zip", "thumbnail")
STORAGES = {
    "Retouch (S3MediaStorage)": "editor.edits.media.S3MediaStorage",
    "S3Storage defaults": "storages.backends.s3.S3Storage",
}
CHILD_TIMEOUT = 300
# The most each step of Retouch's storage may raise the peak, whatever the file's size.
LIMITS_MB = {"upload": 32, "result": 32, "download": 4, "zip": 4}


# -- in the child: one step -----------------------------------------------------------------


def rss_mb() -> tuple[float, float]:
    figures = memory_kb(os.getpid())
    return figures.get("VmRSS", 0) / 1024, figures.get("VmHWM", 0) / 1024


def run_step(step: str, files: dict[str, str]) -> dict:
    import django

    django.setup()
    from django.core.files import File
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from editor.edits import media
    from editor.edits.imaging import make_thumbnail
    from editor.edits.zipstream import stream_zip

    def read_through(handle) -> int:
        size = 0
        with handle:
            while chunk := handle.read(media.CHUNK):
                size += len(chunk)
        return size

    class Stored:  # what a FileField hands the views: a name and its storage
        def __init__(self, name: str) -> None:
            self.name, self.storage = name, default_storage

        def __bool__(self) -> bool:
            return True

    ours = hasattr(default_storage, "open_stream")
    result_bytes = Path(files["result"]).read_bytes() if step == "result" else None
    default_storage.exists("warm-up")  # the connection and its thread pool, not counted

    def work():
        if step == "upload":
            with open(files["upload"], "rb") as fh:
                return default_storage.save("bench/upload.bin", File(fh, name="upload.bin"))
        if step == "result":
            return default_storage.save("bench/result.bin", ContentFile(result_bytes))
        if step == "download":
            if ours:
                response = media.file_response(
                    Stored(files["key"]), "image/png", "r.png", attachment=True
                )
                return sum(len(piece) for piece in response.streaming_content)
            return read_through(default_storage.open(files["key"], "rb"))
        if step == "zip":
            opener = (
                (lambda: media.open_stream(Stored(files["key"])))
                if ours
                else (lambda: default_storage.open(files["key"], "rb"))
            )
            entries = [(f"{i}.png", opener, _now()) for i in range(3)]
            return sum(len(piece) for piece in stream_zip(entries))
        if step == "thumbnail":
            with default_storage.open(files["png"], "rb") as fh:
                return len(make_thumbnail(fh))
        raise ValueError(step)

    before, _ = rss_mb()
    reset_peak()
    started = time.perf_counter()
    moved = work()
    seconds = time.perf_counter() - started
    _, peak = rss_mb()
    return {"seconds": seconds, "rise_mb": peak - before, "moved": moved}


def _now():
    from django.utils import timezone

    return timezone.now()


# -- in the parent: the data, the server, the table ---------------------------------------------


def noisy_png(path: Path) -> None:
    from PIL import Image

    Image.effect_noise((3840, 2160), 40).convert("RGB").save(path, "PNG", compress_level=1)


def child(step: str, backend: str, server: S3Server, bucket: str, files: dict, workdir: Path):
    options = server.storage_options(bucket)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "editor.settings",
        "RETOUCH_DATA_DIR": str(workdir),
        "MEDIA_STORAGE_BACKEND": backend,
        "MEDIA_STORAGE_OPTIONS": json.dumps(options),
        "LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(  # noqa: S603 - this very script, with our own arguments
        [sys.executable, __file__, "--child", step, "--files", json.dumps(files)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{step} with {backend} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upload-mb", type=int, default=48)
    parser.add_argument("--result-mb", type=int, default=24)
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(run_step(args.child, json.loads(args.files))))
        return

    server = S3Server().start()
    try:
        with tempfile.TemporaryDirectory(prefix="retouch-s3-bench-") as tmp:
            workdir = Path(tmp)
            upload, result, png = workdir / "upload.bin", workdir / "result.bin", workdir / "4k.png"
            upload.write_bytes(os.urandom(args.upload_mb * MB))
            result.write_bytes(os.urandom(args.result_mb * MB))
            noisy_png(png)
            bucket = server.new_bucket()
            client = server.client()
            client.upload_file(str(result), bucket, "bench/stored-result.png")
            client.upload_file(str(png), bucket, "bench/4k.png")
            files = {
                "upload": str(upload),
                "result": str(result),
                "key": "bench/stored-result.png",
                "png": "bench/4k.png",
            }
            sizes = {
                "upload": args.upload_mb,
                "result": args.result_mb,
                "download": args.result_mb,
                "zip": 3 * args.result_mb,
                "thumbnail": png.stat().st_size / MB,
            }
            print(
                f"S3 server: moto on {server.endpoint}; upload {args.upload_mb} MB, result "
                f"{args.result_mb} MB, 4K PNG {sizes['thumbnail']:.1f} MB\n"
            )
            print(f"{'step':<11}{'moves':>9}" + "".join(f"{name:>30}" for name in STORAGES))
            ok = True
            for step in STEPS:
                cells = []
                for name, backend in STORAGES.items():
                    figures = child(step, backend, server, bucket, files, workdir)
                    cells.append(f"+{figures['rise_mb']:6.1f} MB in {figures['seconds']:5.2f} s")
                    if name.startswith("Retouch") and step in LIMITS_MB:
                        ok &= figures["rise_mb"] <= LIMITS_MB[step]
                print(f"{step:<11}{sizes[step]:>6.0f} MB" + "".join(f"{c:>30}" for c in cells))
            print()
            print_verdict("Retouch's writes ≤ 32 MB, reads ≤ 4 MB", ok)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
