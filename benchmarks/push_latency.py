"""How soon does an open page hear that an edit finished, and what do open pages cost?

    .venv/bin/python benchmarks/push_latency.py [--latency 2] [--repeat 5] [--concurrent 20]
        [--streams 500] [--database-url postgres://…]

Starts the simulator (`--latency` seconds per edit), gunicorn as the Procfile does (2
processes with uvicorn's worker) and one `manage.py worker` (25 threads) on a temporary
SQLite data folder (or the PostgreSQL database at `--database-url`: LISTEN/NOTIFY), and
signs a person in. An event-stream client (asyncio, raw HTTP) holds the person's gallery
stream open, as a page's `sse-connect` would.

1. Push latency: `--repeat` single edits one after another, then `--concurrent` edits at
   once, each started through the edit form as htmx posts it. For each edit: the time
   from the worker's commit of its result (the `at` of its last Change row, written
   inside that transaction just before the commit) to the arrival at the client of the
   first event naming it. Printed: median, p95, max.
2. Open pages: a second gunicorn with ONE web process; its RSS and the gallery page's
   latency (sequential GETs) with no stream open, then with `--streams` streams open at
   once; how long one change takes to reach every stream; the process's CPU while they
   sit idle; and, told to stop (SIGTERM), how soon every stream is closed and the process
   is gone. One person holds all the streams here (RETOUCH_STREAMS_PER_PERSON raised for
   the run): the cost per stream is the same whoever holds it.

Not yet measured here: the result shown in a browser (Playwright), which needs the
page's sse-connect wiring. Only 127.0.0.1 is used; every loop is bounded in count and
every wait in time; everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import json
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image
from stack import (
    Processes,
    app_env,
    cpu_seconds,
    form_field,
    form_file_head,
    free_port,
    memory_kb,
    sign_in,
    start_simulator,
    start_web,
    wait_http,
    worker_pids,
)

WAIT_FINAL = 120.0  # seconds an edit may take, all told
OPEN_TIMEOUT = 120.0  # seconds for all the streams to open
PAGE_GETS = 40
EDIT_BY_PROMPT = "SELECT id, status FROM edits_edit WHERE prompt = %s"


# -- the database, read from outside ---------------------------------------------------


class Database:
    def __init__(self, workdir: Path, url: str) -> None:
        self.sqlite = workdir / "db.sqlite3" if not url else None
        self.url = url

    def rows(self, sql: str, *params) -> list[tuple]:
        if self.sqlite is not None:
            db = sqlite3.connect(f"file:{self.sqlite}?mode=ro", uri=True, timeout=30)
            try:
                return db.execute(sql.replace("%s", "?"), params).fetchall()
            finally:
                db.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as db:
            return db.execute(sql, params).fetchall()

    def write_change(self, team_id: int) -> float:
        """A change of the team as the worker's commit writes one; returns when."""
        sql = "INSERT INTO edits_change (team_id, edit_id, at) VALUES (%s, %s, %s)"
        now = datetime.now(UTC)
        if self.sqlite is not None:
            db = sqlite3.connect(self.sqlite, timeout=30)
            try:
                with db:
                    db.execute(sql.replace("%s", "?"), (team_id, 0, now.isoformat(" ")[:26]))
            finally:
                db.close()
        else:
            import psycopg

            with psycopg.connect(self.url) as db:
                db.execute(sql, (team_id, 0, now))
                db.execute("SELECT pg_notify('retouch_changes', '')")
        return time.time()


def epoch(value) -> float:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


# -- event-stream clients (asyncio, raw HTTP/1.1, chunked) ---------------------------------


class Streams:
    """`count` event streams on one asyncio loop in a thread; each event's arrival time,
    id and edits are kept per stream."""

    def __init__(self, port: int, cookies: dict, count: int, path: str = "/events/") -> None:
        self.port, self.path, self.count = port, path, count
        self.cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.events: list[list[tuple[float, int, list[int], bool]]] = [[] for _ in range(count)]
        self.opened = [False] * count
        self.closed_at: list[float | None] = [None] * count
        self.statuses: list[int] = [0] * count
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tasks = [
            asyncio.run_coroutine_threadsafe(self._one(n), self.loop) for n in range(count)
        ]

    async def _one(self, n: int) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**20)
        except OSError:
            return
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Accept: text/event-stream\r\nCookie: {self.cookie}\r\n\r\n"
        )
        writer.write(request.encode())
        try:
            status = await reader.readline()
            self.statuses[n] = int(status.split()[1])
            while (await reader.readline()).strip():
                pass
            self.opened[n] = True
            pending = b""
            while True:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    break
                pending += (await reader.readexactly(size + 2))[:-2]
                while b"\n\n" in pending:
                    block, pending = pending.split(b"\n\n", 1)
                    self._event(n, block.decode())
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed_at[n] = time.time()
            writer.close()

    def _event(self, n: int, block: str) -> None:
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields.get("event") == "change":
            data = json.loads(fields.get("data", "{}"))
            self.events[n].append(
                (time.time(), int(fields["id"]), data.get("edits", []), bool(data.get("all")))
            )

    def wait(self, condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_all(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


# -- edits through the form -------------------------------------------------------------


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 90, 40)).save(out, "PNG")
    return out.getvalue()


def post_edits(port: int, cookies: dict, prompts: list[str]) -> None:
    boundary = "retouch-push-benchmark"
    fields = {"model": "gpt-image-1", "quality": "low", "size": "1024x1024"}
    common = (
        b"".join(
            form_field(boundary, name, value)
            for name, value in {**fields, "csrfmiddlewaretoken": cookies["csrftoken"]}.items()
        )
        + form_file_head(boundary, "photo.png", "image/png")
        + png()
        + b"\r\n"
    )
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "Referer": f"http://127.0.0.1:{port}/",
        "HX-Request": "true",
        "HX-Target": "gallery-items",
    }

    def one(prompt: str) -> int:
        body = common + form_field(boundary, "prompt", prompt) + f"--{boundary}--\r\n".encode()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("POST", "/edits/new/", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(min(len(prompts), 20)) as pool:
        statuses = list(pool.map(one, prompts))
    if any(status != 200 for status in statuses):
        raise SystemExit(f"edits not accepted: {statuses}")


def finished_edits(db: Database, prompts: list[str]) -> dict[int, str] | None:
    rows = [row for prompt in prompts for row in db.rows(EDIT_BY_PROMPT, prompt)]
    if len(rows) < len(prompts) or any(status in ("queued", "running") for _, status in rows):
        return None
    return dict(rows)


def push_latencies(db: Database, streams: Streams, prompts: list[str]) -> list[float]:
    """Start the edits, wait until final, and return each one's commit → event time."""
    post_edits(streams.port, streams.cookie_dict, prompts)
    deadline = time.monotonic() + WAIT_FINAL
    while (final := finished_edits(db, prompts)) is None:
        if time.monotonic() > deadline:
            raise SystemExit("edits did not finish in time")
        time.sleep(0.05)
    failed = [pk for pk, status in final.items() if status != "succeeded"]
    if failed:
        raise SystemExit(f"edits failed: {failed}")
    latencies = []
    for pk in final:
        (change_id, at), *_ = db.rows(
            "SELECT id, at FROM edits_change WHERE edit_id = %s ORDER BY id DESC LIMIT 1", pk
        )
        committed = epoch(at)

        def arrival(pk=pk, change_id=change_id) -> float | None:
            return next(
                (
                    when
                    for when, event_id, edits, everything in streams.events[0]
                    if event_id >= change_id and (pk in edits or everything)
                ),
                None,
            )

        streams.wait(lambda arrival=arrival: arrival() is not None, 10)
        when = arrival()
        if when is None:
            raise SystemExit(f"no event for edit {pk}")
        latencies.append(when - committed)
    return latencies


def spread(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(len(ordered) * 0.95) - 1)]
    return (
        f"median {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms (n={len(ordered)})"
    )


# -- open pages on one web process ---------------------------------------------------------


def page_latencies(session, url: str) -> list[float]:
    seconds = []
    for _ in range(PAGE_GETS):
        t0 = time.monotonic()
        session.get(url + "/", timeout=30).raise_for_status()
        seconds.append(time.monotonic() - t0)
    return seconds


def open_pages(procs: Processes, env: dict, db: Database, args, team_id: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "gunicorn", "editor.asgi"]
    command += ["--worker-class", "editor.web_worker.WebWorker", "--workers", "1"]
    command += ["--bind", f"127.0.0.1:{port}", "--timeout", "120"]
    web = procs.start(command, env={**env, "RETOUCH_STREAMS_PER_PERSON": "100000"})
    wait_http(url + "/accounts/login/")
    session = sign_in(url)
    page_latencies(session, url)  # warm-up
    (worker,) = worker_pids(web.pid)
    rss_before = memory_kb(worker)["VmRSS"] / 1024
    quiet = page_latencies(session, url)
    print(f"== {args.streams} open streams on one web process (uvicorn's worker)")
    print(f"   RSS with no stream open: {rss_before:.1f} MB")
    print(f"   gallery page, no stream open:  {spread(quiet)}")

    t0 = time.monotonic()
    streams = Streams(port, session.cookies.get_dict(), args.streams)
    all_open = streams.wait(lambda: all(events for events in streams.events), OPEN_TIMEOUT)
    opened = sum(1 for events in streams.events if events)
    print(
        f"   {opened} of {args.streams} streams open and caught up in "
        f"{time.monotonic() - t0:.1f} s" + ("" if all_open else " (NOT all)")
    )
    time.sleep(2)
    rss_open = memory_kb(worker)["VmRSS"] / 1024
    busy = page_latencies(session, url)
    print(f"   RSS with them open: {rss_open:.1f} MB (growth {rss_open - rss_before:.1f} MB)")
    print(f"   gallery page, {opened} streams open: {spread(busy)}")
    slower = statistics.median(busy) / statistics.median(quiet) - 1
    print(f"   page median {slower * 100:+.0f} % with them open")

    cpu0 = cpu_seconds(worker)
    time.sleep(10)
    print(f"   web CPU with them open and idle: {(cpu_seconds(worker) - cpu0) / 10 * 100:.1f} %")

    before = [len(events) for events in streams.events]
    written = db.write_change(team_id)
    streams.wait(lambda: all(len(e) > b for e, b in zip(streams.events, before, strict=True)), 30)
    delays = [e[b][0] - written for e, b in zip(streams.events, before, strict=True) if len(e) > b]
    print(f"   one change → every stream: {spread(delays)} ({len(delays)} reached)")

    t0 = time.time()
    web.send_signal(signal.SIGTERM)
    streams.wait(lambda: all(at is not None for at in streams.closed_at), 30)
    closed = [at - t0 for at in streams.closed_at if at is not None]
    try:
        web.wait(timeout=40)
        gone = f"process gone after {time.time() - t0:.2f} s"
    except Exception:
        gone = "process still running after 40 s"
    print(
        f"   SIGTERM: {len(closed)} of {args.streams} streams closed by the server, the last "
        f"after {max(closed, default=0):.2f} s; {gone}"
    )
    streams.close()
    procs.stop(web)
    log = Path(procs.log.name).read_text()
    if "timeout graceful shutdown exceeded" in log:
        print("   (uvicorn had to cancel responses at shutdown)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    args.repeat = max(0, min(args.repeat, 50))
    args.concurrent = max(0, min(args.concurrent, 50))
    args.streams = max(0, min(args.streams, 2000))

    workdir = Path(tempfile.mkdtemp(prefix="retouch-push-"))
    procs = Processes(workdir / "processes.log")
    try:
        api_url, _ = start_simulator(procs, args.latency)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        extra = {"DATABASE_URL": args.database_url} if args.database_url else {}
        env = app_env(
            workdir, api_url, url, RETOUCH_RATE_LIMIT="0", RETOUCH_PARTIAL_IMAGES="0", **extra
        )
        db = Database(workdir, args.database_url)
        start_web(procs, env, port)
        command = [sys.executable, "manage.py", "worker", "--threads", "25"]
        procs.start([*command, "--worker-id", "push-1"], env=env)
        session = sign_in(url)
        session.get(url + "/", timeout=30)  # the person's team is made on the first page
        cookies = session.cookies.get_dict()
        time.sleep(3)  # the worker imports Django
        engine = "PostgreSQL (LISTEN/NOTIFY)" if args.database_url else "SQLite (read every 0.1 s)"
        print(f"Simulator latency {args.latency:g} s; {engine}; 2 web processes, 1 worker × 25")

        streams = Streams(port, cookies, 1)
        streams.cookie_dict = cookies
        if not streams.wait(lambda: streams.events[0], 30):
            raise SystemExit(f"the stream did not open (HTTP {streams.statuses[0]})")
        singles = []
        for n in range(args.repeat):
            singles += push_latencies(db, streams, [f"single {n}"])
        if singles:
            print(f"== 1 edit at a time, commit → event at the client: {spread(singles)}")
        if args.concurrent:
            prompts = [f"together {n}" for n in range(args.concurrent)]
            together = push_latencies(db, streams, prompts)
            print(f"== {args.concurrent} edits at once, commit → event: {spread(together)}")
        streams.close()
        if args.streams:
            (team_id,) = db.rows("SELECT current_team_id FROM teams_profile")[0]
            open_pages(procs, env, db, args, team_id)
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
