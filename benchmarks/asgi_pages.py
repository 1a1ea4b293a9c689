"""Pages under WSGI and under ASGI: what serving the event stream costs the other pages.

    .venv/bin/python benchmarks/asgi_pages.py [--modes wsgi,asgi-pages-wsgi,asgi-all]
        [--requests 200] [--download-mb 40] [--repeat 1]

Each mode starts 2 web processes on a temporary SQLite data folder holding a gallery of
24 finished edits and one large result, signs a person in, and then measures:

- the gallery page (`/`, signed in): `--requests` GETs one at a time, then as many
  again 8 at a time (the latency of each, and requests per second);
- the stylesheet (whitenoise), 8 at a time;
- one download of a `--download-mb` MB result: time and the web processes' RSS growth
  (sampled every 10 ms);
- the web processes' CPU seconds over all of it.

Modes: `wsgi` is gunicorn's threaded worker (2 x 4 threads, the Procfile before event
streams); `asgi-pages-wsgi` is gunicorn with uvicorn's worker where pages run through
Django's WSGI handler in a pool of 4 threads per process and only the event stream
through Django's ASGI handler (editor/asgi.py); `asgi-all` sends every request through
Django's ASGI handler (benchmarks/asgi_all.py: a thread per request for the sync views,
connections not persistent, as Django's documentation asks under ASGI).

Only 127.0.0.1 is used; every loop is bounded in count and every wait in time;
everything started is stopped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from stack import (
    ROOT,
    CpuMeter,
    Processes,
    WebMemory,
    app_env,
    free_port,
    manage,
    sign_in,
    start_web,
    worker_pids,
)

MB = 1024 * 1024
TIMEOUT = 60.0
APPS = {"wsgi": "editor.wsgi", "asgi-pages-wsgi": "editor.asgi", "asgi-all": "benchmarks.asgi_all"}
MODES = tuple(APPS)

GALLERY = """
import os
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from editor.edits.models import ResultImage, Status
from tests.factories import make_edit, personal_team
user = get_user_model().objects.get(username="bench")
team = personal_team(user)
for n in range(24):
    make_edit(team, user, prompt=f"Benchmark card {n}", status=Status.SUCCEEDED, results=1)
big = make_edit(team, user, prompt="A large result", status=Status.SUCCEEDED, results=1)
result = big.results.get()
result.file.save("big.png", ContentFile(os.urandom(int(os.environ["BIG_MB"]) * 1024 * 1024)))
print(big.pk)
"""


def timed_gets(session: requests.Session, url: str, count: int, concurrency: int) -> list[float]:
    def one(_: int) -> float:
        t0 = time.monotonic()
        response = session.get(url, timeout=TIMEOUT)
        response.raise_for_status()
        return time.monotonic() - t0

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(count)))


def summary(seconds: list[float], wall: float) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"median {statistics.median(ordered) * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms, "
        f"{len(ordered) / wall:6.1f}/s"
    )


def run_mode(mode: str, args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"retouch-asgi-{mode}-"))
    procs = Processes(workdir / "processes.log")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        env = app_env(workdir, "http://127.0.0.1:9/openai", url)
        web = start_web(procs, env, port, app=APPS[mode])
        big = manage({**env, "BIG_MB": str(args.download_mb)}, "shell", "-c", GALLERY)
        big_pk = int(big.stdout.strip().splitlines()[-1])
        session = sign_in(url)
        timed_gets(session, url + "/", 16, 8)  # warm-up: both processes draw the page once
        css = session.get(url + "/", timeout=TIMEOUT).text.split('href="/static/css/')[1]
        css_url = url + "/static/css/" + css.split('"')[0]
        workers = worker_pids(web.pid)
        meter = CpuMeter({"web": workers})
        print(f"== {mode}: 2 web processes; {os.cpu_count()} CPU(s)")
        for concurrency in (1, 8):
            t0 = time.monotonic()
            seconds = timed_gets(session, url + "/", args.requests, concurrency)
            figures = summary(seconds, time.monotonic() - t0)
            print(f"   gallery page, {concurrency} at a time: {figures}")
        t0 = time.monotonic()
        seconds = timed_gets(session, css_url, args.requests, 8)
        print(f"   stylesheet, 8 at a time:      {summary(seconds, time.monotonic() - t0)}")
        download = f"{url}/edits/{big_pk}/results/0/download/"
        time.sleep(0.5)
        with WebMemory(web.pid) as memory:
            t0 = time.monotonic()
            response = session.get(download, timeout=TIMEOUT)
            took = time.monotonic() - t0
        assert len(response.content) == args.download_mb * MB, len(response.content)
        print(
            f"   {args.download_mb} MB download: {took:.2f} s; web RSS growth "
            f"{memory.growth_mb:.1f} MB (peak {memory.sampler.peak_kb / 1024:.0f} MB, "
            f"before {memory.before_kb / 1024:.0f} MB)"
        )
        requests_made = 2 * args.requests + args.requests + 1
        cpu = meter.used()["web"]
        each = cpu / requests_made * 1000
        print(f"   web CPU: {cpu:.2f} s for {requests_made} requests ({each:.1f} ms each)")
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--download-mb", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=1, help="rounds over the modes, in turn")
    args = parser.parse_args()
    args.requests = max(1, min(args.requests, 2000))
    modes = args.modes.split(",")
    for mode in modes:
        if mode not in MODES:
            sys.exit(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
    for _ in range(max(1, min(args.repeat, 10))):
        for mode in modes:
            run_mode(mode, args)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
