"""`manage.py worker`: runs the task queue in several threads, plus the reconciler.

An edit in sync mode keeps one thread busy for as long as the service takes (10-60 s),
almost all of it waiting on a socket. One process per waiting edit would cost ~60 MB
each; threads cost almost nothing, so one process runs `--threads` of them.

One dispatcher thread per process looks for work on behalf of all of them: while the
queue is empty it asks with a plain read (no write lock), and when tasks are ready it
claims as many as there are idle threads in one short transaction, using
django-tasks-db's own models (ready(), claim()), and hands them over. Tasks run through
django-tasks-db's `Worker.run_task`, which records their outcome. Compared with every
thread polling on its own, a burst of tasks is picked up sooner and takes the database's
write lock once per batch instead of once per task and per idle second.

The main thread runs the reconciler every `RETOUCH_RECONCILE_SECONDS` (django.tasks has
no scheduler) and handles signals: the first SIGTERM/SIGINT stops claiming and lets
running tasks finish (up to `--grace` seconds), a second one exits at once. Edits cut
off either way are recovered by the reconciler when their lease runs out.
"""

import logging
import os
import queue
import signal
import socket
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import OperationalError, close_old_connections, connections
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from editor.edits.reconcile import reconcile

log = logging.getLogger("editor.edits.worker")


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
        self._idle = threads
        self._changed = threading.Condition()
        self._claimed: queue.SimpleQueue = queue.SimpleQueue()
        # django-tasks-db's runner: calls the task and records its result on the row.
        self._runner = Worker(
            queue_names=queue_names,
            interval=interval,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        self._threads = [
            threading.Thread(target=self._run_tasks, name=f"{worker_id}-{i + 1}", daemon=True)
            for i in range(threads)
        ]

    def start(self) -> threading.Thread:
        for thread in self._threads:
            thread.start()
        dispatcher = threading.Thread(target=self._dispatch, name=self.worker_id, daemon=True)
        dispatcher.start()
        return dispatcher

    def stop(self) -> None:
        self.stopping.set()
        with self._changed:
            self._changed.notify_all()

    def wait_idle(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for running tasks to finish; returns how many still run."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._idle < self.threads:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self.threads - self._idle

    def _dispatch(self) -> None:
        while not self.stopping.is_set():
            with self._changed:
                while self._idle == 0 and not self.stopping.is_set():
                    self._changed.wait()
                wanted = self._idle
            if self.stopping.is_set():
                break
            try:
                close_old_connections()  # drop a connection that broke or grew too old
                claimed = self._claim(wanted)
            except Exception:
                log.exception("Looking for tasks failed; trying again shortly")
                claimed = []
            if not claimed:
                self.stopping.wait(self.interval)
                continue
            with self._changed:
                self._idle -= len(claimed)
            for task_result in claimed:
                self._claimed.put(task_result)
        connections.close_all()

    def _claim(self, limit: int) -> list[DBTaskResult]:
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
                return []  # somebody else holds the lock; look again in a moment
            raise
        return claimed

    def _run_tasks(self) -> None:
        while True:
            task_result = self._claimed.get()
            try:
                self._runner.run_task(task_result)
            except Exception:
                log.exception("Task %s could not be run", task_result.id)
            finally:
                close_old_connections()
                with self._changed:
                    self._idle += 1
                    self._changed.notify_all()


class Command(BaseCommand):
    help = "Run background workers (several threads on the task queue) and the reconciler."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--threads",
            type=int,
            default=settings.RETOUCH_WORKER_THREADS,
            help="tasks run at once by this process (default: RETOUCH_WORKER_THREADS)",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=0.1,
            help="seconds to wait before looking again when no task is ready",
        )
        parser.add_argument(
            "--reconcile-every",
            type=float,
            default=settings.RETOUCH_RECONCILE_SECONDS,
            help="seconds between reconciler passes; 0 turns the reconciler off",
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=30.0,
            help="seconds running tasks get to finish after SIGTERM",
        )
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
        stopping = threading.Event()

        def stop(signum: int, frame: object) -> None:
            if stopping.is_set():
                log.warning("Second %s: exiting now", signal.strsignal(signum))
                os._exit(1)
            log.warning("%s: finishing running tasks", signal.strsignal(signum))
            stopping.set()
            dispatcher.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop)

        looking = dispatcher.start()
        log.info("Worker %s started with %s thread(s)", prefix, threads)

        every = options["reconcile_every"]
        while not stopping.is_set():
            if every > 0:
                self._reconcile()
            if not looking.is_alive():
                log.error("The dispatcher thread stopped; exiting so that it is restarted")
                break
            # Wake up at once for a signal; otherwise at the next pass (or now and then
            # to notice a dead dispatcher).
            stopping.wait(every if every > 0 else 60)

        dispatcher.stop()
        left = dispatcher.wait_idle(options["grace"])
        if left:
            log.warning("%s task(s) still running; the reconciler will pick them up", left)
        if not stopping.is_set():
            raise SystemExit(1)  # the dispatcher died: a non-zero exit gets us restarted

    def _reconcile(self) -> None:
        try:
            close_old_connections()
            reconcile()
        except Exception:
            log.exception("Reconciliation failed; trying again at the next pass")
        finally:
            close_old_connections()
