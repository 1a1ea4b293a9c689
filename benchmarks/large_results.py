"""4K results: how long storing one and making its thumbnail take, and the workers' memory
while ten finish at once.

    .venv/bin/python benchmarks/large_results.py [--runs 5] [--results 10] [--workers 2]
        [--threads 10] [--delay 1] [--skip-workers] [--worker-env NAME=VALUE]

One photo-like 3840 x 2160 picture (gradients with Gaussian noise, so it compresses like
a photograph: ~11 MB as PNG, not a flat fill) is drawn once, then:

1. In this process, with Django set up on a temporary data folder (SQLite, media): the
   time of `services.store_results` for an edit whose answer is that PNG (what the worker
   does when an edit finishes, the thumbnail made with it) and of
   `ResultImage.ensure_thumbnail` (what the gallery does when somebody first looks: next
   to nothing once the thumbnail exists), `--runs` times each: min / median / max, and how far
   each step raised this process's peak RSS (VmHWM, reset before each step). The same
   picture as a JPEG (what output_format=jpeg returns) is timed too, for reference.
   Targets for the PNG: ≤ 0.5 s each (median).
2. `--workers` `manage.py worker` processes with `--threads` threads each, as `make run`
   starts them, against a stand-in for the API served by this script on 127.0.0.1 (the
   simulator does not draw 4K results yet): it answers POST /openai/images/edits with a
   pre-encoded JSON body holding the PNG in base64, holding every answer until all
   `--results` requests have arrived, then `--delay` s more, so they all finish at once.
   Printed: how many of the edits each worker ran, its resident memory when idle, its
   peak (VmHWM, reset once the worker is idle; sampled VmRSS too) and its RSS 2 s after.
   Target: every worker under 300 MB. `--worker-env` adds to the workers' environment
   (e.g. glibc's MALLOC_MMAP_THRESHOLD_=1048576) to compare.

Everything it starts is stopped at the end, whatever happens; every wait is bounded.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image
from stack import Processes, app_env, memory_kb, print_verdict, reset_peak

SIZE = (3840, 2160)
TARGET_SECONDS = 0.5
TARGET_WORKER_MB = 300
WAIT_SECONDS = 180.0


# -- the image ---------------------------------------------------------------------------


def photo_like(size: tuple[int, int] = SIZE) -> Image.Image:
    """Smooth colour gradients (sky, light falloff) plus sensor-like Gaussian noise: a
    picture that compresses about as badly as a photograph does (~11 MB as a 4K PNG)."""
    horizontal = Image.linear_gradient("L").rotate(90).resize(size)
    vertical = Image.linear_gradient("L").resize(size)
    radial = Image.radial_gradient("L").resize(size)
    base = Image.merge("RGB", (horizontal, vertical, radial))
    noise = Image.effect_noise(size, 18).convert("RGB")
    return Image.blend(base, noise, 0.25)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


# -- figures -----------------------------------------------------------------------------


def own_memory_mb() -> tuple[float, float]:
    figures = memory_kb(os.getpid())
    return figures.get("VmRSS", 0) / 1024, figures.get("VmHWM", 0) / 1024


def spread(values: list[float]) -> str:
    return (
        f"min {min(values):.3f} s   median {statistics.median(values):.3f} s   "
        f"max {max(values):.3f} s"
    )


def timed(step: Callable[[], object]) -> tuple[float, float, object]:
    """(seconds, rise of this process's peak RSS in MB, what `step` returned)."""
    reset_peak()
    before, _ = own_memory_mb()
    started = time.perf_counter()
    value = step()
    seconds = time.perf_counter() - started
    _, peak = own_memory_mb()
    return seconds, peak - before, value


# -- 1. in this process ------------------------------------------------------------------


def setup_django(workdir: Path, api_url: str) -> None:
    os.environ.update(app_env(workdir, api_url, "http://127.0.0.1:1"))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", "--noinput", verbosity=0)


def make_owner():
    from tests.factories import make_user, personal_team

    user = make_user("bench")
    return user, personal_team(user)


def store_and_thumbnail(images: dict[str, bytes], runs: int, owner: tuple) -> bool:
    """Each image stored `runs` times through store_results, each stored result given its
    thumbnail through ensure_thumbnail; True when the PNG's medians meet the target."""
    from editor.edits.services import store_results
    from editor.upstream import EditResult
    from editor.upstream.schema import ResultImage as Answered
    from tests.factories import make_edit

    user, team = owner
    ok = True
    print(f"\n1. One {SIZE[0]} × {SIZE[1]} result, {runs} runs each (in this process)")
    for fmt, data in images.items():
        stored, thumbs, stored_mb, thumb_mb = [], [], [], []
        for _ in range(runs):
            edit = make_edit(team, user, sources=0)
            answer = EditResult(images=[Answered(data=data, content_type=f"image/{fmt.lower()}")])
            seconds, rise, done = timed(lambda e=edit, a=answer: store_results(e, a))
            assert done, "the edit was not finished"
            stored.append(seconds)
            stored_mb.append(rise)
            result = edit.results.get()
            assert (result.width, result.height) == SIZE, (result.width, result.height)
            seconds, rise, made = timed(result.ensure_thumbnail)
            assert made, "no thumbnail was made"
            thumbs.append(seconds)
            thumb_mb.append(rise)
            with result.thumbnail.open("rb") as fh, Image.open(fh) as thumb:
                thumb_size = thumb.size
        print(f"   {fmt} ({len(data) / 2**20:.1f} MB)")
        print(f"     store_results      {spread(stored)}   peak RSS rise ≤ {max(stored_mb):.0f} MB")
        print(f"     ensure_thumbnail   {spread(thumbs)}   peak RSS rise ≤ {max(thumb_mb):.0f} MB")
        print(f"     thumbnail          {thumb_size[0]} × {thumb_size[1]} WebP")
        if fmt == "PNG":
            ok = max(statistics.median(stored), statistics.median(thumbs)) <= TARGET_SECONDS
    return print_verdict(f"for the PNG ≤ {TARGET_SECONDS} s each (median)", ok)


# -- 2. worker processes -----------------------------------------------------------------


class FakeApi(ThreadingHTTPServer):
    """Plays the Images API on 127.0.0.1 for `expected` edits: every answer is the same
    pre-encoded 4K result, held until all of them have been asked for (or `WAIT_SECONDS`
    passed), then `delay` seconds more, so they reach the workers together."""

    daemon_threads = True

    def __init__(self, body: bytes, expected: int, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), FakeApiHandler)
        self.body = body
        self.delay = delay
        self.arrived = threading.Barrier(expected)
        self.answered = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/openai"


class FakeApiHandler(BaseHTTPRequestHandler):
    server: FakeApi
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        if self.path != "/openai/images/edits":
            self.send_error(404)
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:  # the upload itself is not looked at
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)
        with contextlib.suppress(threading.BrokenBarrierError):
            self.server.arrived.wait(timeout=WAIT_SECONDS)
        time.sleep(self.server.delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.send_header("x-request-id", f"req-bench-{threading.get_ident()}")
        self.end_headers()
        self.wfile.write(self.server.body)
        with self.server.lock:
            self.server.answered += 1

    def log_message(self, format: str, *args: object) -> None:
        pass


def answer_body(png: bytes) -> bytes:
    return json.dumps(
        {
            "created": int(time.time()),
            "data": [{"b64_json": base64.b64encode(png).decode()}],
            "usage": {"input_tokens": 100, "output_tokens": 6000, "total_tokens": 6100},
        }
    ).encode()


def workers_finishing_together(
    workdir: Path,
    api: FakeApi,
    owner: tuple,
    *,
    results: int,
    workers: int,
    threads: int,
    extra_env: dict[str, str],
) -> bool:
    from collections import Counter

    from django.db.models import Count
    from django_tasks_db.models import DBTaskResult

    from editor.edits.models import Edit, Status
    from editor.edits.queueing import queue_attempt
    from tests.factories import make_edit

    user, team = owner
    env = app_env(
        workdir, api.url, "http://127.0.0.1:1", RETOUCH_WORKER_THREADS=str(threads), **extra_env
    )
    procs = Processes(workdir / "processes.log")
    try:
        started = [
            procs.start(
                [sys.executable, "manage.py", "worker", "--worker-id", f"bench-{i}"], env=env
            )
            for i in range(workers)
        ]
        pids = [proc.pid for proc in started]
        time.sleep(3)  # imports done, dispatcher polling
        idle = {pid: memory_kb(pid).get("VmRSS", 0) / 1024 for pid in pids}
        resets = [reset_peak(pid) for pid in pids]
        sampled = dict.fromkeys(pids, 0.0)
        edits = [make_edit(team, user, sources=1) for _ in range(results)]
        t0 = time.monotonic()
        for edit in edits:
            queue_attempt(edit.pk)
        ids = [edit.pk for edit in edits]
        deadline = t0 + WAIT_SECONDS
        while time.monotonic() < deadline:
            for pid in pids:
                sampled[pid] = max(sampled[pid], memory_kb(pid).get("VmRSS", 0) / 1024)
            if not Edit.objects.filter(pk__in=ids).pending().exists():
                break
            time.sleep(0.02)
        wall = time.monotonic() - t0
        peaks = {pid: memory_kb(pid).get("VmHWM", 0) / 1024 for pid in pids}
        time.sleep(2)
        after = {pid: memory_kb(pid).get("VmRSS", 0) / 1024 for pid in pids}
        ran = Counter(
            worker
            for ids_ in DBTaskResult.objects.values_list("worker_ids", flat=True)
            for worker in ids_
        )
        states = dict(Edit.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("pk")))
    finally:
        procs.stop_all()
    print(
        f"\n2. {results} results of {len(api.body) / 2**20:.1f} MB (JSON, base64) finishing "
        f"at once; {workers} worker process(es) × {threads} threads"
    )
    if extra_env:
        print(f"   worker environment: {extra_env}")
    print(f"   edits: {states} after {wall:.1f} s; the stand-in answered {api.answered}")
    for i, pid in enumerate(pids):
        hwm = f"{peaks[pid]:.0f} MB" if resets[i] else "n/a (peak not resettable)"
        print(
            f"   worker {i + 1} ({ran[f'bench-{i}']} edits): idle {idle[pid]:.0f} MB   "
            f"peak (VmHWM) {hwm}   peak sampled VmRSS {sampled[pid]:.0f} MB   "
            f"2 s after {after[pid]:.0f} MB"
        )
    worst = max(max(peaks.values()), max(sampled.values()))
    ok = worst < TARGET_WORKER_MB and states.get(Status.SUCCEEDED) == results
    target = f"every worker < {TARGET_WORKER_MB} MB, all succeeded"
    return print_verdict(target, ok, f" (worst {worst:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--results", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="more environment for the workers (e.g. MALLOC_ARENA_MAX=2), repeatable",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="retouch-large-"))
    api: FakeApi | None = None
    try:
        t0 = time.monotonic()
        picture = photo_like()
        png = encoded(picture, "PNG")
        # The JPEG (what the service sends for output_format=jpeg) is timed for reference.
        jpeg = encoded(picture, "JPEG", quality=90)
        del picture
        print(f"Drew a {SIZE[0]} × {SIZE[1]} photo-like picture in {time.monotonic() - t0:.1f} s")
        api = FakeApi(answer_body(png), args.results, args.delay)
        threading.Thread(target=api.serve_forever, daemon=True).start()
        setup_django(workdir, api.url)
        owner = make_owner()
        ok = store_and_thumbnail({"PNG": png, "JPEG": jpeg}, args.runs, owner)
        if not args.skip_workers:
            ok = (
                workers_finishing_together(
                    workdir,
                    api,
                    owner,
                    results=args.results,
                    workers=args.workers,
                    threads=args.threads,
                    extra_env=dict(item.split("=", 1) for item in args.worker_env),
                )
                and ok
            )
    finally:
        if api is not None:
            api.shutdown()
            api.server_close()
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
