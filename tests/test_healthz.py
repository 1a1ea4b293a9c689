"""GET /healthz: 200 with each check when all is well, 503 naming the failing part, fast
and revealing nothing private; and the worker heartbeats it reads."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from editor.edits.management.commands.worker import Dispatcher
from editor.edits.models import Edit, Status, WorkerHeartbeat

from .factories import make_edit, personal_team
from .processes import ROOT, manage, query_read_only

pytestmark = pytest.mark.django_db


def health(client, query: str = "", **headers):
    response = client.get(f"/healthz{query}", **headers)
    return response, response.json()


# --- All well ---------------------------------------------------------------------------


def test_all_well_answers_200_with_every_check(client):
    response, body = health(client)
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["failing"] == []
    checks = body["checks"]
    assert set(checks) == {"database", "storage", "queue", "workers"}
    assert checks["database"]["ok"] is True
    assert checks["storage"] == {"ok": True}
    assert checks["queue"] == {"ok": True, "oldest_queued_seconds": None}
    assert checks["workers"] == {"ok": True, "count": 0, "stale": 0, "heartbeats": []}
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]


def test_it_needs_no_sign_in_and_sets_no_cookie(client):
    response, _body = health(client)
    assert response.status_code == 200
    assert not response.cookies
    assert "Set-Cookie" not in response.headers


def test_probes_by_address_and_over_plain_http_are_answered(client, settings):
    """Load balancers probe the instance's address, not a name in ALLOWED_HOSTS, and
    over plain HTTP behind TLS termination: neither a 400 nor a redirect."""
    settings.SECURE_SSL_REDIRECT = True
    response, body = health(client, HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200, body
    response = client.head("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert client.get("/", HTTP_HOST="10.0.0.7:8000").status_code == 400  # the rest still checks


def test_the_probe_file_is_written_and_removed_under_its_own_prefix(client, settings):
    location = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    assert health(client)[0].status_code == 200
    assert (location / "healthz").is_dir()
    assert list((location / "healthz").iterdir()) == []


# --- Database down ----------------------------------------------------------------------

# Runs the view in a fresh process whose settings point at a broken database, as a
# deployment would meet it; prints the answer and how long the request took.
PROBE = """
import json, os, time
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "editor.settings"
django.setup()
from django.test import Client
started = time.monotonic()
response = Client().get("/healthz")
took = time.monotonic() - started
print(json.dumps({"status": response.status_code, "seconds": took, "body": response.json()}))
"""


def health_in_process(data_dir: Path, database_url: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "LOG_FORMAT"}}
    env |= {"RETOUCH_DATA_DIR": str(data_dir), "SECRET_KEY": "healthz-tests-only"}
    if database_url:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections (the kernel's backlog) and never answers: a
    database host that hangs, the case a connect timeout exists for."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_database_down_answered(answer: dict, *private: str) -> None:
    assert answer["status"] == 503, answer
    assert answer["seconds"] <= 2.0, answer
    body = answer["body"]
    assert body["status"] == "failing"
    assert body["failing"] == ["database"]
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["storage"]["ok"] is True
    assert body["checks"]["queue"]["ok"] is None  # not checked without the database
    text = json.dumps(body)
    for word in private:
        assert word not in text


@pytest.mark.slow
def test_postgresql_that_never_answers_gives_503_within_two_seconds(tmp_path, silent_server):
    url = f"postgres://dbuser:dbsecret@127.0.0.1:{silent_server}/retouchdb"
    answer = health_in_process(tmp_path, url)
    assert_database_down_answered(answer, "dbuser", "dbsecret", "retouchdb", str(silent_server))
    assert answer["body"]["checks"]["database"]["error"] == "timeout"


@pytest.mark.slow
def test_postgresql_refusing_connections_gives_503_at_once(tmp_path, closed_port):
    url = f"postgres://dbuser:dbsecret@127.0.0.1:{closed_port}/retouchdb"
    answer = health_in_process(tmp_path, url)
    assert_database_down_answered(answer, "dbuser", "dbsecret", "127.0.0.1", str(closed_port))
    assert answer["seconds"] < 1.0, answer
    assert answer["body"]["checks"]["database"]["error"] == "unreachable"


@pytest.mark.slow
def test_sqlite_locked_by_another_process_gives_503_without_its_20_s_busy_wait(tmp_path):
    """Another connection holds SQLite's exclusive lock: even readers must wait for it. The
    stock busy timeout is 20 s; the probe's own is half a second."""
    holder = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("CREATE TABLE held (x)")
        answer = health_in_process(tmp_path)
    finally:
        holder.close()
    assert_database_down_answered(answer, str(tmp_path), "db.sqlite3")
    assert answer["body"]["checks"]["database"]["error"] == "locked"


@pytest.mark.slow
def test_sqlite_file_that_cannot_be_opened_gives_503(tmp_path):
    (tmp_path / "db.sqlite3").mkdir()  # a folder where the database file should be
    answer = health_in_process(tmp_path)
    assert_database_down_answered(answer, str(tmp_path), "db.sqlite3")


# --- Storage ------------------------------------------------------------------------------


def unwritable_folder(tmp_path: Path) -> Path:
    """A read-only folder; as root, whom permissions do not stop, a path beneath a
    regular file, which nobody can create."""
    if os.geteuid() == 0:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("")
        return blocker / "media"
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_unwritable_storage_answers_503_naming_storage(client, settings, tmp_path):
    location = unwritable_folder(tmp_path)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    response, body = health(client)
    assert response.status_code == 503
    assert body["failing"] == ["storage"]
    assert body["checks"]["storage"] == {"ok": False, "error": "not writable"}
    assert body["checks"]["database"]["ok"] is True
    assert str(tmp_path) not in response.content.decode()


# --- The queue ----------------------------------------------------------------------------


def queued_edit(alice, waiting: timedelta, retry_at: timedelta | None = None) -> Edit:
    edit = make_edit(personal_team(alice), alice, status=Status.QUEUED)
    now = timezone.now()
    Edit.objects.filter(pk=edit.pk).update(
        updated_at=now - waiting, next_attempt_at=None if retry_at is None else now + retry_at
    )
    return edit


def test_an_edit_left_waiting_too_long_answers_503_naming_the_queue(client, alice, settings):
    settings.RETOUCH_HEALTH_QUEUE_SECONDS = 300
    queued_edit(alice, timedelta(seconds=30))
    response, body = health(client)
    assert response.status_code == 200
    assert 29 <= body["checks"]["queue"]["oldest_queued_seconds"] <= 60

    queued_edit(alice, timedelta(minutes=10))
    response, body = health(client)
    assert response.status_code == 503
    assert body["failing"] == ["queue"]
    assert body["checks"]["queue"]["ok"] is False
    assert 600 <= body["checks"]["queue"]["oldest_queued_seconds"] < 630


def test_an_edit_waiting_for_its_retry_counts_from_when_the_retry_is_due(client, alice):
    queued_edit(alice, timedelta(hours=1), retry_at=timedelta(minutes=2))  # not due yet
    response, body = health(client)
    assert response.status_code == 200
    assert body["checks"]["queue"]["oldest_queued_seconds"] is None

    queued_edit(alice, timedelta(hours=1), retry_at=-timedelta(minutes=20))  # due long ago
    response, body = health(client)
    assert response.status_code == 503
    assert 1200 <= body["checks"]["queue"]["oldest_queued_seconds"] < 1230


def test_running_and_finished_edits_are_not_waiting(client, alice):
    for status in (Status.RUNNING, Status.SUCCEEDED, Status.FAILED):
        edit = make_edit(personal_team(alice), alice, status=status)
        Edit.objects.filter(pk=edit.pk).update(updated_at=timezone.now() - timedelta(days=1))
    assert health(client)[1]["checks"]["queue"]["oldest_queued_seconds"] is None


# --- Workers ------------------------------------------------------------------------------


def heartbeat(worker_id: str, age: timedelta) -> WorkerHeartbeat:
    return WorkerHeartbeat.objects.create(worker_id=worker_id, beat_at=timezone.now() - age)


def test_a_stale_worker_heartbeat_answers_503_naming_the_workers(client, settings):
    settings.RETOUCH_WORKER_STALE_SECONDS = 60
    heartbeat("web-host-7.internal-4242", timedelta(seconds=3))
    response, body = health(client)
    assert response.status_code == 200
    workers = body["checks"]["workers"]
    assert workers["count"] == 1 and workers["stale"] == 0
    assert 3 <= workers["heartbeats"][0]["age_seconds"] < 10

    heartbeat("worker-host-9.internal-777", timedelta(seconds=90))
    response, body = health(client)
    assert response.status_code == 503
    assert body["failing"] == ["workers"]
    workers = body["checks"]["workers"]
    assert workers["ok"] is False
    assert workers["count"] == 2 and workers["stale"] == 1
    assert sorted(round(beat["age_seconds"], -1) for beat in workers["heartbeats"]) == [0, 90]
    text = response.content.decode()
    assert "internal" not in text and "host" not in text  # opaque ids only
    assert all(len(beat["id"]) == 8 for beat in workers["heartbeats"])


def test_checks_parameter_leaves_workers_and_queue_out_for_load_balancers(client, alice):
    heartbeat("gone", timedelta(minutes=2))
    queued_edit(alice, timedelta(hours=1))
    response, body = health(client, "?checks=database,storage")
    assert response.status_code == 200
    assert set(body["checks"]) == {"database", "storage"}
    response, body = health(client, "?checks=workers")
    assert response.status_code == 503
    assert set(body["checks"]) == {"workers"}


def dispatcher(worker_id: str = "host-1-100") -> Dispatcher:
    return Dispatcher(threads=1, interval=0.1, queue_names=["default"], worker_id=worker_id)


def test_the_dispatcher_beats_when_due_and_prunes_long_silent_workers(settings):
    settings.RETOUCH_HEARTBEAT_SECONDS = 10
    settings.RETOUCH_WORKER_STALE_SECONDS = 60
    heartbeat("crashed-long-ago", timedelta(minutes=4))  # past 3 stale periods: pruned
    heartbeat("crashed-lately", timedelta(minutes=2))  # stale, still reported
    worker = dispatcher()
    worker.beat()
    assert sorted(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == [
        "crashed-lately",
        "host-1-100",
    ]
    first = WorkerHeartbeat.objects.get(worker_id="host-1-100").beat_at
    worker.beat()  # not due yet: nothing written
    assert WorkerHeartbeat.objects.get(worker_id="host-1-100").beat_at == first
    worker._next_beat = 0
    worker.beat()
    assert WorkerHeartbeat.objects.get(worker_id="host-1-100").beat_at > first
    assert WorkerHeartbeat.objects.count() == 2


def test_a_worker_stopping_cleanly_takes_its_heartbeat_with_it():
    worker = dispatcher()
    worker.beat()
    worker._forget()
    assert not WorkerHeartbeat.objects.exists()


@pytest.mark.slow
def test_the_worker_command_beats_and_deletes_its_heartbeat_on_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "LOG_FORMAT"}}
    env |= {"RETOUCH_DATA_DIR": str(tmp_path), "SECRET_KEY": "healthz-tests-only"}
    manage(env, "migrate", "--noinput", "-v0")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--threads", "1", "--worker-id", "w-beats"],
        cwd=ROOT,
        env=env | {"RETOUCH_HEARTBEAT_SECONDS": "0.2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def beats() -> list:
        sql = "SELECT worker_id, beat_at FROM edits_workerheartbeat"
        return [tuple(row) for row in query_read_only(tmp_path / "db.sqlite3", sql)]

    try:
        deadline = time.monotonic() + 30
        while not beats() and time.monotonic() < deadline:
            time.sleep(0.1)
        first = beats()
        assert [worker_id for worker_id, _ in first] == ["w-beats"]
        time.sleep(0.6)
        assert beats()[0][1] > first[0][1]  # beating on
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, errors = worker.communicate(timeout=30)
    assert worker.returncode == 0, errors[-2000:]
    assert beats() == []
