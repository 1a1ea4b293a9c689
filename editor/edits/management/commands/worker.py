"""`manage.py worker`: runs the task queue in several threads.

An edit in sync mode keeps one thread busy for as long as the service takes (10-60 s),
almost all of it waiting on a socket. One process per waiting edit would cost ~60 MB
each; threads cost almost nothing, so one process runs `--threads` of them, in a
`ThreadPoolExecutor`.

One dispatcher thread per process looks for work on behalf of all of them: while the
queue is empty it asks with a plain read (no write lock), and when tasks are ready it
claims as many as there are idle threads in one short transaction, using
django-tasks-db's own models (ready(), claim()), and hands them to the pool. Tasks run
through django-tasks-db's `Worker.run_task` (`tasks.runner`), which records their
outcome. Compared with every thread polling on its own, a burst of tasks is picked up
sooner and takes the database's write lock once per batch instead of once per task and
per idle second. On SQLite the read itself is skipped while nobody else has committed
since the last one (`QueueWatch`), so an idle worker costs next to no CPU.

The dispatcher also records the process's heartbeat (WorkerHeartbeat) every
RETOUCH_HEARTBEAT_SECONDS, which `/healthz` reads, and prunes those of workers long gone;
a clean stop deletes the process's own. Each task runs inside a log context naming its
edit, so every line it logs says which edit it was about (editor/logs.py).

The main thread handles signals: the first SIGTERM/SIGINT stops claiming and lets running
tasks finish (up to `--grace` seconds), a second one exits at once. If the dispatcher
dies the process exits non-zero, to be restarted. Edits cut off either way are
recovered by the reconciler (`manage.py reconcile`) when their lease runs out, and the
task rows they leave running are marked failed.
"""

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import OperationalError, close_old_connections, connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from editor.edits.models import WorkerHeartbeat
from editor.edits.queueing import EDIT_TASKS
from editor.edits.tasks import runner
from editor.logs import log_context

log = logging.getLogger("editor.edits.worker")

# SQLite: the queue is read at least this often even when nobody has committed since the
# last read, for the tasks that become due by the clock alone (a retry's run_after).
FULL_LOOK_SECONDS = 1.0


class QueueWatch:
    """Whether the queue may hold new work since the last look, for one PRAGMA on SQLite.

    SQLite's `data_version` changes for a connection when another connection commits (a
    web process queuing an edit, a task thread of this process queuing a retry or
    recording an outcome), and only then. While it stays the same, nothing can have been
    queued, so the dispatcher skips its read of the queue, except once every
    FULL_LOOK_SECONDS. That read through the ORM, ten times a second, was most of an
    idle worker's CPU: 1.4-2.0 % of a core before, 0.5-0.7 % after, measured with
    benchmarks/edit_cost.py. On other databases, and on an in-memory SQLite database
    (whose connections share one cache, which the pragma does not see through), every
    look reads the queue.
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._seen: tuple[int, int] | None = None
        self._full_look_at = 0.0

    def may_have_work(self) -> bool:
        return self.changed(self._data_version(), time.monotonic())

    def changed(self, version: tuple[int, int] | None, now: float) -> bool:
        """True when the queue must be read: a new `version` (the connection and its
        data_version; None: not known), or a full look due at `now`."""
        if version is None or version != self._seen or now >= self._full_look_at:
            self._seen = version
            self._full_look_at = now + FULL_LOOK_SECONDS
            return True
        return False

    def look_again(self) -> None:
        """Read the queue at the next look whatever the version (work may be left)."""
        self._seen = None

    def _data_version(self) -> tuple[int, int] | None:
        connection = connections[self.alias]
        if connection.vendor != "sqlite" or connection.is_in_memory_db():
            return None
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA data_version")
            (version,) = cursor.fetchone()
        return id(connection.connection), version


def on_stop_signals(stop: Callable[[], None]) -> threading.Event:
    """Call `stop` on the first SIGTERM/SIGINT and exit at once on a second one; returns
    the event that says a stop was asked for."""
    stopping = threading.Event()

    def handle(signum: int, frame: object) -> None:
        if stopping.is_set():
            log.warning("Second %s: exiting now", signal.strsignal(signum))
            exit_now(1)
        log.warning("%s: finishing what is running", signal.strsignal(signum))
        stopping.set()
        stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handle)
    return stopping


def exit_now(code: int) -> None:
    """Exit without waiting for the threads still running tasks (their edits are
    recovered when their leases run out)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Dispatcher:
    """Claims ready tasks for this process's idle threads and runs them on those threads."""

    def __init__(
        self, *, threads: int, interval: float, queue_names: list[str], worker_id: str
    ) -> None:
        self.threads = threads
        self.interval = interval
        self.queue_names = queue_names
        self.worker_id = worker_id
        self.stopping = threading.Event()
        self.started_at = timezone.now()
        self._next_beat = 0.0  # time.monotonic() of the next heartbeat
        self._runner = runner(worker_id, queue_names)
        self._watch = QueueWatch(DBTaskResult.objects.db)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=worker_id)
        self._running: set[Future] = set()
        self._thread = threading.Thread(target=self._dispatch, name=worker_id, daemon=True)

    def start(self) -> threading.Thread:
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self.stopping.set()

    def wait_idle(self, timeout: float) -> int:
        """Stop claiming, wait up to `timeout` seconds for running tasks to finish; returns
        how many still run."""
        self.stop()
        self._thread.join()  # it notices within `interval`, or after the claim it is in
        _done, running = wait(self._running, timeout=timeout)
        self._pool.shutdown(wait=False)
        return len(running)

    def _dispatch(self) -> None:
        try:
            while not self.stopping.is_set():
                self.beat()
                self._running = {future for future in self._running if not future.done()}
                idle = self.threads - len(self._running)
                if not idle:  # wakes up as soon as a task ends (or to notice a stop)
                    wait(self._running, timeout=self.interval, return_when=FIRST_COMPLETED)
                    continue
                try:
                    close_old_connections()  # drop a connection that broke or grew too old
                    claimed = self._claim(idle)
                except Exception:
                    log.exception("Looking for tasks failed; trying again shortly")
                    self._watch.look_again()
                    claimed = []
                if not claimed:
                    self.stopping.wait(self.interval)
                self._running |= {self._pool.submit(self._run, row) for row in claimed}
        finally:
            self._forget()
            connections.close_all()

    def beat(self) -> None:
        """Record the heartbeat when it is due, and prune those of workers long gone. A
        failure is logged and tried again at the next beat: it must not stop the work."""
        if time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + settings.RETOUCH_HEARTBEAT_SECONDS
        try:
            WorkerHeartbeat.beat(self.worker_id, self.started_at)
            WorkerHeartbeat.objects.prune(timezone.now())
        except Exception:
            log.warning("Could not record the heartbeat", exc_info=True)

    def _forget(self) -> None:
        try:
            WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()
        except Exception:
            log.warning("Could not delete the heartbeat", exc_info=True)

    def _claim(self, limit: int) -> list[DBTaskResult]:
        if not self._watch.may_have_work():  # SQLite: nobody committed since the last look
            return []
        ready = (
            DBTaskResult.objects.ready()
            .filter(backend_name="default")
            .filter(queue_name__in=self.queue_names)
        )
        if not ready.exists():  # a plain read: an empty queue costs no write lock
            return []
        try:
            with exclusive_transaction(ready.db):
                claimed = list(ready.select_for_update(skip_locked=True)[:limit])
                for task_result in claimed:
                    task_result.claim(self.worker_id)
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                self._watch.look_again()
                return []  # somebody else holds the lock; look again in a moment
            raise
        if len(claimed) == limit:  # more may be ready than there were idle threads
            self._watch.look_again()
        return claimed

    def _run(self, task_result: DBTaskResult) -> None:
        edit_id = None
        if task_result.task_path in EDIT_TASKS:
            args = (task_result.args_kwargs or {}).get("args") or [None]
            edit_id = args[0]  # their first argument is the edit's id
        try:
            with log_context(edit_id=edit_id):
                self._runner.run_task(task_result)
        except Exception:
            log.exception("Task %s could not be run", task_result.id)
        finally:
            close_old_connections()


class Command(BaseCommand):
    help = "Run background workers: several threads on the task queue."

    def add_arguments(self, parser: CommandParser) -> None:
        threads = settings.RETOUCH_WORKER_THREADS
        parser.add_argument("--threads", type=int, default=threads, help="tasks run at once")
        parser.add_argument("--interval", type=float, default=0.1, help="seconds between looks")
        parser.add_argument("--grace", type=float, default=30.0, help="seconds after SIGTERM")
        parser.add_argument("--worker-id", default=f"{socket.gethostname()}-{os.getpid()}")
        parser.add_argument("--queue-name", default="default")

    def handle(self, *args, **options) -> None:
        threads = max(1, options["threads"])
        prefix = options["worker_id"][:60]
        dispatcher = Dispatcher(
            threads=threads,
            interval=max(0.01, options["interval"]),
            queue_names=options["queue_name"].split(","),
            worker_id=prefix,
        )
        stopping = on_stop_signals(dispatcher.stop)
        log.info("Worker %s started with %s thread(s)", prefix, threads)
        dispatcher.start().join()  # until a signal stops it, or it dies
        if not stopping.is_set():
            log.error("The dispatcher thread stopped; exiting so that it is restarted")
        left = dispatcher.wait_idle(options["grace"])
        if left:
            log.warning("%s task(s) still running; the reconciler will pick them up", left)
        code = 0 if stopping.is_set() else 1  # non-zero when the dispatcher died
        if left or code:
            exit_now(code)
