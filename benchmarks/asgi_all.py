"""For benchmarks/asgi_pages.py only: every request through Django's ASGI handler, the
alternative editor/asgi.py was measured against (`gunicorn benchmarks.asgi_all`).

Django's handler as it is would hold a streamed download whole in memory (it reads a
synchronous iterator into a list under ASGI); this one reads it a piece at a time in
the request's thread, so that the comparison is about serving pages, not that. As
Django's documentation asks under ASGI, database connections are not kept open.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editor.settings")
os.environ["DATABASE_CONN_MAX_AGE"] = "0"

from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler

_DONE = object()


async def _pieces(iterator):
    iterator = iter(iterator)
    step = sync_to_async(next)
    while (piece := await step(iterator, _DONE)) is not _DONE:
        yield piece


class PieceByPiece(ASGIHandler):
    async def send_response(self, response, send):
        if response.streaming and not response.is_async:
            response.streaming_content = _pieces(response.streaming_content)
        await super().send_response(response, send)


get_asgi_application()  # Django's set-up
application = PieceByPiece()
