"""How much memory do concurrent uploads of large photos cost the web processes?

    .venv/bin/python benchmarks/upload_decode.py [--requests 8] [--images 4] [--side 7000]
        [--over-limit]

Starts gunicorn as the Procfile does (2 workers x 4 threads) on a temporary SQLite data
folder, signs a person in through the sign-in page, and posts `--requests` edit forms at
the same moment, each with `--images` real PNGs of `--side` x `--side` pixels (smooth
gradients, so a 49-megapixel file is well under a megabyte on the wire, but a full decode
costs side² x 3 bytes). With `--over-limit` the person's rate limit is one edit an hour
and a first small edit spends it, so every measured post should be refused.

Printed: the sum of VmRSS over gunicorn's worker processes before the posts (after a
warm-up), its peak (sampled every 10 ms) and the growth, each worker's VmHWM, and the
request timings. Target: growth ≤ 300 MB for 8 requests of 7000 x 7000 PNGs. Only
127.0.0.1 is used; every wait is bounded; everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image
from stack import (
    Processes,
    WebMemory,
    app_env,
    edit_form_fields,
    form_field,
    form_file_head,
    free_port,
    htmx_form_headers,
    outcome,
    post_edit_form,
    sign_in,
    start_web,
)

MB = 1024 * 1024
REQUEST_TIMEOUT = 180.0
BOUNDARY = "retouch-upload-benchmark"


def write_pngs(directory: Path, count: int, side: int) -> list[Path]:
    """`count` distinct real PNGs of side x side RGB pixels, written once."""
    ramp = Image.linear_gradient("L").resize((side, side))
    paths = []
    for index in range(count):
        tint = Image.new("L", (side, side), (index * 37) % 256)
        image = Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.ROTATE_90), tint))
        path = directory / f"photo-{index + 1}.png"
        image.save(path, "PNG", compress_level=1)
        paths.append(path)
        del image, tint
    return paths


def form_body(fields: dict[str, str], files: list[Path]) -> bytes:
    parts = [form_field(BOUNDARY, name, value) for name, value in fields.items()]
    for path in files:
        parts.append(form_file_head(BOUNDARY, path.name, "image/png"))
        parts.append(path.read_bytes() + b"\r\n")
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


def post_all(port: int, cookies: dict, bodies: list[bytes]) -> list[tuple[int, float, str]]:
    """Every body posted at the same moment; (status, seconds, the answer)."""
    headers = htmx_form_headers(port, cookies, BOUNDARY)
    start = threading.Barrier(len(bodies))

    def one(body: bytes) -> tuple[int, float, str]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        try:
            start.wait(timeout=30)
            return post_edit_form(connection, body, headers)
        finally:
            connection.close()

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8, help="posts sent at once (≤ 16)")
    parser.add_argument("--images", type=int, default=4, help="photos per post (1–16)")
    parser.add_argument("--side", type=int, default=7000, help="width = height of each photo")
    parser.add_argument(
        "--over-limit", action="store_true", help="the person has spent their rate limit"
    )
    args = parser.parse_args()
    requests_count = max(1, min(args.requests, 16))
    images = max(1, min(args.images, 16))

    workdir = Path(tempfile.mkdtemp(prefix="retouch-upload-decode-"))
    procs = Processes(workdir / "processes.log")
    try:
        started = time.monotonic()
        paths = write_pngs(workdir, images, args.side)
        print(
            f"sources: {images} PNG(s) of {args.side}×{args.side} "
            f"({args.side**2 / 1e6:.0f} megapixels, "
            f"{sum(p.stat().st_size for p in paths) / MB:.1f} MB in all), "
            f"written in {time.monotonic() - started:.1f}s"
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # Nothing is sent upstream (no worker runs).
        limit = "1/hour" if args.over_limit else "0"
        env = app_env(workdir, "http://127.0.0.1:9/openai", url, RETOUCH_RATE_LIMIT=limit)
        web = start_web(procs, env, port)
        session = sign_in(url)
        cookies = session.cookies.get_dict()
        fields = edit_form_fields(cookies)
        # Warm-up: both workers import the views and draw the home page before the baseline.
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: session.get(url + "/", timeout=30), range(8)))
        if args.over_limit:
            small = workdir / "small.png"
            Image.new("RGB", (64, 64), (200, 60, 40)).save(small)
            [(status, _, text)] = post_all(
                port, cookies, [form_body({**fields, "prompt": "spend the limit"}, [small])]
            )
            print(f"first edit (spends the limit): {outcome(status, text)}")
        bodies = [
            form_body({**fields, "prompt": f"Benchmark post {i + 1}"}, paths)
            for i in range(requests_count)
        ]
        time.sleep(1)
        with WebMemory(web.pid) as memory:
            t0 = time.monotonic()
            results = post_all(port, cookies, bodies)
            wall = time.monotonic() - t0

        seconds = sorted(s for _, s, _ in results)
        outcomes: dict[str, int] = {}
        for status, _, text in results:
            outcomes[outcome(status, text)] = outcomes.get(outcome(status, text), 0) + 1
        print(
            f"posts: {requests_count} at once × {images} photo(s) of "
            f"{len(bodies[0]) / MB:.1f} MB each; gunicorn 2 workers × 4 threads; "
            f"{os.cpu_count()} CPU(s)"
        )
        print(f"outcomes: {', '.join(f'{n} {what}' for what, n in sorted(outcomes.items()))}")
        print(
            f"request seconds: min {seconds[0]:.2f}, median {statistics.median(seconds):.2f}, "
            f"max {seconds[-1]:.2f}; all done in {wall:.2f}"
        )
        memory.report(target_mb=300)
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
