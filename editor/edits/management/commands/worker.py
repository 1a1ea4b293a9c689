"""`manage.py worker`: django-tasks-db's worker loop in several threads, plus the
reconciler on a timer.

An edit in sync mode keeps one worker busy for as long as the service takes (10-60 s),
almost all of it waiting on a socket. One process per waiting edit would cost ~60 MB
each; threads cost almost nothing, so one process runs `--threads` copies of
django-tasks-db's own `Worker` loop, each claiming and running one task at a time from
the same database queue. The main thread runs the reconciler every
`RETOUCH_RECONCILE_SECONDS` (django.tasks has no scheduler) and handles signals:
the first SIGTERM/SIGINT lets running tasks finish (up to `--grace` seconds), a
second one exits at once. Edits cut off either way are recovered by the reconciler
when their lease runs out.
"""

import logging
import os
import signal
import socket
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections, connections
from django_tasks_db.management.commands.db_worker import Worker

from editor.edits.reconcile import reconcile

log = logging.getLogger("editor.edits.worker")


class ThreadWorker(Worker):
    """django-tasks-db's worker, without its process-wide signal handling."""

    def run(self) -> None:
        try:
            super().run()
        except Exception:
            log.exception("Worker thread %s stopped", self.worker_id)
        finally:
            connections.close_all()


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
            default=1.0,
            help="seconds an idle thread waits before looking for a task again",
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
        prefix = options["worker_id"][:56]
        workers = [
            ThreadWorker(
                queue_names=options["queue_name"].split(","),
                interval=options["interval"],
                batch=False,
                backend_name="default",
                startup_delay=False,
                max_tasks=None,
                worker_id=f"{prefix}-{index + 1}",
                excluded_queue_names=[],
            )
            for index in range(threads)
        ]
        stopping = threading.Event()

        def stop(signum: int, frame: object) -> None:
            if stopping.is_set():
                log.warning("Second %s: exiting now", signal.strsignal(signum))
                os._exit(1)
            log.warning("%s: finishing running tasks", signal.strsignal(signum))
            stopping.set()
            for worker in workers:
                worker.running = False

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop)

        running = [
            threading.Thread(target=worker.run, name=worker.worker_id, daemon=True)
            for worker in workers
        ]
        for thread in running:
            thread.start()
        log.info("Worker %s started with %s thread(s)", prefix, threads)

        every = options["reconcile_every"]
        while not stopping.is_set():
            if every > 0:
                self._reconcile()
            # Wake up at once for a signal; otherwise at the next pass (or now and then
            # to notice threads that died).
            stopping.wait(every if every > 0 else 3600)

        deadline = time.monotonic() + options["grace"]
        for thread in running:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        left = sum(thread.is_alive() for thread in running)
        if left:
            log.warning("%s task(s) still running; the reconciler will pick them up", left)

    def _reconcile(self) -> None:
        try:
            close_old_connections()
            reconcile()
        except Exception:
            log.exception("Reconciliation failed; trying again at the next pass")
        finally:
            close_old_connections()
