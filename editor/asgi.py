"""The web process under ASGI: gunicorn with uvicorn's worker (editor/web_worker.py)
serves this application (Procfile, `make run`).

Only the event stream (`/events/`, editor/edits/stream.py) needs ASGI: an open page holds
it for as long as it is open, and under ASGI that costs a coroutine, not a thread. It
goes to Django's ASGI handler. Every other request goes to Django's WSGI handler, run
in a fixed pool of `RETOUCH_WEB_THREADS` threads per process (a2wsgi), exactly as
gunicorn's threaded worker ran it before: the same bounded concurrency, persistent
database connections, uploads read and downloads written a piece at a time.

Measured (benchmarks/asgi_pages.py, README): pages this way cost the same CPU as under
gunicorn's threaded worker. Sending them through Django's ASGI handler as well would
cost more CPU per page, run each request's synchronous code in a thread of its own
(unbounded), need persistent database connections turned off (Django's documentation:
a pool instead, for PostgreSQL), and, with Django's handler as it is, hold every
streamed download (a file, a zip of a batch) whole in memory.
"""

import os

from a2wsgi import WSGIMiddleware
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler
from django.core.wsgi import get_wsgi_application
from django.urls import reverse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editor.settings")

get_asgi_application()  # sets Django up
_django_pages = get_wsgi_application()


class _EventsHandler(ASGIHandler):
    """Django's ASGI handler, minus the thread of its own that it gives each request for
    the synchronous parts (the middleware, the permission check): a stream lives as long
    as its page, and so would that thread, idle, with its stack and its malloc arena
    (measured: most of the memory of 500 open pages). Here they share one thread, which
    takes a few milliseconds per stream opened."""

    async def __call__(self, scope, receive, send) -> None:
        await self.handle(scope, receive, send)


_events = _EventsHandler()


def _pages_app(environ, start_response):
    # a2wsgi's input ends where the request body ends, chunked bodies included, as
    # gunicorn's does; it only does not say so (editor/edits/webhooks.py asks).
    environ["wsgi.input_terminated"] = True
    return _django_pages(environ, start_response)


def _body(receive):
    """The request's `receive` for a page: a client gone before its body ended is an
    error while reading it (as under gunicorn), not a body that ends early."""

    async def receive_body():
        message = await receive()
        if message["type"] == "http.disconnect":
            raise OSError("The client went away before its request body ended.")
        return message

    return receive_body


_pages = WSGIMiddleware(_pages_app, workers=settings.RETOUCH_WEB_THREADS)
EVENTS_PATH = reverse("events")


async def application(scope, receive, send) -> None:
    if scope["type"] == "http" and scope["path"] == EVENTS_PATH:
        await _events(scope, receive, send)
    elif scope["type"] == "http":
        await _pages(scope, _body(receive), send)
    else:  # the server's lifespan messages, answered by a2wsgi
        await _pages(scope, receive, send)
