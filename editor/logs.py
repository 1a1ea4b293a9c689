"""Keeping secrets out of log lines.

A callback's URL carries the edit's secret token (`/hooks/edits/<id>/<token>/`): it is
the only proof that a callback is real, so it must not reach access logs or Django's
request warnings, which are often shipped to places with wider access than the
database. Django's log records pass through `RedactSecrets` (settings.LOGGING), and
gunicorn's access log through `GunicornLogger` (`--logger-class` in the Procfile).
"""

import logging
import re

from gunicorn.glogging import Logger

_CALLBACK_TOKEN = re.compile(r"(/hooks/edits/\d+/)[^/\s?\"]+")


def redact(text: str) -> str:
    return _CALLBACK_TOKEN.sub(r"\1[token]", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record whose message names a callback URL, token replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class GunicornLogger(Logger):
    """gunicorn's logger, with the request line and path of the access log redacted."""

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
