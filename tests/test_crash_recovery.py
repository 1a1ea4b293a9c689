"""A worker killed with SIGKILL in the middle of edits, for real: gunicorn, `manage.py
worker` and `manage.py reconcile` run as subprocesses on a temporary SQLite file, edits
are started through the web form, the simulator holds them (latency), the worker and the
reconciler beside it are killed, new ones are started, and every edit must end exactly
once.

Short leases and a fast reconciler keep this to seconds; the logic is the same as
with the production defaults."""

from pathlib import Path

import pytest

from .processes import ProcessStack

pytestmark = pytest.mark.slow

LATENCY = 3.0
FAST = {
    "RETOUCH_LEASE_SECONDS": "1.5",
    "RETOUCH_RECONCILE_SECONDS": "0.3",
    "RETOUCH_CALLBACK_GRACE_SECONDS": "1",
    "RETOUCH_RETRY_BASE_SECONDS": "0.05",
    "RETOUCH_RETRY_MAX_SECONDS": "0.2",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, simulator):
    stack = ProcessStack(Path(tmp_path_factory.mktemp("crash")), simulator.base_url, **FAST)
    try:
        stack.start_web()
        stack.create_user("carol")
        yield stack
    finally:
        stack.stop()


def start_machine(stack, delivery: str) -> None:
    """A worker with two threads and the reconciler, as one machine runs them."""
    stack.start_worker(threads=2, RETOUCH_DELIVERY=delivery)
    stack.start_reconciler(RETOUCH_DELIVERY=delivery)


def kill_machine(stack) -> None:
    """SIGKILL for every worker and reconciler: no process is left to notice."""
    for process in stack.workers:
        if process.poll() is None:
            stack.kill(process)
    stack.workers.clear()


@pytest.fixture
def fresh(stack, sim):
    """No edits, no worker and an idle simulator before each test."""
    kill_machine(stack)
    assert all(row["status"] in ("succeeded", "failed") for row in stack.edits())
    already = len(stack.edits())
    sim.set_latency(LATENCY)
    return already


def settled(stack, first_id: int):
    rows = [row for row in stack.edits() if row["id"] > first_id]
    return rows if rows and all(r["status"] in ("succeeded", "failed") for r in rows) else None


def assert_no_task_left_running(stack) -> None:
    """The task rows the killed worker had claimed end final too, not RUNNING forever."""
    stack.wait_for(lambda: not stack.running_tasks(), timeout=10, what="no task row left running")


def assert_exactly_once(rows) -> None:
    """0 lost, 0 duplicated, 0 stuck."""
    for row in rows:
        assert row["status"] == "succeeded", dict(row)
        assert row["result_count"] == 1, dict(row)
        assert row["lease_token"] == "" and row["lease_expires_at"] is None


def test_a_worker_killed_while_waiting_on_sync_edits_loses_none_of_them(stack, sim, fresh):
    first_id = fresh
    start_machine(stack, "sync")
    session = stack.sign_in("carol")
    for index in range(3):
        stack.start_edit(session, f"crash test sync {index}")
    # Two threads, three edits: two are held by the simulator, one waits in line.
    stack.wait_for(
        lambda: len([r for r in sim.edit_requests if r.status is None]) == 2,
        timeout=20,
        what="two requests held by the simulator",
    )
    kill_machine(stack)
    rows = [row for row in stack.edits() if row["id"] > first_id]
    assert sorted(row["status"] for row in rows) == ["queued", "running", "running"]

    start_machine(stack, "sync")
    stack.wait_for(lambda: settled(stack, first_id), timeout=40, what="all edits to finish")
    rows = settled(stack, first_id)
    assert len(rows) == 3
    assert_exactly_once(rows)
    # The two cut-off requests had no task id (sync mode): each was sent once more.
    assert sorted(row["attempts"] for row in rows) == [1, 2, 2]
    assert len(sim.edit_requests) == 3 + 2
    assert_no_task_left_running(stack)


def test_a_worker_killed_while_the_gateway_holds_callback_edits_sends_none_twice(stack, sim, fresh):
    first_id = fresh
    # The first edit's callback never comes: the Tasks API must finish that one.
    sim.push_fault("callback", mode="lost")
    start_machine(stack, "callback")
    session = stack.sign_in("carol")
    for index in range(3):
        stack.start_edit(session, f"crash test callback {index}")
    stack.wait_for(
        lambda: len([r for r in stack.edits() if r["id"] > first_id and r["task_id"]]) == 3,
        timeout=20,
        what="three edits accepted by the gateway",
    )
    kill_machine(stack)
    assert all(r["status"] == "running" for r in stack.edits() if r["id"] > first_id)

    # The two callbacks come to gunicorn while no worker runs; they wait in the queue.
    assert sim.wait_for_callbacks(2, timeout=LATENCY + 10)
    assert [c["status"] for c in sim.callbacks] == [202, 202]
    start_machine(stack, "callback")
    stack.wait_for(lambda: settled(stack, first_id), timeout=40, what="all edits to finish")
    rows = settled(stack, first_id)
    assert len(rows) == 3
    assert_exactly_once(rows)
    assert [row["attempts"] for row in rows] == [1, 1, 1]
    assert len(sim.edit_requests) == 3
    assert any(r.path.endswith("/tasks") for r in sim.requests)
    assert_no_task_left_running(stack)
