"""The shipped SQLite configuration (Django's own engine, WAL, IMMEDIATE transactions and
a busy timeout; test_settings.py checks the PRAGMAs) on a real file: writers wait for
each other instead of failing, readers do not wait for a writer, and a writer in another
process waits too.

The test database itself lives in memory, so each test opens its own file with the
options from settings.py.
"""

import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError
from django.db.utils import ConnectionHandler

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = settings.DATABASES["default"]
pytestmark = [
    # Run with the database tests (pytest-django orders those first), before the browser
    # tests leave an event loop running on the main thread, where Django refuses to connect.
    pytest.mark.django_db,
    pytest.mark.skipif(
        SHIPPED["ENGINE"] != "django.db.backends.sqlite3", reason="SQLite configuration"
    ),
]


def open_db(path: Path, *, timeout: float | None = None):
    """A fresh connection to the SQLite file at `path`, configured as settings.py does."""
    options = dict(SHIPPED["OPTIONS"])
    if timeout is not None:
        options["timeout"] = timeout
    handler = ConnectionHandler(
        {"default": {"ENGINE": SHIPPED["ENGINE"], "NAME": str(path), "OPTIONS": options}}
    )
    return handler["default"]


@pytest.fixture
def db_file(tmp_path, django_db_blocker):
    path = tmp_path / "writers.sqlite3"
    with django_db_blocker.unblock():
        connection = open_db(path)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)")
            cursor.execute("INSERT INTO counter (id, value) VALUES (1, 0)")
        connection.close()
        yield path


@contextmanager
def write_held(path: Path):
    """Another thread holds a write transaction on `path` until the event it yields is
    set (or the block ends)."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        connection = open_db(path)
        try:
            connection.set_autocommit(False)
            with connection.cursor() as cursor:
                cursor.execute("UPDATE counter SET value = value + 1 WHERE id = 1")
            held.set()
            release.wait(10)
            connection.commit()
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
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


def test_a_second_writer_waits_for_the_first_and_then_writes(db_file):
    with write_held(db_file) as release:
        threading.Timer(0.3, release.set).start()
        connection = open_db(db_file)
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("UPDATE counter SET value = value + 10 WHERE id = 1")
        waited = time.monotonic() - started
        connection.close()
    assert waited >= 0.2  # it waited for the other writer's commit ...
    assert value(db_file) == 11  # ... and both writes landed


def test_reads_do_not_wait_for_a_writer(db_file):
    with write_held(db_file):
        assert value(db_file) == 0  # the committed value, while the writer still holds


def test_a_writer_gives_up_after_the_busy_timeout_with_the_usual_error(db_file):
    with write_held(db_file):
        connection = open_db(db_file, timeout=0.2)
        with pytest.raises(OperationalError, match="locked"), connection.cursor() as cursor:
            cursor.execute("UPDATE counter SET value = 5 WHERE id = 1")
        connection.close()


def test_a_writer_in_another_process_waits_for_its_turn(db_file):
    script = textwrap.dedent(
        """
        import django, os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editor.settings")
        django.setup()
        from pathlib import Path
        from tests.test_sqlite_settings import open_db
        connection = open_db(Path(sys.argv[1]))
        with connection.cursor() as cursor:
            cursor.execute("UPDATE counter SET value = value + 100 WHERE id = 1")
        connection.close()
        """
    )
    with write_held(db_file) as release:
        child = subprocess.Popen([sys.executable, "-c", script, str(db_file)], cwd=ROOT)
        time.sleep(1.5)  # the child has started and is waiting on the lock by now
        assert child.poll() is None
        release.set()
        assert child.wait(30) == 0
    assert value(db_file) == 101
