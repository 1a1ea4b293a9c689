"""How long does a 50-photo batch take to be accepted, and what does it cost the web
processes' memory?

    .venv/bin/python benchmarks/batch_upload.py [--photos 50]

Starts gunicorn as the Procfile does (2 workers x 4 threads) on a temporary SQLite data
folder, signs a person in, and posts the edit form once with `--photos` 12-megapixel
JPEGs (4000 x 3000, about 4 MB each: gradients with Gaussian noise, so they compress like
photos) and "Apply to each photo separately". The photos are generated once with Pillow
into a cache folder under the system's temporary folder and reused by later runs; the
form's body is streamed from a file, so the client holds none of it in memory.

Printed: the time from the first byte sent to the answer (target ≤ 8 s), how many edits
the batch made, the sum of VmRSS over gunicorn's workers before the post (after a
warm-up post of one small photo), its peak (sampled every 10 ms) and the growth (target
≤ 150 MB), and each worker's VmHWM. Only 127.0.0.1 is used; no worker process runs, so
nothing is sent upstream; everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageChops
from stack import Processes, app_env, free_port, memory_kb, sign_in, start_web
from upload_decode import RssSampler, outcome, reset_peak, worker_pids

MB = 1024 * 1024
SIZE = (4000, 3000)  # 12 megapixels
CACHE = Path(tempfile.gettempdir()) / "retouch-batch-photos-v2"
BOUNDARY = "retouch-batch-benchmark"
REQUEST_TIMEOUT = 120.0
TARGET_SECONDS = 8.0
TARGET_GROWTH_MB = 150.0


def photos(count: int) -> list[Path]:
    """`count` distinct photo-like 12-megapixel JPEGs, generated once and cached."""
    CACHE.mkdir(exist_ok=True)
    across = Image.linear_gradient("L").resize(SIZE)
    down = Image.linear_gradient("L").rotate(90).resize(SIZE)
    paths = []
    for index in range(count):
        path = CACHE / f"photo-{index + 1:02}.jpg"
        if not path.exists():
            bases = (across, down, ImageChops.invert(across))
            bands = [ImageChops.blend(b, Image.effect_noise(SIZE, 55), 0.3) for b in bases]
            partial = path.with_suffix(".part")
            Image.merge("RGB", bands).save(partial, "JPEG", quality=87)
            partial.rename(path)
        paths.append(path)
    return paths


def write_body(target: Path, fields: dict[str, str], files: list[Path]) -> int:
    """The multipart form, written to `target` file by file; returns its length."""
    with open(target, "wb") as out:
        for name, value in fields.items():
            out.write(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        for path in files:
            out.write(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="images"; '
                f'filename="{path.name}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
            )
            with open(path, "rb") as photo:
                shutil.copyfileobj(photo, out)
            out.write(b"\r\n")
        out.write(f"--{BOUNDARY}--\r\n".encode())
    return target.stat().st_size


def post(port: int, cookies: dict, body: Path) -> tuple[int, float, str]:
    """The form posted as htmx does; (status, seconds to the answer, the answer)."""
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(body.stat().st_size),
        "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        "Referer": f"http://127.0.0.1:{port}/",
        "HX-Request": "true",
        "HX-Target": "gallery-items",
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    connection.connect()
    try:
        with open(body, "rb") as fh:
            t0 = time.monotonic()
            connection.request("POST", "/edits/new/", body=fh, headers=headers)
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
        return response.status, time.monotonic() - t0, text
    finally:
        connection.close()


def count_rows(workdir: Path) -> tuple[int, int]:
    """Batches and edits in the app's database."""
    database = next(workdir.glob("*.sqlite3"))
    with sqlite3.connect(database) as db:
        batches = db.execute("select count(*) from edits_batch").fetchone()[0]
        edits = db.execute("select count(*) from edits_edit").fetchone()[0]
    return batches, edits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=50)
    args = parser.parse_args()

    started = time.monotonic()
    paths = photos(args.photos)
    sizes = [p.stat().st_size / MB for p in paths]
    print(
        f"photos: {len(paths)} JPEGs of {SIZE[0]}×{SIZE[1]} ({SIZE[0] * SIZE[1] / 1e6:.0f} MP), "
        f"{min(sizes):.1f}–{max(sizes):.1f} MB each, {sum(sizes):.0f} MB in all "
        f"(ready in {time.monotonic() - started:.1f}s; cached in {CACHE})"
    )
    workdir = Path(tempfile.mkdtemp(prefix="retouch-batch-upload-"))
    procs = Processes(workdir / "processes.log")
    try:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # No rate limit (the default 30/hour would refuse 50 at once), batches of up to 50.
        env = app_env(
            workdir,
            "http://127.0.0.1:9/openai",
            url,
            RETOUCH_RATE_LIMIT="0",
            RETOUCH_MAX_BATCH=str(max(50, args.photos)),
        )
        web = start_web(procs, env, port)
        session = sign_in(url)
        cookies = session.cookies.get_dict()
        fields = {
            "csrfmiddlewaretoken": cookies["csrftoken"],
            "model": "gpt-image-1",
            "prompt": "Put each product on a plain white background",
            "quality": "low",
            "size": "1024x1024",
            "apply_to": "each",
        }
        # Warm-up: both workers draw the page and take one small photo before the baseline.
        small = workdir / "small.jpg"
        Image.new("RGB", (256, 256), (200, 60, 40)).save(small)
        warm = workdir / "warm.body"
        write_body(warm, {**fields, "apply_to": "together"}, [small])
        for _ in range(4):
            session.get(url + "/", timeout=30)
            post(port, cookies, warm)
        body = workdir / "batch.body"
        length = write_body(body, fields, paths)
        time.sleep(1)

        workers = worker_pids(web.pid)
        sampler = RssSampler(workers)
        before_kb = sampler.total_kb()
        peaks_reset = all(reset_peak(pid) for pid in workers)
        sampler.start()
        status, seconds, text = post(port, cookies, body)
        sampler.stop.set()
        sampler.join(timeout=5)
        after_kb = sampler.total_kb()
        hwms = [memory_kb(pid).get("VmHWM", 0) / 1024 for pid in workers]
        batches, edits = count_rows(workdir)

        growth_mb = (sampler.peak_kb - before_kb) / 1024
        print(
            f"post: {len(paths)} photos, {length / MB:.0f} MB form body; gunicorn 2 workers × "
            f"4 threads; {os.cpu_count()} CPU(s)"
        )
        made = f"{batches} batch(es), {edits - 4} edit(s) from it"  # 4: the warm-up's
        print(f"outcome: {outcome(status, text)} (HTTP {status}); {made}")
        verdict = "OK" if seconds <= TARGET_SECONDS else "OVER TARGET"
        print(f"accepted in:     {seconds:8.2f} s (target ≤ {TARGET_SECONDS:.0f} s): {verdict}")
        print(f"web RSS before:  {before_kb / 1024:8.1f} MB (sum over {len(workers)} workers)")
        print(f"web RSS peak:    {sampler.peak_kb / 1024:8.1f} MB (sampled every 10 ms)")
        print(f"web RSS after:   {after_kb / 1024:8.1f} MB")
        print(
            "worker VmHWM:    "
            + ", ".join(f"{h:.1f}" for h in hwms)
            + " MB"
            + ("" if peaks_reset else " (not reset: includes the warm-up)")
        )
        verdict = "OK" if growth_mb <= TARGET_GROWTH_MB else "OVER TARGET"
        target = f"target ≤ {TARGET_GROWTH_MB:.0f} MB"
        print(f"growth:          {growth_mb:8.1f} MB ({target}): {verdict}")
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
