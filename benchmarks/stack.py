"""What the benchmarks share: starting Retouch's processes on 127.0.0.1 (the simulator,
gunicorn as the Procfile runs it) on a temporary data folder, signing in, and reading
processes' memory and CPU from /proc. Everything started is stopped at the end; every
wait is bounded."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark-password-1"  # noqa: S105 - a throwaway local account
TOKEN = "sk-bench"  # noqa: S105 - the simulator's token
LISTENING = re.compile(r"listening on (http://\S+)")
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Every process this script starts, so that all of them are stopped at the end."""

    def __init__(self, log_path: Path) -> None:
        self.log = open(log_path, "a")  # noqa: SIM115 - closed in stop_all()
        self.running: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdout", self.log)
        kwargs.setdefault("stderr", subprocess.STDOUT)
        proc = subprocess.Popen(args, cwd=ROOT, env=env, **kwargs)  # noqa: S603
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 30) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.running)):
            self.stop(proc, timeout=15)
        self.log.close()


def start_simulator(procs: Processes, latency: float) -> tuple[str, int]:
    proc = procs.start(
        [
            sys.executable,
            "-m",
            "editor.simulator",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--latency",
            str(latency),
        ],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            match = LISTENING.search(proc.stdout.readline())
            if match:
                threading.Thread(target=lambda: [*proc.stdout], daemon=True).start()
                return match.group(1), proc.pid
    raise SystemExit("the simulator did not start")


def app_env(workdir: Path, api_url: str, public_url: str, **extra: str) -> dict[str, str]:
    """The environment of Retouch's processes: a data folder of their own (SQLite unless
    `extra` names a DATABASE_URL), the API at `api_url`, quiet logs."""
    return {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "DJANGO_SETTINGS_MODULE": "editor.settings",
        "RETOUCH_DATA_DIR": str(workdir),
        "STATIC_ROOT": str(workdir / "static"),
        "OPENAI_BASE_URL": api_url,
        "OPENAI_API_KEY": TOKEN,
        "PUBLIC_URL": public_url,
        "SECRET_KEY": "benchmark-only",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def start_web(procs: Processes, env: dict[str, str], port: int) -> subprocess.Popen:
    """Migrate, add the user `bench`, and start gunicorn (2 workers, 4 threads each, as the
    Procfile does); returns its process once it answers."""
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user('bench', password={PASSWORD!r})",
    )
    command = ["-m", "gunicorn", "editor.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "2", "--threads", "4", "--timeout", "120"]
    web = procs.start([sys.executable, *command], env=env)
    wait_http(f"http://127.0.0.1:{port}/accounts/login/")
    return web


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def wait_http(url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def sign_in(url: str) -> requests.Session:
    session = requests.Session()
    session.get(url + "/accounts/login/", timeout=10)
    session.post(
        url + "/accounts/login/",
        data={
            "username": "bench",
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        timeout=10,
    ).raise_for_status()
    return session


def memory_kb(pid: int) -> dict[str, int]:
    values = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    values[name] = int(rest.split()[0])
    except OSError:
        pass
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process and its live children (gunicorn's workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            pids += [int(child) for child in fh.read().split()]
    except OSError:
        pass
    for one in pids:
        try:
            with open(f"/proc/{one}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class CpuMeter:
    """CPU seconds each named process (group) used between start() and the readings."""

    def __init__(self, processes: dict[str, list[int]]) -> None:
        self.processes = processes
        self.start()

    def _now(self) -> dict[str, float]:
        figures = {name: sum(map(cpu_seconds, pids)) for name, pids in self.processes.items()}
        own = os.times()
        figures["benchmark client"] = own.user + own.system
        return figures

    def start(self) -> None:
        self.base = self._now()

    def used(self) -> dict[str, float]:
        now = self._now()
        return {name: now[name] - self.base[name] for name in now}
