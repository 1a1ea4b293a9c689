"""SQLite whose writers take turns on a lock file instead of polling in SQLite's busy handler.

SQLite lets one writer at a time into a database. A writer that finds it taken waits
in SQLite's busy handler, which polls by sleeping 1, 2, 5, 10 … up to 100 ms between
tries; with the web's and the worker's dozens of threads writing at once, most of a
burst's time went to those sleeps (measured with benchmarks/concurrent_edits.py:
BEGIN IMMEDIATE waited 110 ms on average, single UPDATEs 40 ms, some up to 2 s).

Here every writer first takes a lock: a thread lock within the process, then an
exclusive flock() on a file next to the database across processes. The kernel wakes
a process blocked in flock() the moment the lock is free, so writers hand over without
sleeping and no process starves the others. Write transactions (BEGIN IMMEDIATE or
EXCLUSIVE, until COMMIT or ROLLBACK) and writing statements outside a transaction hold
it; reads never do (WAL lets them run beside the writer). Programs that do not take it
(the sqlite3 shell, a migration) still meet SQLite's own busy timeout. In-memory
databases (the test suite's) are left as they are.
"""

import fcntl
import os
import threading

from django.db import OperationalError
from django.db.backends.sqlite3 import base

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class WriterLock:
    """One process's turn at writing to one SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None

    def acquire(self, timeout: float) -> None:
        """Wait for this process's turn (at most `timeout` seconds, like SQLite's own
        busy timeout), then for the other processes' writers. That second wait has no
        limit: it lasts as long as another process's write transaction, and none of
        Retouch's holds one across a network call."""
        if not self._threads.acquire(timeout=timeout):
            raise OperationalError("database is locked")
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        try:
            fcntl.flock(self._file(), fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int:
        # Opened once per process: a lock taken through a descriptor inherited across
        # fork() (gunicorn's workers) would be shared with the parent.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd


_LOCKS: dict[str, WriterLock] = {}
_LOCKS_GUARD = threading.Lock()


def _forget_locks_in_child() -> None:
    # A child of fork() starts with copies of the parent's locks, possibly taken by a
    # thread that does not exist in the child: it takes its own turns from scratch.
    global _LOCKS_GUARD
    _LOCKS.clear()
    _LOCKS_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_forget_locks_in_child)


def writer_lock(database: str) -> WriterLock:
    path = os.path.abspath(str(database)) + "-writer.lock"
    with _LOCKS_GUARD:
        if path not in _LOCKS:
            _LOCKS[path] = WriterLock(path)
        return _LOCKS[path]


class QueuedWriteCursor(base.SQLiteCursorWrapper):
    """Takes the writer lock around a writing statement run outside a transaction."""

    lock: WriterLock
    timeout: float

    def execute(self, query, params=None):
        return self._in_turn(super().execute, query, params)

    def executemany(self, query, param_list):
        return self._in_turn(super().executemany, query, param_list)

    def _in_turn(self, run, query, params):
        if self.connection.in_transaction or not query.lstrip()[:7].upper().startswith(_WRITES):
            return run(query, params)  # a read, or a transaction that holds the turn already
        self.lock.acquire(self.timeout)
        try:
            return run(query, params)
        finally:
            self.lock.release()


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._holds_writer_lock = False
        self._lock_timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5.0))

    @property
    def _queues_writers(self) -> bool:
        return not self.is_in_memory_db()

    def create_cursor(self, name=None):
        if not self._queues_writers:
            return super().create_cursor(name)
        cursor = self.connection.cursor(factory=QueuedWriteCursor)
        cursor.lock = writer_lock(self.settings_dict["NAME"])
        cursor.timeout = self._lock_timeout
        return cursor

    def _start_transaction_under_autocommit(self):
        if not self._queues_writers:
            return super()._start_transaction_under_autocommit()
        writer_lock(self.settings_dict["NAME"]).acquire(self._lock_timeout)
        self._holds_writer_lock = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_writer_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer_lock()

    def _release_writer_lock(self) -> None:
        if self._holds_writer_lock:
            self._holds_writer_lock = False
            writer_lock(self.settings_dict["NAME"]).release()
