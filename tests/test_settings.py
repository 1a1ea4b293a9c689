"""The embedded defaults: SQLite tuned so that web and worker can write at once."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def _run_django(code: str, tmp_path, **env) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment |= {"RETOUCH_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "editor.settings"}
    environment |= env
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_file_database_uses_wal_and_a_busy_timeout(tmp_path):
    out = _run_django(
        "from django.db import connection; c = connection.cursor(); "
        "c.execute('PRAGMA journal_mode'); print(c.fetchone()[0]); "
        "c.execute('PRAGMA busy_timeout'); print(c.fetchone()[0])",
        tmp_path,
    )
    journal, timeout = out.splitlines()
    assert journal == "wal"
    assert int(timeout) >= 5000
    assert (tmp_path / "db.sqlite3").exists()


def test_dev_secret_key_is_generated_once_and_kept(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = _run_django(code, tmp_path, SECRET_KEY="")
    second = _run_django(code, tmp_path, SECRET_KEY="")
    assert first == second
    assert len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_database_url_switches_to_postgresql(tmp_path):
    out = _run_django(
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['ENGINE'], d['NAME'], d['HOST'])",
        tmp_path,
        DATABASE_URL="postgres://retouch:pw@db.internal:5432/retouch",
    )
    assert out == "django.db.backends.postgresql retouch db.internal"


def test_defaults_are_safe():
    assert settings.DEBUG is False
    assert settings.MEDIA_URL is None  # media only through permission-checked views
    assert settings.TASKS["default"]["BACKEND"] == "django_tasks_db.DatabaseBackend"
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
