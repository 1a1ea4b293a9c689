"""What does one edit cost the server, and how much time does Retouch add to the API's?

    .venv/bin/python benchmarks/edit_cost.py [--latency 5] [--edits 5] [--repeat 3]
        [--warmup 2] [--side 1024] [--idle 10] [--no-stream] [--profile DIR]

Starts the real stack on 127.0.0.1 on a temporary SQLite data folder, as the Procfile
runs it: the API simulator (`--latency` seconds per edit; its CPU is the fake API's, not
counted), gunicorn with uvicorn's worker (2 processes), one `manage.py worker` and the
reconciler. A person signs in and loads the gallery once (not counted), and a page's
event stream is held open (`/events/`, as an open gallery would; without one the page
polls every 2 s, as app.js does).

Then, one after another, `--edits` edits of a `--side`² photo-like PNG, each posted
through the edit form as the page's htmx posts it, and followed as the page follows it:
every event naming the edit asks the gallery's update partial for its card (as
`sse:change` triggers the poller), and once the card shows the result its thumbnail is
fetched, as the browser does for the `<img>`. `--warmup` edits go first, uncounted (the
first request of each process imports and compiles what later ones reuse).

Printed for each of `--repeat` rounds, and their min / median / max:
- CPU seconds per edit of the web processes (gunicorn's master and workers) and the
  worker, from /proc/<pid>/stat (utime + stime) before the first post and after the last
  edit's task is recorded; the reconciler's beside it. "net of idle" subtracts what the
  same processes burn while nothing happens (measured for `--idle` seconds first, stream
  open), over the same wall time.
- The overhead above the simulator's latency: submit → result stored (the edit's
  finished_at, written in the worker's commit), → the event at the client, → the
  thumbnail received (the image shown in the page).

With `--profile DIR`, py-spy (on PATH, or `--py-spy`) records the web processes and the
worker during the rounds: DIR/web.txt and DIR/worker.txt, collapsed stacks of the
samples that were on a CPU (the CPU figures then include py-spy's own interruptions).

Other work on the same cores makes the CPU figures noisy: run it on a quiet machine, or
compare rounds. Every loop is bounded in count and every wait in time; everything
started is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from PIL import Image
from stack import (
    CpuMeter,
    Processes,
    app_env,
    cpu_seconds,
    edit_form_fields,
    form_field,
    form_file_head,
    free_port,
    htmx_form_headers,
    outcome,
    post_edit_form,
    query_read_only,
    sign_in,
    start_simulator,
    start_web,
)

BOUNDARY = "retouch-edit-cost-boundary"
POLL_SECONDS = 2.0  # app.js's poll, when no event stream is open
EDIT_TIMEOUT = 120.0  # seconds one edit may take, all told
KEEPALIVE_SECONDS = 1.0  # a connection idle longer is not reused (uvicorn closes at 5 s)
CARD_ID = re.compile(r'id="edit-(\d+)"')
PENDING = re.compile(r'name="pending" value="(\d+):([^"]+)"')
THUMBNAIL = re.compile(r'src="(/edits/(\d+)/results/\d+/thumbnail/)"')


def photo_png(side: int) -> bytes:
    """A photo-like PNG: smooth gradients under grain, so that it compresses about as a
    photo does (~1.4 bytes a pixel) rather than to nothing."""
    ramp = Image.linear_gradient("L").resize((side, side))
    glow = Image.radial_gradient("L").resize((side, side))
    grain = Image.effect_noise((side, side), 24)
    image = Image.merge("RGB", (ramp, glow, Image.blend(grain, ramp.rotate(90), 0.5)))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# -- the page's event stream -----------------------------------------------------------


class EventStream(threading.Thread):
    """GET /events/ held open on a raw socket (chunked, as uvicorn sends it); each
    `change` event's arrival time and the edits it names."""

    def __init__(self, port: int, cookies: dict) -> None:
        super().__init__(daemon=True)
        self.port, self.cookies = port, cookies
        self.status = 0
        self.opened = threading.Event()
        self.changed = threading.Condition()
        self.events: list[tuple[float, list[int], bool]] = []
        self.sock: socket.socket | None = None

    def run(self) -> None:
        try:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=600)
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            self.sock.sendall(
                f"GET /events/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Accept: text/event-stream\r\nCookie: {cookie}\r\n\r\n".encode()
            )
            reader = self.sock.makefile("rb")
            self.status = int(reader.readline().split()[1])
            while reader.readline().strip():
                pass
            if self.status != 200:
                return
            self.opened.set()
            pending = b""
            while size := int(reader.readline().strip() or b"0", 16):
                pending += reader.read(size + 2)[:-2]
                while b"\n\n" in pending:
                    block, pending = pending.split(b"\n\n", 1)
                    self._event(block.decode())
        except (OSError, ValueError, IndexError):
            pass
        finally:
            self.opened.set()

    def _event(self, block: str) -> None:
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields.get("event") != "change":
            return
        data = json.loads(fields.get("data", "{}"))
        with self.changed:
            self.events.append((time.time(), data.get("edits", []), bool(data.get("all"))))
            self.changed.notify_all()

    def wait_for(self, edit_id: int, after: int, timeout: float) -> int | None:
        """The index of the first event after `after` that names `edit_id` (or all)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for index in range(after, len(self.events)):
                    _at, edits, everything = self.events[index]
                    if edit_id in edits or everything:
                        return index
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
        self.join(timeout=5)


# -- one edit, followed as the page follows it ------------------------------------------


class Page:
    """One person's open gallery: the edit form, the event stream (or the poll), the
    update partial and the thumbnails, over one keep-alive connection."""

    def __init__(self, port: int, cookies: dict, stream: EventStream | None, web_pid: int) -> None:
        self.port, self.cookies, self.stream, self.web_pid = port, cookies, stream, web_pid
        # The web processes' CPU over each request, by kind (post, update, thumbnail).
        self.request_cpu: dict[str, list[float]] = {"post": [], "update": [], "thumbnail": []}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.used_at = 0.0

    def get(self, path: str, kind: str, **headers: str) -> tuple[int, bytes]:
        self._fresh_if_idle()
        cpu = cpu_seconds(self.web_pid)
        self.connection.request("GET", path, headers={"Cookie": self.cookie, **headers})
        response = self.connection.getresponse()
        answer = response.status, response.read()
        self.request_cpu[kind].append(cpu_seconds(self.web_pid) - cpu)
        return answer

    def _fresh_if_idle(self) -> None:
        """A new connection when the server may have closed the idle one (its keep-alive
        is seconds), as a browser opens one: a post is never sent twice."""
        if time.monotonic() - self.used_at > KEEPALIVE_SECONDS:
            self.connection.close()
        self.used_at = time.monotonic()

    def edit(self, prompt: str, image: bytes) -> dict:
        """Post one edit and follow it until its thumbnail arrived; its timings."""
        fields = edit_form_fields(self.cookies, prompt=prompt)
        body = (
            b"".join(form_field(BOUNDARY, name, value) for name, value in fields.items())
            + form_file_head(BOUNDARY, "photo.png", "image/png")
            + image
            + f"\r\n--{BOUNDARY}--\r\n".encode()
        )
        headers = htmx_form_headers(self.port, self.cookies, BOUNDARY)
        after = len(self.stream.events) if self.stream else 0
        self._fresh_if_idle()
        submitted = time.time()
        cpu = cpu_seconds(self.web_pid)
        status, _seconds, text = post_edit_form(self.connection, body, headers)
        answered = time.time()
        self.request_cpu["post"].append(cpu_seconds(self.web_pid) - cpu)
        if outcome(status, text) != "accepted":
            raise SystemExit(f"the edit was not accepted: {outcome(status, text)}")
        edit_id = int(CARD_ID.search(text)[1])
        shown = PENDING.search(text)[2]
        timings = {"id": edit_id, "submitted": submitted, "answered": answered, "updates": 0}
        deadline = time.monotonic() + EDIT_TIMEOUT
        while time.monotonic() < deadline:
            if self.stream:
                index = self.stream.wait_for(edit_id, after, deadline - time.monotonic())
                if index is None:
                    break
                after = index + 1
                timings["event"] = self.stream.events[index][0]
            else:
                time.sleep(POLL_SECONDS)
            query = urlencode({"pending": f"{edit_id}:{shown}"})
            status, card = self.get(
                f"/edits/updates/?{query}",
                kind="update",
                **{"HX-Request": "true", "HX-Target": "gallery-poller"},
            )
            timings["updates"] += 1
            html = card.decode(errors="replace")
            thumbnail = THUMBNAIL.search(html)
            if thumbnail:
                status, data = self.get(thumbnail[1], kind="thumbnail")
                if status != 200 or not data:
                    raise SystemExit(f"thumbnail of edit {edit_id}: HTTP {status}")
                timings["shown"] = time.time()
                return timings
            if f'id="edit-{edit_id}"' in html:
                pending = PENDING.search(html)
                if pending is None:
                    raise SystemExit(f"edit {edit_id} ended without a result")
                shown = pending[2]
        raise SystemExit(f"edit {edit_id} was not shown within {EDIT_TIMEOUT:.0f} s")


# -- the database, read from outside -------------------------------------------------------


def epoch(text: str) -> float:
    value = datetime.fromisoformat(text)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def moments(db: Path, edit_id: int) -> dict[str, float]:
    """When the edit was created, claimed by the worker and finished (its commit)."""
    (row,) = query_read_only(
        db, "SELECT created_at, started_at, finished_at FROM edits_edit WHERE id = ?", (edit_id,)
    )
    return {name: epoch(row[name]) for name in ("created_at", "started_at", "finished_at")}


def wait_tasks_recorded(db: Path, timeout: float = 30) -> None:
    """Until the queue has no task left unfinished (its outcome recorded by the worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (left,) = query_read_only(
            db,
            "SELECT COUNT(*) FROM django_tasks_database_dbtaskresult"
            " WHERE status IN ('READY', 'RUNNING')",
        )[0]
        if not left:
            return
        time.sleep(0.1)
    raise SystemExit("the worker's tasks were not recorded in time")


# -- the figures ----------------------------------------------------------------------------


def run_round(page: Page, db: Path, meter: CpuMeter, args, idle_rate: dict, label: str) -> dict:
    image = photo_png(args.side)
    started = time.monotonic()
    meter.start()
    timings = [page.edit(f"{label} edit {n + 1}", image) for n in range(args.edits)]
    wait_tasks_recorded(db)
    used = meter.used()
    wall = time.monotonic() - started
    for one in timings:
        one.update(moments(db, one["id"]))
        one["stored"] = one["finished_at"]
    per_edit = {name: seconds / args.edits for name, seconds in used.items()}
    idle = {name: idle_rate.get(name, 0) * wall / args.edits for name in used}
    server = per_edit["web"] + per_edit["worker"]
    figures = {
        "web": per_edit["web"],
        "worker": per_edit["worker"],
        "reconciler": per_edit["reconciler"],
        "server": server,
        "server net of idle": server - idle["web"] - idle["worker"],
        "updates per edit": statistics.mean(t["updates"] for t in timings),
        "submit answered": statistics.median(t["answered"] - t["submitted"] for t in timings),
        "created → claimed": statistics.median(t["started_at"] - t["created_at"] for t in timings),
        "claimed → stored": statistics.median(
            t["finished_at"] - t["started_at"] - args.latency for t in timings
        ),
    }
    for name, key in (("stored", "stored"), ("event", "event"), ("shown", "shown")):
        values = [t[key] - t["submitted"] - args.latency for t in timings if key in t]
        if values:
            figures[f"overhead → {name}"] = statistics.median(values)
    return figures


def print_round(label: str, figures: dict) -> None:
    print(f"== {label}")
    print(
        f"   CPU per edit: web {figures['web']:.3f} s + worker {figures['worker']:.3f} s"
        f" = {figures['server']:.3f} s (net of idle {figures['server net of idle']:.3f} s);"
        f" reconciler {figures['reconciler']:.3f} s"
    )
    overheads = ", ".join(
        f"{name.split('→ ')[1]} {value:.3f} s"
        for name, value in figures.items()
        if name.startswith("overhead")
    )
    print(
        f"   overhead above the latency (median): {overheads}; form answered in"
        f" {figures['submit answered']:.3f} s; {figures['updates per edit']:.1f} updates/edit"
    )
    print(
        f"   the worker claimed each edit {figures['created → claimed']:.3f} s after its"
        f" creation and stored it {figures['claimed → stored']:.3f} s past the latency"
    )


def profile(procs: Processes, args, pids: dict[str, int]) -> list:
    """py-spy recording each process (gunicorn's with its workers) until interrupted."""
    args.profile.mkdir(parents=True, exist_ok=True)
    recorders = []
    for name, pid in pids.items():
        command = [args.py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200"]
        command += ["--output", str(args.profile / f"{name}.txt"), "--nonblocking"]
        command += ["--subprocesses"] if name == "web" else []
        recorders.append(procs.start(command, env=dict(os.environ)))
    time.sleep(2)  # attached
    return recorders


def stop_profile(procs: Processes, recorders: list) -> None:
    """Interrupted as by Ctrl+C, py-spy writes its file."""
    for recorder in recorders:
        recorder.send_signal(signal.SIGINT)
    for recorder in recorders:
        with contextlib.suppress(subprocess.TimeoutExpired):
            recorder.wait(timeout=60)
        procs.stop(recorder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=5.0)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--no-stream", action="store_true", help="poll as without /events/")
    parser.add_argument("--profile", type=Path, help="py-spy's samples into this folder")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy program")
    args = parser.parse_args()
    args.edits = max(1, min(args.edits, 50))
    args.repeat = max(1, min(args.repeat, 10))
    args.warmup = max(0, min(args.warmup, 10))
    args.side = max(256, min(args.side, 4096))
    args.idle = max(1.0, min(args.idle, 120.0))

    workdir = Path(tempfile.mkdtemp(prefix="retouch-edit-cost-"))
    procs = Processes(workdir / "processes.log")
    db = workdir / "db.sqlite3"
    stream = None
    try:
        api_url, _sim_pid = start_simulator(procs, args.latency)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = app_env(workdir, api_url, url, RETOUCH_RATE_LIMIT="0")
        web = start_web(procs, env, port)
        worker = procs.start([sys.executable, "manage.py", "worker"], env=env)
        reconciler = procs.start([sys.executable, "manage.py", "reconcile"], env=env)
        session = sign_in(url)  # not counted, nor the page load below
        session.get(url + "/", timeout=30).raise_for_status()  # makes the person's team
        cookies = session.cookies.get_dict()
        time.sleep(3)  # the worker and the reconciler import Django
        if not args.no_stream:
            stream = EventStream(port, cookies)
            stream.start()
            stream.opened.wait(30)
            if stream.status != 200:
                print(f"(no event stream: /events/ answered {stream.status}; the page polls)")
                stream = None
        page = Page(port, cookies, stream, web.pid)
        meter = CpuMeter({"web": [web.pid], "worker": [worker.pid], "reconciler": [reconciler.pid]})
        print(
            f"Simulator latency {args.latency:g} s; {args.side}² PNG of"
            f" {len(photo_png(args.side)) / 1e6:.2f} MB; 2 web processes (uvicorn's worker),"
            f" 1 worker, 1 reconciler; SQLite; "
            + ("event stream open" if stream else f"polling every {POLL_SECONDS:g} s")
        )
        for n in range(args.warmup):
            page.edit(f"warm-up {n + 1}", photo_png(args.side))
        wait_tasks_recorded(db)
        for values in page.request_cpu.values():
            values.clear()  # the warm-up's
        meter.start()
        time.sleep(args.idle)
        idle_rate = {name: seconds / args.idle for name, seconds in meter.used().items()}
        print(
            "Idle CPU (nothing happening): "
            + ", ".join(
                f"{name} {rate * 100:.1f} %"
                for name, rate in idle_rate.items()
                if name != "benchmark client"
            )
        )
        recorders = (
            profile(procs, args, {"web": web.pid, "worker": worker.pid}) if args.profile else []
        )
        rounds = []
        for n in range(args.repeat):
            figures = run_round(page, db, meter, args, idle_rate, f"round {n + 1}")
            print_round(f"round {n + 1}: {args.edits} edits one after another", figures)
            rounds.append(figures)
        stop_profile(procs, recorders)
        if len(rounds) > 1:
            print(f"== over {len(rounds)} rounds: min / median / max")
            for name in rounds[0]:
                values = sorted(r[name] for r in rounds if name in r)
                print(
                    f"   {name:22} {values[0]:.3f} / {statistics.median(values):.3f} /"
                    f" {values[-1]:.3f}"
                )
        print(
            "   web CPU per request (mean: /proc counts 10 ms ticks; the rest of the web's"
            " share is the event feed and idle ticking): "
            + ", ".join(
                f"{kind} {statistics.mean(values) * 1000:.1f} ms"
                for kind, values in page.request_cpu.items()
                if values
            )
        )
        best = statistics.median(r["server"] for r in rounds)
        print(f"   target CPU (web + worker) per edit ≤ 0.3 s: median {best:.3f} s")
        shown = [r["overhead → shown"] for r in rounds if "overhead → shown" in r]
        if shown:
            shown_median = statistics.median(shown)
            print(f"   target overhead to the image shown ≤ 0.3 s: median {shown_median:.3f} s")
    finally:
        if stream is not None:
            stream.close()
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
