"""The SQLite backend's writer lock (editor/db): writers wait for their turn on a lock
instead of in SQLite's busy handler, within a process and across processes.

Each test opens its own SQLite file whose connections have SQLite's busy timeout set
to 0: a writer that reached SQLite while another one holds the database would fail at
once with "database is locked". So a write that waits and then succeeds proves it
waited on the writer lock, not inside SQLite.
"""

import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import OperationalError
from django.db.utils import ConnectionHandler

ROOT = Path(__file__).resolve().parent.parent
# Run with the database tests (pytest-django orders those first), before the browser
# tests leave an event loop running on the main thread, where Django refuses to connect.
pytestmark = pytest.mark.django_db


def open_db(path: Path, *, timeout: float = 10.0):
    """A fresh connection (Django wrapper) to the SQLite file at `path`."""
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "editor.db",
                "NAME": str(path),
                "OPTIONS": {
                    "timeout": timeout,
                    "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL;PRAGMA busy_timeout=0",
                },
            }
        }
    )
    return handler["default"]


@pytest.fixture
def db_file(tmp_path, django_db_blocker):
    """A SQLite file of its own (not the test database, which lives in memory)."""
    path = tmp_path / "writers.sqlite3"
    with django_db_blocker.unblock():
        connection = open_db(path)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)")
            cursor.execute("INSERT INTO counter (id, value) VALUES (1, 0)")
        connection.close()
        yield path


def hold_transaction(path: Path, held: threading.Event, release: threading.Event):
    connection = open_db(path)
    try:
        connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE counter SET value = value + 1 WHERE id = 1")
        held.set()
        release.wait(10)
        connection.commit()
        connection.set_autocommit(True)
    finally:
        connection.close()


@contextmanager
def write_held(path: Path):
    """Another thread holds a write transaction on `path` until the block ends (or the
    event it yields is set)."""
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_transaction, args=(path, held, release))
    holder.start()
    try:
        assert held.wait(10)
        yield release
    finally:
        release.set()
        holder.join(10)


def value(path: Path) -> int:
    connection = open_db(path)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM counter WHERE id = 1")
            return cursor.fetchone()[0]
    finally:
        connection.close()


def test_a_writer_in_another_thread_waits_for_its_turn_and_then_writes(db_file):
    order: list[str] = []

    def write() -> None:
        connection = open_db(db_file)
        try:
            with connection.cursor() as cursor:
                cursor.execute("UPDATE counter SET value = value + 10 WHERE id = 1")
            order.append("written")
        finally:
            connection.close()

    with write_held(db_file) as release:
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and order == []  # waiting, not failed
        order.append("released")
        release.set()
        writer.join(10)
    assert order == ["released", "written"]
    assert value(db_file) == 11


def test_reads_do_not_wait_for_a_writer(db_file):
    with write_held(db_file):
        assert value(db_file) == 0  # the committed value, read beside the open write
    assert value(db_file) == 1


def test_a_writer_gives_up_after_the_timeout_with_the_usual_error(db_file):
    with write_held(db_file):
        impatient = open_db(db_file, timeout=0.2)
        with (
            pytest.raises(OperationalError, match="database is locked"),
            impatient.cursor() as cursor,
        ):
            cursor.execute("UPDATE counter SET value = 99 WHERE id = 1")
        impatient.close()
    assert value(db_file) == 1


def test_the_turn_is_given_back_when_a_transaction_rolls_back(db_file):
    connection = open_db(db_file)
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE counter SET value = 5 WHERE id = 1")
    connection.rollback()
    connection.set_autocommit(True)
    other = open_db(db_file, timeout=0.5)
    with other.cursor() as cursor:  # would time out if the rollback had kept the turn
        cursor.execute("UPDATE counter SET value = value + 2 WHERE id = 1")
    other.close()
    connection.close()
    assert value(db_file) == 2


def test_a_writer_in_another_process_waits_for_its_turn(db_file):
    script = textwrap.dedent(
        """
        import sys
        import django
        from django.conf import settings
        settings.configure(USE_TZ=True)
        django.setup()
        from tests.test_sqlite_writers import open_db
        connection = open_db(sys.argv[1])
        with connection.cursor() as cursor:
            cursor.execute("UPDATE counter SET value = value + 100 WHERE id = 1")
        print("written", flush=True)
        """
    )
    with write_held(db_file):
        other = subprocess.Popen(
            [sys.executable, "-c", script, str(db_file)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)  # long enough for the child to start and reach its write
        assert other.poll() is None  # still waiting, not failed
    out, err = other.communicate(timeout=30)
    assert other.returncode == 0, err
    assert out.strip() == "written"
    assert value(db_file) == 101
