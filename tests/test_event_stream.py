"""The event stream over real HTTP: gunicorn with uvicorn's worker as the Procfile runs it
(one process, so that the per-person limit is exact), on a temporary SQLite file.

Changes are written to the file as the worker's commits write them (a Change row; on
SQLite the feed reads new rows every 0.1 s), so each test controls exactly what
changed. Django's test client cannot hold a stream open; the authorization walk
(tests/test_authorization.py) has the stream's row for every kind of person.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests

from .processes import ProcessStack

pytestmark = pytest.mark.slow

WAIT = 5.0  # seconds an expected event may take (it takes well under one)
QUIET = 1.0  # seconds an unexpected event is waited for

SETUP = """
import json
from django.contrib.auth import get_user_model
from editor.edits.models import Batch, Edit
from editor.teams.models import Membership, Profile, Team
users = get_user_model().objects
ids = {}
for name in ("olga", "ed", "mallory"):
    users.create_user(name, password=PASSWORD)
studio, other = Team.objects.create(name="Studio"), Team.objects.create(name="Other")
for name, team in (("olga", studio), ("ed", studio), ("mallory", other)):
    user = users.get(username=name)
    Membership.objects.create(team=team, user=user, role="owner" if name != "ed" else "editor")
    Profile.objects.update_or_create(user=user, defaults={"current_team": team})
olga = users.get(username="olga")
batch = Batch.objects.create(team=studio, created_by=olga, prompt="Hats")
edits = [Edit.objects.create(team=studio, created_by=olga, prompt=f"edit {n}") for n in range(3)]
Edit.objects.filter(pk=edits[2].pk).update(batch=batch)
theirs = Edit.objects.create(team=other, created_by=users.get(username="mallory"), prompt="x")
print(json.dumps({
    "studio": studio.pk, "other": other.pk, "batch": batch.pk,
    "edits": [e.pk for e in edits], "theirs": theirs.pk,
}))
"""


@dataclass
class Event:
    id: str
    name: str
    data: dict


class EventStream:
    """A stream read by a thread of its own (http.client, so that `close` can end it at
    once from here): each complete event goes into a queue."""

    def __init__(self, session: requests.Session, url: str, **headers: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        cookies = "; ".join(f"{k}={v}" for k, v in session.cookies.get_dict().items())
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.connection.request("GET", path, headers={"Cookie": cookies, **headers})
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = self.response.headers
        self.events: queue.Queue = queue.Queue()
        self.ended = threading.Event()
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.response.read()
            self.ended.set()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            while line := self.response.readline():
                line = line.decode().rstrip("\r\n")
                if line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                elif "event" in fields:
                    data = json.loads(fields.get("data") or "{}")
                    self.events.put(Event(fields.get("id", ""), fields["event"], data))
                    fields = {}
                else:
                    fields = {}
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # closed by the test (http.client's own objects go away under it), or the server
        finally:
            self.ended.set()

    def next(self, timeout: float = WAIT) -> Event:
        return self.events.get(timeout=timeout)

    def nothing_within(self, seconds: float = QUIET) -> bool:
        try:
            event = self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected event {event}")

    def close(self) -> None:
        if self.connection.sock is not None:
            with contextlib.suppress(OSError):
                self.connection.sock.shutdown(socket.SHUT_RDWR)
        self.connection.close()


class App:
    def __init__(self, stack: ProcessStack, ids: dict) -> None:
        self.stack, self.ids = stack, ids
        self.streams: list[EventStream] = []

    def open(self, who: str, query: str = "", **headers: str) -> EventStream:
        stream = EventStream(self.session(who), f"{self.stack.url}/events/{query}", **headers)
        self.streams.append(stream)
        return stream

    def session(self, who: str) -> requests.Session:
        if not hasattr(self, "_sessions"):
            self._sessions: dict[str, requests.Session] = {}
        if who not in self._sessions:
            self._sessions[who] = self.stack.sign_in(who)
        return self._sessions[who]

    def latest(self) -> int:
        db = sqlite3.connect(self.stack.data_dir / "db.sqlite3", timeout=30)
        try:
            return db.execute("SELECT COALESCE(MAX(id), 0) FROM edits_change").fetchone()[0]
        finally:
            db.close()

    def change(self, team: int, edit: int | None, batch: int | None = None) -> int:
        """A change as the worker's commit writes it; returns its event id."""
        db = sqlite3.connect(self.stack.data_dir / "db.sqlite3", timeout=30)
        try:
            with db:
                cursor = db.execute(
                    "INSERT INTO edits_change (team_id, edit_id, batch_id, at)"
                    " VALUES (?, ?, ?, datetime('now'))",
                    (team, edit, batch),
                )
            return cursor.lastrowid
        finally:
            db.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    stack = ProcessStack(
        tmp_path_factory.mktemp("events"),
        "http://127.0.0.1:9/openai",
        RETOUCH_STREAMS_PER_PERSON="3",
    )
    try:
        stack.start_web(workers=1)
        setup = SETUP.replace("PASSWORD", repr("process-test-password-1"))
        ids = json.loads(stack.manage("shell", "-c", setup).strip().splitlines()[-1])
        yield App(stack, ids)
    finally:
        stack.stop()


@pytest.fixture
def events(app):
    yield app
    for stream in app.streams:
        stream.close()
    app.streams.clear()
    time.sleep(0.3)  # the server notices the closed streams before the next test counts


def first_event(stream: EventStream) -> Event:
    """A page that names no `since` is first told to re-read everything."""
    event = stream.next()
    assert (event.name, event.data.get("all")) == ("change", True)
    return event


def test_anonymous_visitors_are_sent_to_sign_in(events):
    answer = requests.get(events.stack.url + "/events/", timeout=10, allow_redirects=False)
    assert answer.status_code == 302
    assert "/accounts/login/" in answer.headers["Location"]


def test_another_teams_edit_or_batch_is_404_and_a_bad_id_400(events):
    mallory = events.session("mallory")
    for query in (f"?edit={events.ids['edits'][0]}", f"?batch={events.ids['batch']}"):
        assert mallory.get(events.stack.url + "/events/" + query, timeout=10).status_code == 404
    assert mallory.get(events.stack.url + "/events/?edit=x", timeout=10).status_code == 400


def test_a_team_hears_of_its_own_edits_only(events):
    ids = events.ids
    olga, mallory = events.open("olga"), events.open("mallory")
    first_event(olga), first_event(mallory)
    newest = events.change(ids["studio"], ids["edits"][0])
    event = olga.next()
    assert (event.name, event.id, event.data["edits"]) == ("change", str(newest), [ids["edits"][0]])
    assert mallory.nothing_within()
    events.change(ids["other"], ids["theirs"])
    assert mallory.next().data["edits"] == [ids["theirs"]]
    assert olga.nothing_within()


def test_a_detail_or_batch_page_hears_of_its_own_edits_only(events):
    ids = events.ids
    first, second, in_batch = ids["edits"]
    detail = events.open("ed", f"?edit={first}&since=0")
    batch = events.open("ed", f"?batch={ids['batch']}&since={events.latest()}")
    events.change(ids["studio"], second)
    events.change(ids["studio"], in_batch, ids["batch"])
    assert batch.next().data == {"edits": [in_batch], "batches": [ids["batch"]]}
    newest = events.change(ids["studio"], first)
    # The detail page (since=0) first catches up on its edit's earlier changes, if any.
    while (event := detail.next()).id != str(newest):
        assert event.data["edits"] == [first]
    assert event.data["edits"] == [first]
    assert batch.nothing_within(0.3)


def test_a_reconnecting_page_misses_nothing(events):
    ids = events.ids
    stream = events.open("olga")
    first_event(stream)
    seen = events.change(ids["studio"], ids["edits"][0])
    assert stream.next().id == str(seen)
    stream.close()
    missed = [events.change(ids["studio"], pk) for pk in ids["edits"][1:]]
    events.change(ids["other"], ids["theirs"])  # not theirs to hear of

    again = events.open("olga", "?since=1", **{"Last-Event-ID": str(seen)})
    event = again.next()
    assert event.id == str(missed[-1])
    assert event.data == {"edits": ids["edits"][1:], "batches": []}
    assert again.nothing_within(0.5)


def test_a_removed_member_stops_receiving_at_once(events):
    ids = events.ids
    ed = events.open("ed")
    first_event(ed)
    events.stack.manage(
        "shell",
        "-c",
        "from editor.teams.models import Membership; "
        "Membership.objects.filter(user__username='ed').delete()",
    )
    assert ed.next().name == "revoked"
    assert ed.ended.wait(WAIT)
    events.change(ids["studio"], ids["edits"][0])
    assert ed.nothing_within(0.5)
    # Opening again: no longer a member of the team's edits.
    again = events.session("ed").get(
        f"{events.stack.url}/events/?edit={ids['edits'][0]}", timeout=10
    )
    assert again.status_code == 404


def test_a_flood_of_streams_from_one_person_is_bounded(events):
    """RETOUCH_STREAMS_PER_PERSON=3 here: 12 opened at once leave at most 3 open; the rest
    get 429, or end at once if they raced past the first check."""
    session = events.session("olga")
    url = events.stack.url + "/events/"
    with_threads: list[EventStream] = []
    threads = [
        threading.Thread(target=lambda: with_threads.append(EventStream(session, url)))
        for _ in range(12)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    events.streams.extend(with_threads)
    statuses = sorted(stream.status for stream in with_threads)
    assert set(statuses) <= {200, 429}, statuses
    time.sleep(0.5)
    still_open = [s for s in with_threads if s.status == 200 and not s.ended.is_set()]
    assert len(still_open) <= 3
    refused = session.get(url, timeout=10)
    assert refused.status_code == 429 and refused.headers["Retry-After"]


def test_streams_end_cleanly_when_the_server_stops(tmp_path):
    stack = ProcessStack(tmp_path, "http://127.0.0.1:9/openai")
    try:
        stack.start_web(workers=1)
        stack.create_user("olga")
        stream = EventStream(stack.sign_in("olga"), stack.url + "/events/")
        first_event(stream)
        t0 = time.monotonic()
        stack.web.terminate()
        assert stream.ended.wait(10), "the stream was left open"
        stack.web.wait(timeout=15)
        assert time.monotonic() - t0 < 5
        assert "timeout graceful shutdown exceeded" not in stack.log()
    finally:
        stack.stop()
