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
import tempfile
import time
from pathlib import Path

import stack
from PIL import Image, ImageChops

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
            out.write(stack.form_field(BOUNDARY, name, value))
        for path in files:
            out.write(stack.form_file_head(BOUNDARY, path.name, "image/jpeg"))
            with open(path, "rb") as photo:
                shutil.copyfileobj(photo, out)
            out.write(b"\r\n")
        out.write(f"--{BOUNDARY}--\r\n".encode())
    return target.stat().st_size


def post(port: int, cookies: dict, body: Path) -> tuple[int, float, str]:
    """The form posted as htmx does; (status, seconds to the answer, the answer)."""
    headers = stack.htmx_form_headers(port, cookies, BOUNDARY)
    headers["Content-Length"] = str(body.stat().st_size)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    connection.connect()
    try:
        with open(body, "rb") as fh:
            return stack.post_edit_form(connection, fh, headers)
    finally:
        connection.close()


def count_rows(workdir: Path) -> tuple[int, int]:
    """Batches and edits in the app's database."""
    database = next(workdir.glob("*.sqlite3"))
    batches = stack.query_read_only(database, "select count(*) from edits_batch")[0][0]
    edits = stack.query_read_only(database, "select count(*) from edits_edit")[0][0]
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
    procs = stack.Processes(workdir / "processes.log")
    try:
        port = stack.free_port()
        url = f"http://127.0.0.1:{port}"
        # No rate limit (the default 30/hour would refuse 50 at once), batches of up to 50.
        env = stack.app_env(
            workdir,
            "http://127.0.0.1:9/openai",
            url,
            RETOUCH_RATE_LIMIT="0",
            RETOUCH_MAX_BATCH=str(max(50, args.photos)),
        )
        web = stack.start_web(procs, env, port)
        session = stack.sign_in(url)
        cookies = session.cookies.get_dict()
        fields = stack.edit_form_fields(
            cookies, prompt="Put each product on a plain white background", apply_to="each"
        )
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

        with stack.WebMemory(web.pid) as memory:
            status, seconds, text = post(port, cookies, body)
        batches, edits = count_rows(workdir)

        print(
            f"post: {len(paths)} photos, {length / MB:.0f} MB form body; gunicorn 2 workers × "
            f"4 threads; {os.cpu_count()} CPU(s)"
        )
        made = f"{batches} batch(es), {edits - 4} edit(s) from it"  # 4: the warm-up's
        print(f"outcome: {stack.outcome(status, text)} (HTTP {status}); {made}")
        verdict = "OK" if seconds <= TARGET_SECONDS else "OVER TARGET"
        print(f"accepted in:     {seconds:8.2f} s (target ≤ {TARGET_SECONDS:.0f} s): {verdict}")
        memory.report(TARGET_GROWTH_MB)
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
