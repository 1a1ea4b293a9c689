"""PostgreSQL connections: persistent ones per thread (the default) against Django's pool.

    .venv/bin/python benchmarks/db_pool.py [--repeat 2] [--callback-edits 200]
        [--sync-edits 50] [--callback-latency 10] [--sync-latency 25] [--web-pool 4]
        [--worker-pool 8] [--settings off,pool]

On a throw-away PostgreSQL server (as scripts/test-postgres starts one), for each setting
in turn (a database of its own each time): the simulator, gunicorn as the Procfile runs
it (2 processes x 4 page threads), 2 `manage.py worker` processes and a reconciler.
`off` is the default (CONN_MAX_AGE: one persistent connection per thread); `pool` sets
RETOUCH_DB_POOL to `--web-pool` for the web processes and `--worker-pool` for the
workers and the reconciler. Measured:

1. callback burst: `--callback-edits` edits posted through the form at once (10 threads
   per worker, `--callback-latency` s upstream), with `--page-clients` people loading the
   gallery page over and over meanwhile: wall time ÷ latency, the page's latency;
2. the gallery page alone (it now shows the burst's edits), 8 at a time;
3. sync burst: `--sync-edits` edits at once on 25 threads per worker, `--sync-latency` s
   upstream (long enough for the workers to renew their leases, as real edits do);

and throughout: the most connections the server had open at once (pg_stat_activity,
sampled every 0.1 s), PostgreSQL's CPU (the server and every backend, exited ones
included) beside that of Retouch's processes, and edits that failed.

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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import requests
from concurrent_edits import start_edits
from stack import (
    CpuMeter,
    PgActivity,
    Processes,
    app_env,
    free_port,
    postgres_cpu,
    query_app,
    sign_in,
    start_simulator,
    start_web,
    throwaway_postgres,
)

TIMEOUT = 60.0


class Load(threading.Thread):
    """`clients` people loading the gallery page over and over until stopped (or `count`
    pages); the latency of each."""

    def __init__(self, session: requests.Session, url: str, clients: int, count: int) -> None:
        super().__init__(daemon=True)
        self.session, self.url, self.clients, self.count = session, url, clients, count
        self.seconds: list[float] = []
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        left = iter(range(self.count))  # shared: next() on a range iterator is atomic enough

        def client() -> None:
            while not self.stop.is_set() and next(left, None) is not None:
                t0 = time.monotonic()
                try:
                    response = self.session.get(self.url, timeout=TIMEOUT)
                    response.raise_for_status()
                    self.seconds.append(time.monotonic() - t0)
                except requests.RequestException:
                    self.errors += 1

        with ThreadPoolExecutor(self.clients) as pool:
            for _ in range(self.clients):
                pool.submit(client)

    def summary(self) -> str:
        if not self.seconds:
            return "no pages"
        ordered = sorted(self.seconds)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        return (
            f"median {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
            f"({len(ordered)} pages{f', {self.errors} errors' if self.errors else ''})"
        )


def wait_settled(env: dict[str, str], after: int, count: int, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    rows: list = []
    while time.monotonic() < deadline:
        rows = query_app(
            env,
            "SELECT id, status, created_at, finished_at FROM edits_edit WHERE id > ? ORDER BY id",
            (after,),
        )
        if len(rows) == count and all(r["status"] in ("succeeded", "failed") for r in rows):
            break
        time.sleep(0.5)
    return rows


def newest(env: dict[str, str]) -> int:
    return query_app(env, "SELECT COALESCE(MAX(id), 0) AS newest FROM edits_edit")[0]["newest"]


def burst(mode: str, count: int, latency: float, threads: int, ctx: dict, load_pages: bool) -> dict:
    """`count` edits posted at once in `mode` on fresh workers; with `load_pages`, the
    gallery loaded by 8 clients meanwhile."""
    env, procs, url, sim_url = ctx["env"], ctx["procs"], ctx["url"], ctx["sim_url"]
    requests.post(sim_url + "/_sim/reset", json={}, timeout=10).raise_for_status()
    requests.post(sim_url + "/_sim/latency", json={"seconds": latency}, timeout=10)
    worker_env = {**env, **ctx["worker_env"], "RETOUCH_DELIVERY": mode}
    workers = [
        procs.start(
            [sys.executable, "manage.py", "worker", "--threads", str(threads)], env=worker_env
        )
        for _ in range(2)
    ]
    time.sleep(3)  # let the workers import Django before the clock starts
    before = newest(env)
    meter = CpuMeter(
        {"web": [ctx["web"].pid], "workers": [w.pid for w in workers]},
        {"postgres": lambda: postgres_cpu(ctx["workdir"])},
    )
    load = Load(ctx["session"], url + "/", ctx["page_clients"], 100_000) if load_pages else None
    with PgActivity(ctx["admin_url"]) as connections:
        if load:
            load.start()
        t0 = time.monotonic()
        start_edits(url, ctx["session"].cookies, count, "gpt-image-1", "1024x1024", mode)
        submitted = time.monotonic() - t0
        rows = wait_settled(env, before, count, latency * 4 + 120)
        if load:
            load.stop.set()
            load.join(timeout=TIMEOUT)
    cpu = meter.used()
    for worker in workers:
        procs.stop(worker)
    finished = [r for r in rows if r["finished_at"]]
    wall = None
    if finished and len(rows) == count:
        wall = (
            max(r["finished_at"] for r in finished) - min(r["created_at"] for r in rows)
        ).total_seconds()
    return {
        "ratio": wall / latency if wall else None,
        "submitted": submitted,
        "failed": sum(r["status"] == "failed" for r in rows),
        "stuck": count - len(finished),
        "pages": load.summary() if load else "",
        "peak_connections": connections.peak,
        "cpu": cpu,
    }


def run_setting(name: str, args: argparse.Namespace, base: dict, run: int) -> dict:
    """One setting on a database of its own: the two bursts and the page alone."""
    procs, workdir = base["procs"], base["workdir"]
    database = f"pool_{name}_{run}"
    with psycopg.connect(base["admin_url"], autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{database}"')
    database_url = base["admin_url"].rsplit("/", 1)[0] + f"/{database}"
    data = workdir / database
    data.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    pooled = name == "pool"
    web_env = {"RETOUCH_DB_POOL": str(args.web_pool)} if pooled else {}
    worker_env = {"RETOUCH_DB_POOL": str(args.worker_pool)} if pooled else {}
    env = app_env(data, base["api_url"], url, DATABASE_URL=database_url, RETOUCH_RATE_LIMIT="0")
    web = start_web(procs, {**env, **web_env}, port)
    reconciler = procs.start([sys.executable, "manage.py", "reconcile"], env={**env, **worker_env})
    ctx = {
        **base,
        "env": env,
        "url": url,
        "web": web,
        "worker_env": worker_env,
        "session": sign_in(url),
    }
    try:
        results = {
            "callback": burst(
                "callback", args.callback_edits, args.callback_latency, 10, ctx, load_pages=True
            )
        }
        alone = Load(ctx["session"], url + "/", 8, args.requests)
        meter = CpuMeter({"web": [web.pid]})
        alone.run()
        results["page_alone"] = alone.summary()
        results["page_cpu_ms"] = meter.used()["web"] / max(1, len(alone.seconds)) * 1000
        results["sync"] = burst(
            "sync", args.sync_edits, args.sync_latency, 25, ctx, load_pages=False
        )
        return results
    finally:
        procs.stop(reconciler)
        procs.stop(web)


def report(name: str, results: dict) -> None:
    print(f"\n== {name} ==")
    for mode in ("callback", "sync"):
        one = results[mode]
        ratio = f"{one['ratio']:.2f}" if one["ratio"] else "-"
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in one["cpu"].items())
        print(
            f"  {mode:8s} burst: wall ÷ latency {ratio}, {one['failed']} failed, "
            f"{one['stuck']} stuck; submitted in {one['submitted']:.1f} s; "
            f"peak connections {one['peak_connections']}; CPU s: {cpu}"
        )
        if one["pages"]:
            print(f"           gallery page meanwhile: {one['pages']}")
    print(
        f"  gallery page alone (8 at a time): {results['page_alone']}; "
        f"web CPU {results['page_cpu_ms']:.1f} ms per page"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", default="off,pool")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over the settings")
    parser.add_argument("--callback-edits", type=int, default=200)
    parser.add_argument("--sync-edits", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200, help="gallery pages alone")
    parser.add_argument("--page-clients", type=int, default=4, help="during the burst")
    parser.add_argument("--callback-latency", type=float, default=10.0)
    parser.add_argument(
        "--sync-latency", type=float, default=25.0, help="> RETOUCH_LEASE_SECONDS / 3: renewals"
    )
    parser.add_argument("--web-pool", type=int, default=4, help="RETOUCH_DB_POOL of web")
    parser.add_argument(
        "--worker-pool", type=int, default=8, help="RETOUCH_DB_POOL of workers and reconciler"
    )
    args = parser.parse_args()
    settings = [name.strip() for name in args.settings.split(",") if name.strip()]

    workdir = Path(tempfile.mkdtemp(prefix="retouch-db-pool-"))
    procs = Processes(workdir / "processes.log")
    try:
        with throwaway_postgres(workdir) as admin_url:
            api_url, _simulator_pid = start_simulator(procs, args.callback_latency)
            base = {
                "procs": procs,
                "workdir": workdir,
                "api_url": api_url,
                "sim_url": api_url.removesuffix("/openai"),
                "admin_url": admin_url,
                "page_clients": args.page_clients,
            }
            print(
                f"{os.cpu_count()} CPU(s); web pool {args.web_pool}, worker pool "
                f"{args.worker_pool} (setting 'pool')"
            )
            for run in range(args.repeat):
                order = settings if run % 2 == 0 else list(reversed(settings))
                for name in order:
                    report(f"{name}, run {run + 1}", run_setting(name, args, base, run))
            procs.stop_all()
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
