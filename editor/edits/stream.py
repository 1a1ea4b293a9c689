"""The event stream: an open gallery, batch or detail page hears of its edits' changes
the moment the worker commits them (server-sent events), instead of polling.

`GET /events/` is the current team's gallery; `?batch=<id>` one batch's page;
`?edit=<id>` one edit's detail page. Who may open it is checked like the page itself
(the same helpers: another team's edit or batch is 404), and again for every event by
the feed (events.py), which ends the stream of a member who left the team, signed out
or was deactivated. A person has at most `RETOUCH_STREAMS_PER_PERSON` open streams in a
web process (429 beyond, and a stream started past the limit in a race ends at once).

An event says which edits changed; the page then asks for them through its usual
partial (htmx: `hx-trigger="sse:change"` on the poller), so nothing about who sees what
is decided twice. Each event's `id` is the newest change it covers: a page that
reconnects sends it back (`Last-Event-ID`) and is told at once what it missed; with no
id at all (`?since=` from the page, or a first connection) it is told to re-read
everything. A comment every `HEARTBEAT_SECONDS` keeps proxies from closing an idle
stream. An open stream holds no thread and no database connection: the feed reads for
all of them, and editor/asgi.py runs the synchronous parts of opening one (middleware,
checks) in a thread shared by all streams. The stream runs only under ASGI: under a
WSGI server it would hold a thread for its whole life, so there it answers 204 and the
page keeps polling.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from editor.teams.permissions import get_batch_for_user, get_edit_for_user, membership_for

from .events import Listener, Update, feed

HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000  # how long a browser waits before reconnecting a dropped stream
BUSY_RETRY_SECONDS = 30


@login_required
@require_GET
async def events(request: HttpRequest) -> HttpResponse:
    listener = await sync_to_async(_listener_for)(request)
    if not isinstance(request, ASGIRequest):
        return HttpResponse(status=204)  # no stream under WSGI: the page polls
    if feed.open_for(listener.user_id) >= settings.RETOUCH_STREAMS_PER_PERSON:
        return too_many()
    response = StreamingHttpResponse(_stream(listener), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def too_many() -> HttpResponse:
    response = HttpResponse(
        "Too many open pages: this one updates by polling.", status=429, content_type="text/plain"
    )
    response["Retry-After"] = str(BUSY_RETRY_SECONDS)
    return response


def _listener_for(request: HttpRequest) -> Listener:
    """Who listens to what, checked as the page itself is: 404 for another team's edit
    or batch, 400 for a malformed id."""
    since = _event_id(request.headers.get("Last-Event-ID"))
    if since is None:
        since = _event_id(request.GET.get("since"))
    person = {"user_id": request.user.pk, "session_key": request.session.session_key}
    if "edit" in request.GET:
        edit, _ = get_edit_for_user(request, _object_id(request.GET["edit"]))
        return Listener(team_id=edit.team_id, edit_id=edit.pk, since=since, **person)
    if "batch" in request.GET:
        batch, _ = get_batch_for_user(request, _object_id(request.GET["batch"]))
        return Listener(team_id=batch.team_id, batch_id=batch.pk, since=since, **person)
    return Listener(team_id=membership_for(request).team_id, since=since, **person)


def _object_id(value: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise BadRequest("Not an id.")
    return int(value)


def _event_id(value: str | None) -> int | None:
    if value and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


async def _stream(listener: Listener) -> AsyncIterator[str]:
    if not feed.register(listener, settings.RETOUCH_STREAMS_PER_PERSON):
        yield f"retry: {BUSY_RETRY_SECONDS * 1000}\nevent: busy\ndata: {{}}\n\n"
        return
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while True:
            try:
                await asyncio.wait_for(listener.ready.wait(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield ": still here\n\n"
                continue
            update = feed.take(listener)
            if listener.ended == "revoked":
                # The page's sse-close="revoked" stops the browser from reconnecting.
                yield "event: revoked\ndata: {}\n\n"
                return
            if update is not None:
                yield _format(update)
            if listener.ended:  # the server stops: the page reconnects after RETRY_MS
                return
    finally:
        feed.unregister(listener)


def _format(update: Update) -> str:
    data = {"edits": update.edits, "batches": update.batches}
    if update.everything:
        data["all"] = True
    return f"id: {update.id}\nevent: change\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
