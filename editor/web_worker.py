"""gunicorn's worker class for the web processes (`-k editor.web_worker.WebWorker`):
uvicorn's ASGI worker (the maintained `uvicorn-worker` package), serving editor/asgi.py.

Three things differ from the plain one. It leaves X-Forwarded-* headers to Django, as
gunicorn's threaded worker did (`BEHIND_PROXY` decides whether to trust them). Its
access and error lines go through the same
redaction as Django's (a callback URL's token never reaches a log line; under this
worker the access log is uvicorn's, which gunicorn's `--logger-class` does not format).
And a response still running `timeout_graceful_shutdown` seconds after the server was
told to stop is cancelled instead of holding the stop until gunicorn kills the process:
open event streams end by themselves at once (editor/edits/events.py), so only a slow
download could still be running then.
"""

import logging
from typing import Any

from uvicorn_worker import UvicornWorker

from .logs import RedactSecrets


class WebWorker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {
        **UvicornWorker.CONFIG_KWARGS,
        "proxy_headers": False,
        "timeout_graceful_shutdown": 20,
        # Access lines come from editor.logs.RequestLogContext, with the request's ids.
        "access_log": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).addFilter(RedactSecrets())
