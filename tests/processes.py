"""Retouch as separate processes, for tests that kill them: gunicorn, `manage.py worker`
and `manage.py reconcile` subprocesses on a temporary SQLite file (or the PostgreSQL
database a `DATABASE_URL` in their environment names), as `make run` starts them. Several
stacks with data folders of their own and one database between them are several
machines (tests/test_many_machines.py).

The test process reads the app's database directly (the SQLite file read-only, or a
PostgreSQL connection of its own), because its own Django connection points at the
test database.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "process-test-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`manage.py *args` in a process of its own with `env`; its output captured as text."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=check,
        capture_output=True,
        text=True,
        timeout=120,
    )


def query_read_only(db_path: Path, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    """Rows from an app's SQLite file, opened read-only: the app keeps writing meanwhile."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def query_postgres(url: str, sql: str, params: tuple = ()) -> list[dict]:
    """Rows from the app's PostgreSQL database, on a connection of the caller's own (the
    `?` placeholders of the SQLite queries become psycopg's `%s`, a literal `%` its `%%`);
    timestamps come back as datetimes, where SQLite gives their text."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=10) as db:
        return db.execute(sql.replace("%", "%%").replace("?", "%s"), params).fetchall()


def query_app(env: dict[str, str], sql: str, params: tuple = ()) -> list:
    """Rows from the database of the processes started with `env`."""
    if env.get("DATABASE_URL"):
        return query_postgres(env["DATABASE_URL"], sql, params)
    return query_read_only(Path(env["RETOUCH_DATA_DIR"]) / "db.sqlite3", sql, params)


class ProcessStack:
    def __init__(self, data_dir: Path, base_url: str, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
            "DJANGO_SETTINGS_MODULE": "editor.settings",
            "RETOUCH_DATA_DIR": str(data_dir),
            "STATIC_ROOT": str(data_dir / "static"),
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": "sk-test",
            "PUBLIC_URL": self.url,
            "SECRET_KEY": "process-tests-only",
            "PYTHONUNBUFFERED": "1",
            # Plain answers (the crash tests hold requests open); previews have their
            # own browser test with a stack of its own.
            "RETOUCH_PARTIAL_IMAGES": "0",
            **env,
        }
        self.log_path = data_dir / "processes.log"
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    def manage(self, *args: str) -> str:
        return manage(self.env, *args).stdout

    def start_web(self, workers: int = 2) -> ProcessStack:
        """gunicorn as the Procfile runs it: uvicorn's worker serving editor/asgi.py (pages
        in 4 threads per process, the event streams beside them)."""
        self.manage("migrate", "--noinput", "-v0")
        self.manage("collectstatic", "--noinput", "-v0")
        self.web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "editor.asgi",
                "--worker-class",
                "editor.web_worker.WebWorker",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/accounts/login/", timeout=5)
                return self
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start; see {self.log_path}")

    def start_worker(self, threads: int = 2, worker_id: str = "", **env: str) -> subprocess.Popen:
        """`manage.py worker`; `worker_id` names it in the task rows it claims."""
        named = ("--worker-id", worker_id) if worker_id else ()
        return self._start("worker", "--threads", str(threads), "--interval", "0.1", *named, **env)

    def start_reconciler(self, **env: str) -> subprocess.Popen:
        return self._start("reconcile", **env)

    def _start(self, *command: str, **env: str) -> subprocess.Popen:
        """A `manage.py` command that runs until stopped (a worker or the reconciler)."""
        process = subprocess.Popen(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in [*self.workers, *([self.web] if self.web else [])]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.workers, *([self.web] if self.web else [])]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text()[-6000:]

    # -- the app, as a person uses it -------------------------------------------------------

    def create_user(self, username: str) -> None:
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; "
            f"get_user_model().objects.create_user({username!r}, password={PASSWORD!r})",
        )

    def sign_in(self, username: str) -> requests.Session:
        session = requests.Session()
        session.get(self.url + "/accounts/login/", timeout=10)
        response = session.post(
            self.url + "/accounts/login/",
            data={
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            timeout=10,
        )
        response.raise_for_status()
        return session

    def start_edit(self, session: requests.Session, prompt: str) -> None:
        response = self.post_edit(session, prompt)
        assert response.status_code == 302, response.text[:500]

    def post_edit(self, session: requests.Session, prompt: str) -> requests.Response:
        """The edit form, posted as without JavaScript."""
        png = io.BytesIO()
        Image.new("RGB", (64, 64), (200, 60, 40)).save(png, "PNG")
        return session.post(
            self.url + "/edits/new/",
            data={
                "model": "gpt-image-1",
                "prompt": prompt,
                "quality": "low",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            files={"images": ("photo.png", png.getvalue(), "image/png")},
            headers={"Referer": self.url + "/"},
            timeout=30,
            allow_redirects=False,
        )

    # -- reading the database -----------------------------------------------------------------

    def query(self, sql: str, *params) -> list:
        return query_app(self.env, sql, params)

    def edits(self) -> list[sqlite3.Row]:
        return self.query(
            "SELECT e.*, (SELECT COUNT(*) FROM edits_resultimage r WHERE r.edit_id = e.id)"
            " AS result_count FROM edits_edit e ORDER BY e.id"
        )

    def running_tasks(self) -> list[sqlite3.Row]:
        """django-tasks-db's rows still marked as running."""
        return self.query(
            "SELECT task_path, worker_ids FROM django_tasks_database_dbtaskresult"
            " WHERE status = 'RUNNING'"
        )

    def wait_for(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}\n{self.log()}")


@contextmanager
def private_database(server_url: str, prefix: str) -> Iterator[str]:
    """A database of its own on the PostgreSQL server at `server_url` (the test run's):
    yields its URL, then drops it, whoever is still connected."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    server = urlsplit(server_url)
    admin = server._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# The Chromium that browser tests and benchmarks drive: Debian's, with the flags this
# machine needs (Playwright's own browser download cannot work here).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
