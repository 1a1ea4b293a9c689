"""Browser tests run the real stack: gunicorn and a db_worker as subprocesses on a
temporary SQLite file, the API simulator on 127.0.0.1, and Debian's Chromium driven
by Playwright. Nothing is mocked: what passes here is what a person would see."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from editor.simulator.server import Simulator

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "browser-test-password-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """The app as `make run` starts it, on free ports, in a temporary data folder."""

    def __init__(self, data_dir: Path, simulator: Simulator) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
            "DJANGO_SETTINGS_MODULE": "editor.settings",
            "RETOUCH_DATA_DIR": str(data_dir),
            "STATIC_ROOT": str(data_dir / "static"),
            "OPENAI_BASE_URL": simulator.base_url,
            "OPENAI_API_KEY": "sk-test",
            "PUBLIC_URL": self.url,
            "SECRET_KEY": "browser-tests-only",
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: list[subprocess.Popen] = []

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.stdout

    def start(self) -> "Stack":
        self.manage("migrate", "--noinput", "-v0")
        self.manage("collectstatic", "--noinput", "-v0")
        log = open(self.data_dir / "stack.log", "w")  # noqa: SIM115 - closed with the stack
        self.processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "db_worker",
                    "--no-reload",
                    "--interval",
                    "0.2",
                    "--no-startup-delay",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        self.processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "editor.wsgi",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--access-logfile",
                    "-",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/accounts/login/", timeout=5)
                return self
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("Retouch did not start: see " + str(self.data_dir / "stack.log"))

    def create_user(self, username: str) -> None:
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; "
            f"get_user_model().objects.create_user({username!r}, password={PASSWORD!r})",
        )

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def browser_simulator():
    sim = Simulator(host="127.0.0.1", port=0, token="sk-test", latency=1.5).start()
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory, browser_simulator):
    stack = Stack(tmp_path_factory.mktemp("stack"), browser_simulator).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/ensure-chromium installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def sign_in(page, stack: Stack, username: str) -> None:
    page.goto(stack.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(stack.url + "/")
