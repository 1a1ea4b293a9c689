"""The feed in one process, on the test database (SQLite: read every 0.1 s; PostgreSQL:
LISTEN/NOTIFY): a commit in another thread wakes the listener of its team with the
edit's id, a listener of another team hears nothing, and a member removed is revoked.
The same over HTTP, through gunicorn: tests/test_event_stream.py."""

import asyncio

import pytest
from django.db import connections

from editor.edits.events import Feed, Listener
from editor.edits.models import Change
from editor.teams.models import Membership

from .factories import make_edit, make_studio, make_team, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def committed(work) -> None:
    """`work` in a thread of its own, as another process's commit (its connection closed)."""

    def run() -> None:
        try:
            work()
        finally:
            connections.close_all()

    await asyncio.to_thread(run)


async def heard(listener: Listener, feed: Feed, seconds: float = 5):
    await asyncio.wait_for(listener.ready.wait(), seconds)
    return feed.take(listener)


def test_a_commit_wakes_its_teams_listeners_and_only_them():
    team, _, editor, _ = make_studio()
    mallory = make_user("mallory")
    other = make_team("Other", {mallory: "owner"})
    edit = make_edit(team, editor)
    since = Change.objects.latest_id()
    feed = Feed()

    async def scenario():
        ours = Listener(user_id=editor.pk, team_id=team.pk, since=since)
        theirs = Listener(user_id=mallory.pk, team_id=other.pk, since=since)
        assert feed.register(ours, 5) and feed.register(theirs, 5)
        await asyncio.sleep(0.3)  # both admitted: nothing to catch up on
        await committed(lambda: Change.objects.record_edit(edit))
        update = await heard(ours, feed)
        assert not theirs.ready.is_set()
        for listener in (ours, theirs):
            feed.unregister(listener)
        return update

    try:
        update = asyncio.run(scenario())
    finally:
        feed.stop_all()
        assert feed.wait_stopped(5)
    assert (update.edits, update.everything) == ([edit.pk], False)
    assert update.id == Change.objects.latest_id()


def test_a_member_removed_is_revoked_with_the_next_change():
    team, _, editor, _ = make_studio()
    since = Change.objects.latest_id()
    feed = Feed()

    async def scenario():
        listener = Listener(user_id=editor.pk, team_id=team.pk, since=since)
        assert feed.register(listener, 5)
        await asyncio.sleep(0.3)
        membership = Membership.objects.filter(team=team, user=editor)
        await committed(membership.delete)
        await asyncio.wait_for(listener.ready.wait(), 5)
        feed.unregister(listener)
        return listener.ended, feed.take(listener)

    try:
        ended, update = asyncio.run(scenario())
    finally:
        feed.stop_all()
        assert feed.wait_stopped(5)
    assert (ended, update) == ("revoked", None)


def test_a_person_past_the_limit_is_not_registered():
    feed = Feed()

    async def scenario():
        first, second = (Listener(user_id=1, team_id=1, since=0) for _ in range(2))
        results = feed.register(first, 1), feed.register(second, 1)
        feed.unregister(first)
        return results

    try:
        assert asyncio.run(scenario()) == (True, False)
    finally:
        feed.stop_all()
        assert feed.wait_stopped(5)
