"""A callback's secret token never reaches a log line: neither gunicorn's access log (run
exactly as the Procfile runs it) nor Django's request warnings."""

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import requests

from .processes import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "s3cret-Callback-Token-abcdefghijklmnop"


def procfile_web_command(port: int) -> list[str]:
    line = next(
        row for row in (ROOT / "Procfile").read_text().splitlines() if row.startswith("web:")
    )
    command = line.removeprefix("web:").replace("$PORT", str(port))
    command = command.replace("${WEB_CONCURRENCY:-2}", "1").replace("0.0.0.0", "127.0.0.1")  # noqa: S104
    args = shlex.split(command)
    args[0] = str(ROOT / ".venv/bin/gunicorn")
    return args


@pytest.mark.slow
def test_gunicorn_access_log_and_django_warnings_leave_the_token_out(tmp_path):
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment |= {"RETOUCH_DATA_DIR": str(tmp_path), "DEBUG": "false"}
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env=environment,
        check=True,
        timeout=120,
    )
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        web = subprocess.Popen(
            procfile_web_command(port), cwd=ROOT, env=environment, stdout=log, stderr=log
        )
        try:
            url = f"http://127.0.0.1:{port}/hooks/edits/424242/{TOKEN}/"
            deadline = time.monotonic() + 30
            while True:
                try:
                    answer = requests.post(url, data=b"{}", timeout=5)
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            assert answer.status_code == 404
        finally:
            web.terminate()
            web.wait(30)
    logged = log_path.read_text()
    assert "/hooks/edits/424242/[token]/" in logged  # the access line and the warning
    assert "Not Found" in logged
    assert TOKEN not in logged
