"""RETOUCH_DB_POOL: Django's connection pool on PostgreSQL, each process's threads sharing
a few connections; the event feed's LISTEN connection stays outside it.

The pooled process runs against the test run's PostgreSQL server (scripts/test-postgres),
in a subprocess of its own: the pool belongs to a process's settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .processes import private_database

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("DATABASE_URL", "")
POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://"))


def run_django(code: str, tmp_path, **env) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "LOG_FORMAT"}}
    environment |= {"RETOUCH_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "editor.settings"}
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        cwd=ROOT,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


SETTINGS = (
    "import json; from django.conf import settings; d = settings.DATABASES['default']; "
    "print(json.dumps([d['CONN_MAX_AGE'], d.get('OPTIONS', {}).get('pool')]))"
)


def test_a_pool_replaces_persistent_connections_on_postgresql(tmp_path):
    url = "postgres://retouch:pw@db.internal:5432/retouch"
    pooled = json.loads(run_django(SETTINGS, tmp_path, DATABASE_URL=url, RETOUCH_DB_POOL="6"))
    assert pooled == [0, {"min_size": 1, "max_size": 6, "timeout": 30.0}]
    # Unset: one persistent connection per thread, as before.
    assert json.loads(run_django(SETTINGS, tmp_path, DATABASE_URL=url)) == [60, None]


def test_the_pool_setting_leaves_sqlite_alone(tmp_path):
    assert json.loads(run_django(SETTINGS, tmp_path, RETOUCH_DB_POOL="6")) == [60, None]


@pytest.fixture
def database():
    """A database of its own on the test run's PostgreSQL server."""
    with private_database(DATABASE_URL, "retouch_pool") as url:
        yield url


# Eight threads, each running a query at once and handing its connection back as a task or
# a page does at its end; the feed's LISTEN connection open meanwhile.
EIGHT_THREADS = """
import json, threading
from django.db import close_old_connections, connection, connections
from editor.edits.events import _Notifications

listen = _Notifications()
barrier = threading.Barrier(8)
errors = []

def task():
    try:
        barrier.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(0.05)")
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        close_old_connections()

threads = [threading.Thread(target=task) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(timeout=30)
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    (others,) = cursor.fetchone()
close_old_connections()
stats = connections["default"].pool.get_stats()
print(json.dumps({
    "errors": errors,
    "pool_size": stats["pool_size"],
    "available": stats["pool_available"],
    "listen_pooled": getattr(listen.connection, "_pool", None) is not None,
    "others": others,
}))
listen.close()
"""


@pytest.mark.skipif(not POSTGRES, reason="a PostgreSQL connection pool needs PostgreSQL")
def test_threads_share_the_pool_and_the_feed_listens_outside_it(tmp_path, database):
    out = json.loads(
        run_django(EIGHT_THREADS, tmp_path, DATABASE_URL=database, RETOUCH_DB_POOL="2")
    )
    assert out["errors"] == []
    assert out["pool_size"] <= 2 and out["available"] == out["pool_size"]  # all handed back
    assert out["listen_pooled"] is False
    # The server saw the pool's connections and the LISTEN one, not one per thread.
    assert out["others"] <= 2
