"""Two machines sharing nothing but PostgreSQL and the bucket, one worker killed mid-burst.

Each "machine" is a ProcessStack with a data folder and a temporary folder of its own
(no MEDIA_ROOT, no disk in common): a web process (gunicorn with the project's ASGI
worker, one process), a worker and a reconciler. Both use one PostgreSQL database and one
bucket on moto's S3 server; machine A's processes share pooled connections
(RETOUCH_DB_POOL), B's keep one per thread. Edits are posted through the web form,
alternating between the two web processes; while the simulator holds them, machine A's
worker is killed with SIGKILL. Machine B's worker and the two reconcilers must then
finish every edit exactly once:

- 0 lost: every edit posted succeeds; 0 stuck: no lease and no task row left running;
- 0 duplicated: one result per edit, in the database and in the bucket, one cost in the
  ledger, and no edit sent upstream more often than it has attempts (the simulator's
  request log, matched by prompt);
- the reconcilers, running side by side (both take edits over, both ask the Tasks API
  about the same overdue callbacks), act once per edit: one take-over line for a cut-off
  edit across both machines' logs, one new attempt (attempts 2), one result, one cost.

Runs in the PostgreSQL pass of `make test` (scripts/test-postgres): SQLite is one file
on one machine, so there is no second machine to share it with. Short leases and a fast
reconciler keep it to seconds; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .processes import ProcessStack, private_database
from .s3_server import S3Server

DATABASE_URL = os.environ.get("DATABASE_URL", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not DATABASE_URL.startswith(("postgres://", "postgresql://")),
        reason="several machines share PostgreSQL, not a SQLite file: this runs in the "
        "PostgreSQL pass of make test (scripts/test-postgres)",
    ),
]

LATENCY = 2.0
THREADS = 3
# Short leases and a fast reconciler; a lease of 3 s (renewed every second) rides out a
# busy machine's pauses, so that only the killed worker loses its edits.
FAST = {
    "RETOUCH_LEASE_SECONDS": "3",
    "RETOUCH_RECONCILE_SECONDS": "0.3",
    "RETOUCH_CALLBACK_GRACE_SECONDS": "1",
    "RETOUCH_RETRY_BASE_SECONDS": "0.05",
    "RETOUCH_RETRY_MAX_SECONDS": "0.2",
    "RETOUCH_RATE_LIMIT": "0",
}
RECOVERED = re.compile(r"Edit (\d+): its worker stopped mid-attempt")


@pytest.fixture(scope="module")
def database():
    """A database of its own on the test run's PostgreSQL server, dropped afterwards."""
    with private_database(DATABASE_URL, "retouch_machines") as url:
        yield url


@pytest.fixture(scope="module")
def s3():
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bucket(s3) -> str:
    return s3.new_bucket()


@pytest.fixture(scope="module")
def machines(tmp_path_factory, simulator, database, s3, bucket):
    """Machines A and B: a web process and a reconciler each, running for the module."""
    stacks = []
    try:
        for name in ("a", "b"):
            folder = Path(tmp_path_factory.mktemp(f"machine-{name}"))
            (folder / "tmp").mkdir()
            stack = ProcessStack(
                folder,
                simulator.base_url,
                DATABASE_URL=database,
                TMPDIR=str(folder / "tmp"),
                MEDIA_STORAGE_BACKEND="s3",
                MEDIA_STORAGE_OPTIONS=json.dumps(s3.storage_options(bucket)),
                # Machine A's processes share a pool of 2 connections each (fewer than
                # its worker's threads); B's keep one per thread, the default.
                RETOUCH_DB_POOL="2" if name == "a" else "",
                **FAST,
            )
            stacks.append(stack)
            stack.start_web(workers=1)
            stack.start_reconciler()  # the first of the stack's processes, kept running
        stacks[0].create_user("carol")
        yield stacks
    finally:
        for stack in stacks:
            stack.stop()


@pytest.fixture
def fresh(machines, sim):
    """The newest edit id before the test, with the simulator idle at LATENCY; the test's
    workers are stopped after it, the reconcilers keep running."""
    sim.set_latency(LATENCY)
    rows = machines[0].query("SELECT COALESCE(MAX(id), 0) AS newest FROM edits_edit")
    yield rows[0]["newest"]
    for stack in machines:
        for worker in stack.workers[1:]:
            if worker.poll() is None:
                stack.kill(worker)
        del stack.workers[1:]


def start_workers(machines, delivery: str) -> list:
    return [
        stack.start_worker(threads=THREADS, worker_id=f"machine-{index}", RETOUCH_DELIVERY=delivery)
        for index, stack in enumerate(machines)
    ]


class Burst:
    """`count` edits through the web form, even ones through machine A's web process and
    odd ones through B's, each web process posted to by a thread of its own (the test
    kills a worker meanwhile). `join()` waits for the posts; `refused` lists those that
    were not accepted."""

    def __init__(self, machines, count: int, label: str) -> None:
        self.refused: list[str] = []
        self.threads = [
            threading.Thread(target=self._post, args=(stack, range(side, count, 2), label))
            for side, stack in enumerate(machines)
        ]
        for thread in self.threads:
            thread.start()

    def _post(self, stack: ProcessStack, indexes: range, label: str) -> None:
        session = stack.sign_in("carol")
        for index in indexes:
            response = stack.post_edit(session, f"{label} {index}")
            if response.status_code != 302:
                self.refused.append(f"{index}: HTTP {response.status_code}")

    def join(self, timeout: float) -> bool:
        """True when every post was made in time."""
        for thread in self.threads:
            thread.join(timeout=timeout)
        return not any(thread.is_alive() for thread in self.threads)


def edits_running_on(stack: ProcessStack, worker_id: str) -> set[int]:
    """The edits whose run_edit task `worker_id` is running."""
    rows = stack.query(
        "SELECT task_path, args_kwargs, worker_ids FROM django_tasks_database_dbtaskresult"
        " WHERE status = ?",
        "RUNNING",
    )
    return {
        row["args_kwargs"]["args"][0]
        for row in rows
        if worker_id in row["worker_ids"] and row["task_path"].endswith(".run_edit")
    }


def kill_machine_a_worker_mid_request(machines, sim, worker) -> set[int]:
    """SIGKILL machine A's worker once every thread of both machines holds a request at
    the simulator (A's were sent and will never be answered); the edits A held."""
    held: set[int] = set()

    def all_waiting_upstream() -> bool:
        waiting = [r for r in sim.edit_requests if r.status is None]
        held.clear()
        held.update(edits_running_on(machines[0], "machine-0"))
        return len(waiting) >= 2 * THREADS and len(held) >= THREADS

    machines[0].wait_for(all_waiting_upstream, timeout=20, what="every thread waiting upstream")
    machines[0].kill(worker)
    machines[0].workers.remove(worker)
    return held


def settled(stack: ProcessStack, first_id: int, count: int):
    rows = stack.edits()
    rows = [row for row in rows if row["id"] > first_id]
    finished = len(rows) == count and all(r["status"] in ("succeeded", "failed") for r in rows)
    return rows if finished else None


def assert_each_edit_done_once(machines, sim, s3, bucket, rows, cut_off: set[int]) -> None:
    """0 lost, 0 duplicated, 0 stuck, and each edit cut off by the kill taken over once."""
    a = machines[0]
    for row in rows:
        assert row["status"] == "succeeded", dict(row)
        assert row["result_count"] == 1, dict(row)
        assert row["lease_token"] == "" and row["lease_expires_at"] is None, dict(row)
    a.wait_for(lambda: not a.running_tasks(), timeout=10, what="no task row left running")

    ids = [row["id"] for row in rows]
    ledger = Counter(
        (entry["edit_id"], entry["kind"])
        for entry in a.query(
            "SELECT edit_id, kind FROM edits_ledgerentry WHERE edit_id >= ?", min(ids)
        )
    )
    for pk in ids:
        assert ledger[(pk, "started")] == 1 and ledger[(pk, "cost")] == 1, (pk, ledger)

    # The reconcilers: one line per edit taken over, across both machines' logs.
    lines = [int(pk) for stack in machines for pk in RECOVERED.findall(stack.log_path.read_text())]
    recovered = {pk for pk in lines if pk in ids}
    assert len(recovered) == len([pk for pk in lines if pk in ids]), lines

    sent = Counter(
        request.fields["prompt"][0] for request in sim.edit_requests if request.fields.get("prompt")
    )
    # Machine A's edits were taken over and sent once more, each by one reconciler. (An
    # edit whose lease a live worker failed to renew in time would be too: the worker
    # then drops its answer. Either way, one attempt more and one request more.)
    assert len(cut_off) == THREADS and cut_off <= recovered, (cut_off, lines)
    for row in rows:
        attempts = 2 if row["id"] in recovered else 1
        assert row["attempts"] == attempts and sent[row["prompt"]] == attempts, dict(row)

    keys = s3.keys_in(bucket)
    results = {r["file"] for r in a.query("SELECT file FROM edits_resultimage")}
    assert {key for key in keys if key.startswith("results/")} == results
    assert [key for key in keys if key.startswith("callbacks/")] == []
    for stack in machines:
        assert all(p.poll() is None for p in stack.workers), "a reconciler or worker stopped"
        media = stack.data_dir / "media"
        assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_sync_edits_survive_a_killed_worker_on_one_of_two_machines(
    machines, sim, s3, bucket, fresh
):
    count = 10
    workers = start_workers(machines, "sync")
    burst = Burst(machines, count, "machines sync")
    cut_off = kill_machine_a_worker_mid_request(machines, sim, workers[0])
    assert burst.join(timeout=30) and burst.refused == []

    machines[0].wait_for(
        lambda: settled(machines[0], fresh, count), timeout=40, what="every edit to finish"
    )
    rows = settled(machines[0], fresh, count)
    assert_each_edit_done_once(machines, sim, s3, bucket, rows, cut_off)


def test_callback_edits_survive_a_killed_worker_on_one_of_two_machines(
    machines, sim, s3, bucket, fresh
):
    count = 16
    # Each upload is held 1.5 s before the gateway accepts it, so that machine A's
    # worker is killed in the middle of sending: the gateway then has edits whose task
    # id was never recorded, and their callbacks name a task the edit does not know.
    sim.push_faults([{"kind": "hang", "seconds": 1.5}] * count)
    workers = start_workers(machines, "callback")
    burst = Burst(machines, count, "machines callback")
    cut_off = kill_machine_a_worker_mid_request(machines, sim, workers[0])
    assert burst.join(timeout=30) and burst.refused == []

    machines[0].wait_for(
        lambda: settled(machines[0], fresh, count), timeout=40, what="every edit to finish"
    )
    rows = settled(machines[0], fresh, count)
    assert_each_edit_done_once(machines, sim, s3, bucket, rows, cut_off)
    # Callbacks came to both web processes (each worker names its own machine's address),
    # the cut-off attempts' ones too.
    assert {urlsplit(c["url"]).port for c in sim.callbacks} == {m.port for m in machines}
