"""Production mode: with the README's production switches, `manage.py check --deploy`
reports nothing, because HTTPS redirect and HSTS follow from the switches."""

import os
import secrets

from .processes import manage


def production_env(tmp_path, **extra) -> dict[str, str]:
    environment = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "EMAIL_BACKEND"}
    }
    return environment | {
        "RETOUCH_DATA_DIR": str(tmp_path),
        "SECURE_COOKIES": "true",
        "BEHIND_PROXY": "true",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "retouch.example.com",
        "PUBLIC_URL": "https://retouch.example.com",
        **extra,
    }


def setting(name: str, environment: dict[str, str]) -> str:
    code = f"from django.conf import settings; print(settings.{name})"
    return manage(environment, "shell", "-v", "0", "-c", code, check=False).stdout.strip()


def test_check_deploy_reports_nothing_with_the_production_switches(tmp_path):
    done = manage(production_env(tmp_path), "check", "--deploy", check=False)
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout
    assert "WARNING" not in done.stderr + done.stdout


def test_the_switches_turn_on_hsts_for_a_year_and_the_https_redirect(tmp_path):
    environment = production_env(tmp_path)
    assert setting("SECURE_HSTS_SECONDS", environment) == str(365 * 24 * 3600)
    assert setting("SECURE_SSL_REDIRECT", environment) == "True"
    shorter = production_env(tmp_path, SECURE_HSTS_SECONDS="600", SECURE_SSL_REDIRECT="false")
    assert setting("SECURE_HSTS_SECONDS", shorter) == "600"
    assert setting("SECURE_SSL_REDIRECT", shorter) == "False"


def test_plain_http_defaults_send_no_hsts_and_no_redirect(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment |= {"RETOUCH_DATA_DIR": str(tmp_path)}
    for name in ("SECURE_COOKIES", "PUBLIC_URL", "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT"):
        environment.pop(name, None)
    assert setting("SECURE_HSTS_SECONDS", environment) == "0"
    assert setting("SECURE_SSL_REDIRECT", environment) == "False"


def test_a_configured_mail_backend_is_still_checked(tmp_path):
    environment = production_env(
        tmp_path, EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"
    )
    done = manage(environment, "check", "--deploy", check=False)
    assert done.returncode != 0
    assert "mail.E001" in done.stderr
