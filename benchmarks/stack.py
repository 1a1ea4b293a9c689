"""What the benchmarks share: starting Retouch's processes on 127.0.0.1 (the simulator,
gunicorn as the Procfile runs it) on a temporary data folder, a throw-away PostgreSQL
server, signing in, posting the edit form as htmx does, reading the app's database, and
reading processes' memory and CPU from /proc. Everything started is stopped at the end;
every wait is bounded."""

from __future__ import annotations

import contextlib
import glob
import html
import http.client
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Shared with the process tests (and re-exported): a free port, `manage.py`, and the app's
# SQLite file read-only.
from tests.processes import free_port as free_port  # noqa: E402
from tests.processes import manage  # noqa: E402
from tests.processes import query_app as query_app  # noqa: E402
from tests.processes import query_read_only as query_read_only  # noqa: E402

PASSWORD = "benchmark-password-1"  # noqa: S105 - a throwaway local account
TOKEN = "sk-bench"  # noqa: S105 - the simulator's token
LISTENING = re.compile(r"listening on (http://\S+)")
STARTUP_TIMEOUT = 60.0


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


@contextlib.contextmanager
def throwaway_postgres(workdir: Path):
    """A private PostgreSQL server on 127.0.0.1, as scripts/test-postgres starts one
    (Debian's server binaries; run as the postgres user when this runs as root, as initdb
    requires; fsync off; PostgreSQL's other defaults, 100 connections among them), with a
    database `retouch`: yields its URL, then stops it (its files go with `workdir`)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not found:
        raise SystemExit("PostgreSQL is not installed (scripts/test-postgres installs it).")
    pg_bin = found[-1]
    run_as = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    data = workdir / "pg"
    data.mkdir()
    if run_as:
        workdir.chmod(0o755)  # the postgres user walks into it
        shutil.chown(data, "postgres")
    port = free_port()

    def pg(*command: str) -> None:
        done = subprocess.run([*run_as, *command], capture_output=True, text=True, timeout=120)  # noqa: S603
        if done.returncode:
            raise SystemExit(f"{command[0]} failed: {done.stderr or done.stdout}")

    pg(f"{pg_bin}/initdb", "-D", f"{data}/data", "-U", "retouch", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = f"{data}/server.log"
    pg(
        f"{pg_bin}/pg_ctl",
        "-D",
        f"{data}/data",
        "-l",
        log,
        "-w",
        "-t",
        "60",
        "-o",
        options,
        "start",
    )
    try:
        pg(f"{pg_bin}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "retouch", "retouch")
        yield f"postgres://retouch@127.0.0.1:{port}/retouch"
    finally:
        subprocess.run(  # noqa: S603
            [*run_as, f"{pg_bin}/pg_ctl", "-D", f"{data}/data", "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )


def postgres_cpu(workdir: Path) -> float:
    """CPU seconds of the throw-away PostgreSQL server under `workdir`: the postmaster, its
    live children and those it has reaped (every backend whose connection closed)."""
    ticks = os.sysconf("SC_CLK_TCK")
    postmaster = int((workdir / "pg" / "data" / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(postmaster)
    with open(f"/proc/{postmaster}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return total + (int(fields[13]) + int(fields[14])) / ticks


class PgActivity(threading.Thread):
    """What PostgreSQL's client backends were doing, sampled every `interval` s from
    pg_stat_activity on a connection of its own (not counted) while the block runs: the
    most connections open at once, and how often backends were found busy (running, or
    inside a transaction waiting for their client) and on what they waited. The sampling
    ends quietly if the server goes away."""

    def __init__(self, url: str, interval: float = 0.1, max_seconds: float = 900) -> None:
        super().__init__(daemon=True)
        self.url, self.interval, self.max_seconds = url, interval, max_seconds
        self.peak = 0
        self.samples = 0
        self.busy: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg

        sql = (
            "SELECT state, wait_event_type, wait_event, left(query, 60) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        deadline = time.monotonic() + self.max_seconds
        try:
            with psycopg.connect(self.url, autocommit=True) as db:
                while not self.stop.is_set() and time.monotonic() < deadline:
                    rows = db.execute(sql).fetchall()
                    self.samples += 1
                    self.peak = max(self.peak, len(rows))
                    for state, kind, event, query in rows:
                        if state in ("active", "idle in transaction"):
                            what = f"{state}: {kind or 'CPU'} {event or ''}".strip()
                            if kind == "Lock":
                                what += f" ({' '.join(query.split())[:50]}…)"
                            self.busy[what] = self.busy.get(what, 0) + 1
                    self.stop.wait(self.interval)
        except psycopg.Error:
            pass

    def top(self, count: int = 6) -> list[str]:
        """The commonest findings: how many backends on average were found so."""
        ranked = sorted(self.busy.items(), key=lambda item: -item[1])[:count]
        return [f"{n / max(1, self.samples):5.2f}  {what}" for what, n in ranked]

    def __enter__(self) -> PgActivity:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.join(timeout=5)


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


def start_web(
    procs: Processes, env: dict[str, str], port: int, app: str = "editor.asgi"
) -> subprocess.Popen:
    """Migrate, add the user `bench`, and start gunicorn as the Procfile does (2 processes
    with uvicorn's worker, 4 page threads each); `app="editor.wsgi"`: gunicorn's threaded
    worker (2 x 4 threads), as before event streams. Returns its process once it answers."""
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user('bench', password={PASSWORD!r})",
    )
    if app.endswith(".wsgi"):
        command = ["-m", "gunicorn", app, "--threads", "4"]
    else:
        command = ["-m", "gunicorn", app, "-k", "editor.web_worker.WebWorker"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"]
    web = procs.start([sys.executable, *command], env=env)
    wait_http(f"http://127.0.0.1:{port}/accounts/login/")
    return web


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


def print_verdict(target: str, ok: bool, detail: str = "") -> bool:
    """Print whether `target` was met (with `detail` after it); returns `ok`."""
    print(f"   target {target}: {'met' if ok else 'NOT met'}{detail}")
    return ok


class CpuMeter:
    """CPU seconds each named process (group) used between start() and the readings;
    `more` names functions that read other processes' CPU seconds (`postgres_cpu`)."""

    def __init__(
        self, processes: dict[str, list[int]], more: dict[str, Callable[[], float]] | None = None
    ) -> None:
        self.processes = processes
        self.more = more or {}
        self.start()

    def _now(self) -> dict[str, float]:
        figures = {name: sum(map(cpu_seconds, pids)) for name, pids in self.processes.items()}
        figures |= {name: read() for name, read in self.more.items()}
        own = os.times()
        figures["benchmark client"] = own.user + own.system
        return figures

    def start(self) -> None:
        self.base = self._now()

    def used(self) -> dict[str, float]:
        now = self._now()
        return {name: now[name] - self.base[name] for name in now}


def reset_peak(pid: int | str = "self") -> bool:
    """Writing "5" to clear_refs resets VmHWM to the current RSS (Linux), so that the peak
    covers the measured step alone."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def worker_pids(master: int) -> list[int]:
    """gunicorn's workers: the children of its master process."""
    try:
        with open(f"/proc/{master}/task/{master}/children") as fh:
            return [int(pid) for pid in fh.read().split()]
    except OSError:
        return []


class RssSampler(threading.Thread):
    """The sum of VmRSS over the given processes, every `interval` seconds."""

    def __init__(self, pids: list[int], interval: float = 0.01, max_seconds: float = 600) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.interval = interval
        self.max_seconds = max_seconds
        self.peak_kb = 0
        self.stop = threading.Event()

    def total_kb(self) -> int:
        return sum(memory_kb(pid).get("VmRSS", 0) for pid in self.pids)

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.peak_kb = max(self.peak_kb, self.total_kb())
            self.stop.wait(self.interval)


class WebMemory:
    """The memory of gunicorn's workers around one measured step (`with WebMemory(pid):`):
    the sum of their VmRSS before, at its peak (sampled every 10 ms) and after, and each
    worker's VmHWM (reset before the step where Linux allows it)."""

    def __init__(self, master: int) -> None:
        self.workers = worker_pids(master)
        self.sampler = RssSampler(self.workers)

    def __enter__(self) -> WebMemory:
        self.before_kb = self.sampler.total_kb()
        self.peaks_reset = all(reset_peak(pid) for pid in self.workers)
        self.sampler.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sampler.stop.set()
        self.sampler.join(timeout=5)
        self.after_kb = self.sampler.total_kb()
        self.hwms_mb = [memory_kb(pid).get("VmHWM", 0) / 1024 for pid in self.workers]

    @property
    def growth_mb(self) -> float:
        return (self.sampler.peak_kb - self.before_kb) / 1024

    def report(self, target_mb: float) -> None:
        """Print the figures, and whether the growth stayed within `target_mb`."""
        workers = f"sum over {len(self.workers)} workers"
        print(f"web RSS before:  {self.before_kb / 1024:8.1f} MB ({workers})")
        print(f"web RSS peak:    {self.sampler.peak_kb / 1024:8.1f} MB (sampled every 10 ms)")
        print(f"web RSS after:   {self.after_kb / 1024:8.1f} MB")
        print(
            "worker VmHWM:    "
            + ", ".join(f"{h:.1f}" for h in self.hwms_mb)
            + " MB"
            + ("" if self.peaks_reset else " (not reset: includes the warm-up)")
        )
        verdict = "OK" if self.growth_mb <= target_mb else "OVER TARGET"
        target = f"target ≤ {target_mb:.0f} MB"
        print(f"growth:          {self.growth_mb:8.1f} MB ({target}): {verdict}")


# -- the edit form, posted as htmx does ---------------------------------------------------
# Encoded by hand over http.client: requests costs a few ms of CPU per post and would hold
# a large body in memory twice.


def edit_form_fields(cookies: dict, **more: str) -> dict[str, str]:
    """The edit form's fields for a cheap gpt-image-1 edit (the CSRF token from `cookies`)."""
    return {
        "csrfmiddlewaretoken": cookies["csrftoken"],
        "model": "gpt-image-1",
        "quality": "low",
        "size": "1024x1024",
        **more,
    }


def form_field(boundary: str, name: str, value: str) -> bytes:
    """One multipart/form-data field."""
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


def form_file_head(boundary: str, filename: str, content_type: str) -> bytes:
    """The head of one photo of the form's `images` field; its bytes and "\\r\\n" follow."""
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="images"; '
        f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
    ).encode()


def htmx_form_headers(port: int, cookies: dict, boundary: str) -> dict[str, str]:
    """The headers of the form's post from the gallery page, as htmx sends them."""
    return {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        "Referer": f"http://127.0.0.1:{port}/",
        "HX-Request": "true",
        "HX-Target": "gallery-items",
    }


def post_edit_form(
    connection: http.client.HTTPConnection, body, headers: dict[str, str]
) -> tuple[int, float, str]:
    """POST /edits/new/ on `connection`; (status, seconds to the answer, the answer)."""
    t0 = time.monotonic()
    connection.request("POST", "/edits/new/", body=body, headers=headers)
    response = connection.getresponse()
    text = response.read().decode(errors="replace")
    return response.status, time.monotonic() - t0, text


def outcome(status: int, text: str) -> str:
    """ "accepted", or the first error the form shows (shortened), or the HTTP status."""
    if status == 200 and "data-has-errors" not in text:
        return "accepted"
    match = re.search(r'class="errorlist[^"]*">\s*<li>(.*?)</li>', text, re.S)
    if match:
        return f"refused: {html.unescape(re.sub(r'<[^>]+>', '', match.group(1)))[:70]}"
    return f"HTTP {status}"
