"""Do many edits started at once finish in about the time of one?

    .venv/bin/python benchmarks/concurrent_edits.py [--latency 20] [--callback-edits 200]
        [--sync-edits 20] [--workers 2] [--threads 10] [--size 1024x1024] [--repeat 1]
        [--database sqlite|postgres|both] [--pg-waits] [--env NAME=VALUE] [--plain-form]

Runs the real thing as separate processes on a temporary SQLite file (`--database
postgres`: a throw-away PostgreSQL server on 127.0.0.1, started as scripts/test-postgres
starts one and removed afterwards; `both`: SQLite, then PostgreSQL): the API simulator
(`python -m editor.simulator --latency 20`: every edit takes 20 s upstream), gunicorn,
and `--workers` `manage.py worker` processes with `--threads` threads each. A signed-in
person starts all edits at once through the web form (20 uploads in parallel, posted
the way the page's htmx posts them), first in callback mode, then in sync mode, and
the script waits for every edit to finish.

Printed per mode: wall time (first edit created → last finished) divided by the
latency of one edit (targets: callback ≤ 1.5 on the embedded SQLite, ≤ 1.25 on
PostgreSQL; sync ≤ 2), per-edit latency percentiles and where the time went (queue,
upload, upstream, callback task), requests the simulator received, CPU seconds per
process, and the worker processes' memory. Everything runs on the same cores, the
simulator and PostgreSQL included (the simulator stands in for a service on other
machines; its drawing runs at a lower priority, half-way through the latency). CPU
speed on a shared machine varies from run to run, so `--repeat N` runs each mode N
times and prints min / median / max. `--pg-waits` also prints what PostgreSQL's backends
were found doing (sampled every 20 ms): running, waiting for a lock (and which), or
waiting for their client inside a transaction. Everything it starts is stopped at the end,
whatever happens; every wait is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests
from PIL import Image
from stack import (
    CpuMeter,
    PgActivity,
    Processes,
    app_env,
    form_field,
    form_file_head,
    free_port,
    memory_kb,
    postgres_cpu,
    query_app,
    sign_in,
    start_simulator,
    start_web,
    throwaway_postgres,
)

CLIENTS = 20
DATABASES = {"sqlite": "embedded SQLite", "postgres": "PostgreSQL"}
# Wall time ÷ the latency of one edit: on the embedded SQLite (Django's own engine), and
# on PostgreSQL, the engine for bursts (README, "Databases").
TARGETS = {
    "sqlite": {"callback": 1.5, "sync": 2.0},
    "postgres": {"callback": 1.25, "sync": 2.0},
}
# A batch of up to 50 photos (--batch), with the default worker set-up in sync mode.
BATCH_TARGETS = {"callback": 1.3, "sync": 1.3}


def start_edits(
    url: str, cookies, count: int, model: str, size: str, label: str, htmx: bool = False
) -> None:
    """`count` people pressing "Start edit" at the same moment (CLIENTS at a time):
    the plain form post (answered with a redirect), or with `htmx` the browser's htmx
    request (answered with the new card and a fresh form).

    The form posts are encoded by hand over http.client: requests costs ~4 ms of CPU per
    post, which this script would take from the two cores the app is measured on.
    """
    png = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 60, 40)).save(png, "PNG")
    image = png.getvalue()
    target = urlsplit(url)
    boundary = "retouch-benchmark-boundary"
    fields = {
        "model": model,
        "size": size,
        "csrfmiddlewaretoken": cookies["csrftoken"],
        **({"quality": "low"} if model == "gpt-image-1" else {}),
    }

    common = (
        b"".join(form_field(boundary, name, value) for name, value in fields.items())
        + form_file_head(boundary, "photo.png", "image/png")
        + image
        + b"\r\n"
    )
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        "Referer": url + "/",
        **({"HX-Request": "true", "HX-Target": "gallery-items"} if htmx else {}),
    }
    local = threading.local()

    def one(index: int) -> int:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        body = (
            common
            + form_field(boundary, "prompt", f"{label} edit {index}")
            + f"--{boundary}--\r\n".encode()
        )
        local.connection.request("POST", "/edits/new/", body=body, headers=headers)
        response = local.connection.getresponse()
        response.read()
        if response.getheader("Connection", "").lower() == "close":
            local.connection.close()
            del local.connection
        return response.status

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(one, range(count)))
    bad = [s for s in statuses if s != (200 if htmx else 302)]
    if bad:
        raise SystemExit(f"{len(bad)} edits were not accepted (HTTP {sorted(set(bad))})")


def start_batch(url: str, cookies, count: int, model: str, size: str, label: str) -> None:
    """One person choosing `count` photos, "Apply to each photo separately", and pressing
    "Start edit" once: one post, `count` edits grouped as a batch."""
    boundary = "retouch-benchmark-boundary"
    fields = {
        "model": model,
        "size": size,
        "apply_to": "each",
        "prompt": f"{label} batch",
        "csrfmiddlewaretoken": cookies["csrftoken"],
        **({"quality": "low"} if model == "gpt-image-1" else {}),
    }
    body = b"".join(form_field(boundary, name, value) for name, value in fields.items())
    for index in range(count):
        png = io.BytesIO()
        Image.new("RGB", (256, 256), (200, 60, (40 + index) % 256)).save(png, "PNG")
        body += form_file_head(boundary, f"photo-{index}.png", "image/png")
        body += png.getvalue() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    target = urlsplit(url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        "Referer": url + "/",
    }
    connection.request("POST", "/edits/new/", body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status != 302:
        raise SystemExit(f"the batch was not accepted (HTTP {response.status})")


def read_edits(env: dict[str, str], after_id: int) -> list:
    return query_app(
        env,
        "SELECT id, status, attempts, created_at, started_at, submitted_at, finished_at,"
        " error_code,"
        " (SELECT COUNT(*) FROM edits_resultimage r WHERE r.edit_id = e.id) AS results"
        " FROM edits_edit e WHERE id > ? ORDER BY id",
        (after_id,),
    )


def finish_tasks(env: dict[str, str], since) -> list:
    """The queue's rows of the tasks that finished edits from callbacks."""
    return query_app(
        env,
        "SELECT enqueued_at, started_at, finished_at FROM django_tasks_database_dbtaskresult"
        " WHERE task_path LIKE '%finish_callback' AND enqueued_at >= ?"
        " AND finished_at IS NOT NULL",
        (since,),
    )


def seconds_between(rows, start: str, end: str) -> list[float]:
    return sorted(
        (when(r[end]) - when(r[start])).total_seconds() for r in rows if r[start] and r[end]
    )


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"p50 {statistics.median(values):.2f} s, max {values[-1]:.2f} s"


def max_id(env: dict[str, str]) -> int:
    return query_app(env, "SELECT COALESCE(MAX(id), 0) AS newest FROM edits_edit")[0]["newest"]


def when(value: str | datetime) -> datetime:
    """A timestamp as SQLite (text) or PostgreSQL (a datetime) gives it."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def run_mode(
    mode: str,
    count: int,
    args: argparse.Namespace,
    procs: Processes,
    env: dict[str, str],
    url: str,
    sim_url: str,
    pids: dict[str, list[int]],
    more_cpu: dict | None = None,
) -> dict:
    requests.post(sim_url + "/_sim/reset", json={}, timeout=10).raise_for_status()
    worker_env = {**env, "RETOUCH_DELIVERY": mode}
    workers = [
        procs.start(
            [
                sys.executable,
                "manage.py",
                "worker",
                "--threads",
                str(args.threads),
                "--worker-id",
                f"bench-{mode}-{index + 1}",
            ],
            env=worker_env,
        )
        for index in range(args.workers)
    ]
    time.sleep(3)  # let the workers import Django before the clock starts
    before = max_id(env)
    session = sign_in(url)
    meter = CpuMeter({**pids, "workers": [w.pid for w in workers]}, more_cpu)
    submit_started = time.monotonic()
    if args.batch:
        start_batch(url, session.cookies, count, args.model, args.size, mode)
    else:
        start_edits(
            url, session.cookies, count, args.model, args.size, mode, htmx=not args.plain_form
        )
    submit_seconds = time.monotonic() - submit_started
    submit_cpu = meter.used()

    deadline = time.monotonic() + args.latency * 6 + 180
    rows: list = []
    upstream_cpu = None
    while time.monotonic() < deadline:
        rows = read_edits(env, before)
        if upstream_cpu is None and len(rows) == count and all(r["submitted_at"] for r in rows):
            upstream_cpu = meter.used()
        if len(rows) == count and all(r["status"] in ("succeeded", "failed") for r in rows):
            break
        time.sleep(0.5)
    memory = [memory_kb(w.pid) for w in workers]
    total_cpu = meter.used()
    for worker in workers:
        procs.stop(worker)

    upstream = requests.get(sim_url + "/_sim/requests", timeout=30).json()
    edit_requests = sum(1 for r in upstream if r["path"].endswith("/images/edits"))
    task_requests = sum(1 for r in upstream if r["path"].endswith("/tasks"))
    finished = [r for r in rows if r["status"] in ("succeeded", "failed")]
    latencies = sorted(
        (when(r["finished_at"]) - when(r["created_at"])).total_seconds() for r in finished
    )
    callback_rows = finish_tasks(env, min(r["created_at"] for r in rows)) if rows else []
    stages = {
        "created → started": seconds_between(rows, "created_at", "started_at"),
        "started → submitted": seconds_between(rows, "started_at", "submitted_at"),
        "submitted → finished": seconds_between(rows, "submitted_at", "finished_at"),
        "callback task waits": seconds_between(callback_rows, "enqueued_at", "started_at"),
        "callback task runs": seconds_between(callback_rows, "started_at", "finished_at"),
    }
    wall = after_uploads = None
    if finished:
        last_finished = max(when(r["finished_at"]) for r in finished)
        wall = (last_finished - min(when(r["created_at"]) for r in rows)).total_seconds()
        after_uploads = (last_finished - max(when(r["created_at"]) for r in rows)).total_seconds()
    return {
        "mode": mode,
        "edits": count,
        "succeeded": sum(r["status"] == "succeeded" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "stuck": count - len(finished),
        "duplicated": sum(r["results"] > 1 for r in rows),
        "errors": sorted({r["error_code"] for r in rows if r["error_code"]}),
        "edit_requests": edit_requests,
        "task_requests": task_requests,
        "submit_seconds": submit_seconds,
        "wall": wall,
        "after_uploads": after_uploads,
        "ratio": wall / args.latency if wall else None,
        "p50": statistics.median(latencies) if latencies else None,
        "p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
        "max": latencies[-1] if latencies else None,
        "stages": stages,
        "submit_cpu": submit_cpu,
        "upstream_cpu": upstream_cpu or {},
        "total_cpu": total_cpu,
        "worker_rss_mb": [round(m.get("VmRSS", 0) / 1024) for m in memory],
        "worker_peak_mb": [round(m.get("VmHWM", 0) / 1024) for m in memory],
    }


def report(result: dict, latency: float, target: float) -> None:
    ok = result["ratio"] is not None and result["ratio"] <= target and result["stuck"] == 0
    print(f"\n== {result['mode']} mode: {result['edits']} edits started at once ==")
    print(
        f"  outcome         {result['succeeded']} succeeded, {result['failed']} failed, "
        f"{result['stuck']} stuck, {result['duplicated']} duplicated"
        + (f" (errors: {', '.join(result['errors'])})" if result["errors"] else "")
    )
    print(
        f"  upstream        {result['edit_requests']} edit requests, "
        f"{result['task_requests']} Tasks API requests"
    )
    print(f"  submitting      {result['submit_seconds']:.1f} s for all uploads through the form")
    if result["wall"] is not None:
        print(
            f"  wall time       {result['wall']:.1f} s = {result['ratio']:.2f} × the "
            f"{latency:g} s latency of one edit (target ≤ {target:g}: "
            f"{'met' if ok else 'NOT met'})"
        )
        print(
            f"  after uploads   {result['after_uploads']:.1f} s from the last edit created to the "
            f"last finished = {result['after_uploads'] / latency:.2f} × latency"
        )
        print(
            f"  per-edit        p50 {result['p50']:.1f} s, p95 {result['p95']:.1f} s, "
            f"max {result['max']:.1f} s (created → finished) = max "
            f"{result['max'] / latency:.2f} × latency"
        )
    for name, values in result["stages"].items():
        if values:
            print(f"    {name:22s}{spread(values)}")
    for label, key in (
        ("CPU, submitting", "submit_cpu"),
        ("CPU, all sent", "upstream_cpu"),
        ("CPU, in all", "total_cpu"),
    ):
        if not result[key]:
            continue
        figures = ", ".join(f"{name} {value:.1f}" for name, value in result[key].items())
        print(f"  {label:15s} {sum(result[key].values()):.1f} s: {figures}")
    print(
        f"  worker memory   RSS {result['worker_rss_mb']} MB, peak {result['worker_peak_mb']} MB"
        " per process"
    )


def run_on(
    database: str,
    args: argparse.Namespace,
    workdir: Path,
    procs: Processes,
    api_url: str,
    simulator_pid: int,
    database_url: str = "",
) -> dict[str, list[float]]:
    """Every run of each mode on one database, with gunicorn of its own; the ratios."""
    sim_url = api_url.removesuffix("/openai")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = workdir / database
    data.mkdir()
    # One user starts all the edits: the per-user rate limit is not under test.
    extra = {"DATABASE_URL": database_url} if database_url else {}
    env = app_env(data, api_url, url, RETOUCH_RATE_LIMIT="0", **extra, **args.env)
    web = start_web(procs, env, port)
    print(
        f"\n#### {DATABASES[database]}: simulator latency {args.latency:g} s; "
        f"{args.workers} worker process(es) × {args.threads} thread(s); gunicorn 2 × 4; "
        f"{os.cpu_count()} CPU(s); {args.model} results of {args.size}."
        + (f" Environment: {args.env}." if args.env else "")
    )
    pids = {"simulator": [simulator_pid], "gunicorn": [web.pid]}
    more_cpu = {"postgres": lambda: postgres_cpu(workdir)} if database_url else None
    waits = bool(database_url and args.pg_waits)
    ratios: dict[str, list[float]] = {}
    targets = targets_for(database, args.batch)
    try:
        for run in range(args.repeat):
            for mode, count in (("callback", args.callback_edits), ("sync", args.sync_edits)):
                if not count:
                    continue
                if args.repeat > 1:
                    print(f"\n-- {DATABASES[database]}, run {run + 1} of {args.repeat}")
                with PgActivity(database_url, 0.02) if waits else nullcontext() as activity:
                    result = run_mode(mode, count, args, procs, env, url, sim_url, pids, more_cpu)
                report(result, args.latency, targets[mode])
                if activity:
                    print("  PostgreSQL      backends found busy, on average (pg_stat_activity):")
                    print("\n".join(f"    {line}" for line in activity.top()))
                ok = result["stuck"] == 0 and result["ratio"] is not None
                ratios.setdefault(mode, []).append(result["ratio"] if ok else float("inf"))
    finally:
        procs.stop(web)
    return ratios


def targets_for(database: str, batch: bool) -> dict[str, float]:
    return BATCH_TARGETS if batch else TARGETS[database]


def summary(results: dict[str, dict[str, list[float]]], batch: bool) -> None:
    """Each database's ratios side by side: every run, min / median / max, the target."""
    print("\n== summary: wall time ÷ the latency of one edit ==")
    for database, ratios in results.items():
        targets = targets_for(database, batch)
        for mode, values in ratios.items():
            median = statistics.median(values)
            runs = ", ".join(f"{v:.2f}" for v in values)
            print(
                f"  {DATABASES[database]:16s} {mode:9s} runs {runs}"
                f"; min {min(values):.2f}, median {median:.2f}, max {max(values):.2f} "
                f"(target ≤ {targets[mode]:g}: {'met' if median <= targets[mode] else 'NOT met'})"
            )


def environment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=20.0, help="seconds per edit upstream")
    parser.add_argument("--callback-edits", type=int, default=200)
    parser.add_argument("--sync-edits", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=10, help="threads per worker process")
    parser.add_argument("--model", default="gpt-image-1", help="gpt-image-1 or dall-e-2")
    parser.add_argument("--size", default="1024x1024", help="result size asked for")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres", "both"),
        default="sqlite",
        help="the embedded SQLite (default), a throw-away PostgreSQL server, or both in turn",
    )
    parser.add_argument(
        "--env",
        type=environment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for Retouch's processes (repeatable), e.g. a setting "
        "to compare",
    )
    parser.add_argument(
        "--pg-waits",
        action="store_true",
        help="PostgreSQL: sample pg_stat_activity every 20 ms and print what backends waited on",
    )
    parser.add_argument(
        "--plain-form",
        action="store_true",
        help="post the plain form (answered with a redirect), as without JavaScript; by "
        "default edits are posted the way the page's htmx does (the answer is the new card)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each mode; the summary gives the median"
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="start each mode's edits as one batch (one post, 'apply to each photo')",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    args.env = dict(args.env)

    workdir = Path(tempfile.mkdtemp(prefix="retouch-concurrency-"))
    procs = Processes(workdir / "processes.log")
    results: dict[str, dict[str, list[float]]] = {}
    try:
        api_url, simulator_pid = start_simulator(procs, args.latency)
        databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
        for database in databases:
            if database == "postgres":
                with throwaway_postgres(workdir) as database_url:
                    results[database] = run_on(
                        database, args, workdir, procs, api_url, simulator_pid, database_url
                    )
            else:
                results[database] = run_on(database, args, workdir, procs, api_url, simulator_pid)
        if args.repeat > 1 or len(results) > 1:
            summary(results, args.batch)
    finally:
        procs.stop_all()
        if args.keep:
            print(f"\nKept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
