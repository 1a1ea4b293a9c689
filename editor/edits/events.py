"""The feed: how a web process learns that edits changed, and tells its open streams.

The worker and the web processes share nothing but the database. Every change a page
shows writes a `Change` row (models/changes.py). In each web process one thread, the
feed, reads the rows after the last one it read: on PostgreSQL when a NOTIFY says that
some were committed (LISTEN on a connection of its own), on SQLite every `TICK` seconds
(the newest rows by primary key: a read of an index, no table scan). It then checks in
one query that each listener of a changed team is still a member (a member removed
stops receiving with the next change; leaving writes one), and wakes the streams
(stream.py) whose page shows a changed edit. However many pages are open, a change
costs each web process two queries, and an open page costs none while nothing changes.
Every `CHECK_SECONDS` the feed also checks every listener's membership, account and
session, so a signed-out or deactivated person's streams end too.

Streams live in the event loop; the feed is a plain thread with its own database
connection, so no stream holds a connection or a thread of its own. Listeners are
handed over under one lock; the feed wakes a stream through its loop
(`call_soon_threadsafe`), never by touching it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone

from editor.teams.models import Membership

from .models import Change

log = logging.getLogger(__name__)

TICK = 0.1  # seconds: SQLite's read of new rows; PostgreSQL's longest wait for a NOTIFY
SAFETY_READ_SECONDS = 5.0  # PostgreSQL: read anyway this often (a NOTIFY lost to a reconnect)
CHECK_SECONDS = 15.0  # every listener's membership, account and session
LINGER_SECONDS = 30.0  # the thread stops this long after its last listener left
READ_LIMIT = 1000  # rows read at once; more wait for the next turn
SHOWN_IDS = 100  # ids one event names at most; beyond that it says "all"
DB_SESSION_ENGINES = (
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
)


@dataclass
class Update:
    """What one event tells a page: the newest change id it covers, and which edits and
    batches changed (`everything`: more than that, or unknown; re-read all)."""

    id: int
    edits: list[int]
    batches: list[int]
    everything: bool = False


@dataclass(eq=False)
class Listener:
    """One open stream: whose it is, which team, and which edits its page shows (one
    edit, one batch, or the whole team's gallery). `since` is the newest change the page
    has seen (None: unknown, so its first event asks for a full re-read). The fields
    below `since` belong to the feed and are read and written under its lock."""

    user_id: int
    team_id: int
    session_key: str | None = None
    edit_id: int | None = None
    batch_id: int | None = None
    since: int | None = None
    loop: asyncio.AbstractEventLoop = field(default=None, repr=False)  # type: ignore[assignment]
    ready: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    ended: str = ""  # "revoked" (no longer allowed) or "closing" (the server stops)
    admitted: bool = False
    _edits: set = field(default_factory=set, repr=False)
    _batches: set = field(default_factory=set, repr=False)
    _newest: int = 0
    _everything: bool = False

    def wants(self, change: Change) -> bool:
        if change.team_id != self.team_id or change.edit_id is None:
            return False
        if self.edit_id is not None:
            return change.edit_id == self.edit_id
        if self.batch_id is not None:
            return change.batch_id == self.batch_id
        return True

    def _add(self, changes: list[Change], everything: bool = False) -> bool:
        """Keep `changes` for the next event (coalesced); True when there is news."""
        news = [c for c in changes if self.since is None or c.pk > self.since]
        for change in news:
            self._edits.add(change.edit_id)
            if change.batch_id is not None:
                self._batches.add(change.batch_id)
            self._newest = max(self._newest, change.pk)
        self._everything |= everything
        return bool(news) or everything

    def _take(self) -> Update | None:
        if not (self._edits or self._everything) or self.ended:
            return None
        newest = max(self._newest, self.since or 0)
        update = Update(
            id=newest,
            edits=sorted(self._edits)[:SHOWN_IDS],
            batches=sorted(self._batches)[:SHOWN_IDS],
            everything=self._everything or len(self._edits) > SHOWN_IDS,
        )
        self._edits, self._batches, self._everything = set(), set(), False
        self.since = newest
        return update


def _set_all(events: list[asyncio.Event]) -> None:
    for event in events:
        event.set()


class Feed:
    """The process's one feed (`feed` below). `register` a listener when its stream
    starts, `take` what it should send when its `ready` event is set, `unregister` it
    when the stream ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: set[Listener] = set()
        self._newcomers: list[Listener] = []
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = False
        self._signals_chained = False

    # -- the streams' side (event loop) -----------------------------------------------

    def open_for(self, user_id: int) -> int:
        with self._lock:
            return sum(1 for one in self._listeners if one.user_id == user_id)

    def register(self, listener: Listener, limit: int) -> bool:
        """Start feeding `listener`; False when its person already has `limit` open
        streams in this process, or the server is stopping."""
        listener.loop = asyncio.get_running_loop()
        with self._lock:
            mine = sum(1 for one in self._listeners if one.user_id == listener.user_id)
            if self._stopping or mine >= limit:
                return False
            self._listeners.add(listener)
            self._newcomers.append(listener)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="change-feed", daemon=True)
                self._thread.start()
        self._wake.set()
        self._chain_exit_signals()
        return True

    def unregister(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def take(self, listener: Listener) -> Update | None:
        with self._lock:
            listener.ready.clear()
            return listener._take()

    def stop_all(self) -> None:
        """The server stops: every stream ends (its page reconnects elsewhere or later,
        with Last-Event-ID), and no new one starts here."""
        with self._lock:
            self._stopping = True
            listeners = list(self._listeners)
            for listener in listeners:
                listener.ended = listener.ended or "closing"
        self._wake_streams(listeners)

    def wait_stopped(self, timeout: float) -> bool:
        """After `stop_all` and the last `unregister`: wait for the thread to end."""
        thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join(timeout)
        return self._thread is None

    def _chain_exit_signals(self) -> None:
        """End the streams first when the server is told to stop (SIGTERM, SIGINT), then
        do what was going to be done (uvicorn's graceful shutdown waits for open
        responses, which would otherwise keep it waiting until gunicorn kills it)."""
        if self._signals_chained or threading.current_thread() is not threading.main_thread():
            return
        self._signals_chained = True
        for number in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(number)
            if not callable(previous):
                continue  # the default or ignored: not a server that shuts down gracefully

            def on_exit(signum: int, frame: Any, previous=previous) -> None:
                self.stop_all()
                previous(signum, frame)

            signal.signal(number, on_exit)

    # -- the feed thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                try:
                    self._feed()
                    return
                except Exception:
                    log.exception("The change feed failed; starting it again in a second")
                    connections.close_all()
                    time.sleep(1)
                    with self._lock:
                        if not self._listeners:
                            self._thread = None
                            return
        finally:
            connections.close_all()

    def _feed(self) -> None:
        cursor = Change.objects.latest_id()
        waiter = _Notifications() if connections["default"].vendor == "postgresql" else None
        try:
            last_read = last_check = time.monotonic()
            idle_since: float | None = None
            while True:
                with self._lock:
                    newcomers, self._newcomers = self._newcomers, []
                    if self._listeners:
                        idle_since = None
                    elif idle_since is None:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since > LINGER_SECONDS or self._stopping:
                        self._thread = None
                        return
                if newcomers:
                    self._admit(newcomers, cursor)
                if waiter is None:
                    self._wake.wait(TICK)
                    self._wake.clear()
                    due = True
                else:
                    due = waiter.wait(TICK) or time.monotonic() - last_read > SAFETY_READ_SECONDS
                if due:
                    last_read = time.monotonic()
                    changes = list(Change.objects.after(cursor)[:READ_LIMIT])
                    if changes:
                        cursor = changes[-1].pk
                        self._deliver(changes)
                if time.monotonic() - last_check > CHECK_SECONDS:
                    last_check = time.monotonic()
                    self._check_everyone()
        finally:
            if waiter is not None:
                waiter.close()

    def _admit(self, newcomers: list[Listener], cursor: int) -> None:
        """Catch new listeners up to `cursor` (what this thread delivered so far): the
        changes their page has not seen, or a full re-read when that is unknown (no
        `since`, or changes since then already pruned)."""
        oldest = Change.objects.order_by("pk").values_list("pk", flat=True).first()
        woken = []
        for listener in newcomers:
            since, missed, everything = listener.since, [], False
            if since is None or (oldest is not None and since < oldest - 1):
                everything = True
            elif since < cursor:
                rows = Change.objects.filter(
                    pk__gt=since, pk__lte=cursor, team_id=listener.team_id
                ).exclude(edit_id=None)
                if listener.edit_id is not None:
                    rows = rows.filter(edit_id=listener.edit_id)
                elif listener.batch_id is not None:
                    rows = rows.filter(batch_id=listener.batch_id)
                missed = list(rows.order_by("pk")[: SHOWN_IDS + 1])
                everything = len(missed) > SHOWN_IDS
            with self._lock:
                listener.admitted = True
                if everything:
                    listener._newest = max(listener._newest, cursor)
                if listener._add(missed, everything):
                    woken.append(listener)
        self._wake_streams(woken)

    def _deliver(self, changes: list[Change]) -> None:
        teams = {change.team_id for change in changes}
        with self._lock:
            concerned = [one for one in self._listeners if one.admitted and one.team_id in teams]
        if not concerned:
            return
        allowed = _members(concerned)
        woken = []
        with self._lock:
            for listener in concerned:
                if (listener.team_id, listener.user_id) not in allowed:
                    listener.ended = "revoked"
                    woken.append(listener)
                elif listener._add([c for c in changes if listener.wants(c)]):
                    woken.append(listener)
        self._wake_streams(woken)

    def _check_everyone(self) -> None:
        with self._lock:
            listeners = [one for one in self._listeners if one.admitted and not one.ended]
        if not listeners:
            return
        allowed = _members(listeners)
        sessions = _live_sessions(listeners)
        revoked = [
            one
            for one in listeners
            if (one.team_id, one.user_id) not in allowed
            or (sessions is not None and one.session_key not in sessions)
        ]
        with self._lock:
            for listener in revoked:
                listener.ended = "revoked"
        self._wake_streams(revoked)

    @staticmethod
    def _wake_streams(listeners: list[Listener]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Event]] = {}
        for listener in listeners:
            by_loop.setdefault(listener.loop, []).append(listener.ready)
        for loop, events in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: its streams are gone
                loop.call_soon_threadsafe(_set_all, events)


def _members(listeners: list[Listener]) -> set[tuple[int, int]]:
    """(team id, user id) of the listeners still allowed: members (every role may look)
    with an active account. One query for all of them."""
    teams = {one.team_id for one in listeners}
    users = {one.user_id for one in listeners}
    rows = Membership.objects.filter(team_id__in=teams, user_id__in=users, user__is_active=True)
    return set(rows.values_list("team_id", "user_id"))


def _live_sessions(listeners: list[Listener]) -> set[str] | None:
    """The listeners' sessions that still exist (signed-out ones are deleted); None when
    sessions are not kept in the database, where this cannot be asked cheaply."""
    if settings.SESSION_ENGINE not in DB_SESSION_ENGINES:
        return None
    from django.contrib.sessions.models import Session

    keys = {one.session_key for one in listeners if one.session_key}
    live = Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
    return set(live.values_list("session_key", flat=True))


class _Notifications:
    """PostgreSQL: a connection of its own that LISTENs on the change channel, opened
    outside any connection pool (RETOUCH_DB_POOL): it is held for as long as the feed
    runs, and closed, never handed back to a pool with a LISTEN on it."""

    def __init__(self) -> None:
        from .models.changes import CHANNEL

        database = connections["default"]
        self.connection = database.Database.connect(**database.get_connection_params())
        self.connection.autocommit = True
        self.connection.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> bool:
        """True when a NOTIFY came within `timeout` seconds (any more that came with it
        are read too)."""
        return any(True for _ in self.connection.notifies(timeout=timeout, stop_after=1))

    def close(self) -> None:
        self.connection.close()


feed = Feed()
