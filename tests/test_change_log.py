"""The change log the event streams read: every change of an edit a page shows writes
one Change row in the same transaction, with ids in commit order."""

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from editor.edits.models import Batch, Change, Edit, PreviewImage, Status
from editor.edits.models import changes as change_log
from editor.edits.tasks import run_edit
from editor.teams.models import Membership

from .factories import image_bytes, make_edit, make_studio

pytestmark = pytest.mark.django_db


def logged(edit: Edit) -> int:
    return Change.objects.filter(edit_id=edit.pk).count()


def test_a_finished_edit_is_logged_with_its_team_and_batch(upstream, studio):
    batch = Batch.objects.create(team=studio.team, created_by=studio.editor, prompt="Hats")
    edit = make_edit(studio.team, studio.editor)
    Edit.objects.filter(pk=edit.pk).update(batch=batch)
    before = Change.objects.latest_id()

    assert run_edit.call(edit.pk) == "succeeded"

    rows = list(Change.objects.after(before))
    assert [r.edit_id for r in rows] == [edit.pk, edit.pk]  # claimed (running), succeeded
    assert {(r.team_id, r.batch_id) for r in rows} == {(studio.team.pk, batch.pk)}
    assert [r.pk for r in rows] == sorted(r.pk for r in rows)


def test_changes_that_lose_their_race_log_nothing(studio):
    edit = make_edit(studio.team, studio.editor, status=Status.SUCCEEDED)
    assert not edit.cancel(studio.editor)
    assert not edit.mark_failed("x", "no longer pending")
    assert logged(edit) == 0


def test_cancel_retry_and_the_deadline_are_logged(studio):
    edit = make_edit(studio.team, studio.editor)
    assert edit.cancel(studio.editor)
    assert edit.requeue()
    Edit.objects.filter(pk=edit.pk).update(
        status=Status.RUNNING, started_at=timezone.now() - timedelta(hours=2)
    )
    assert Edit.objects.fail_past_deadline(timezone.now(), 60) == 1
    assert logged(edit) == 3


def test_a_preview_is_logged(studio):
    edit = make_edit(studio.team, studio.editor)
    assert edit.claim("sync", 60)
    assert PreviewImage.store(edit, 0, image_bytes((64, 64)))
    assert logged(edit) == 2


def test_a_member_leaving_logs_a_change_of_the_team(db):
    team, _, editor, _ = make_studio()
    before = Change.objects.latest_id()
    Membership.objects.get(team=team, user=editor).delete()
    (row,) = Change.objects.after(before)
    assert (row.team_id, row.edit_id) == (team.pk, None)


def test_old_rows_are_pruned_as_new_ones_come_in(studio, monkeypatch):
    monkeypatch.setattr(change_log, "PRUNE_EVERY", 1)
    Change.objects.record_team(studio.team.pk)
    Change.objects.update(at=timezone.now() - change_log.KEEP - timedelta(minutes=1))
    Change.objects.record_team(studio.team.pk)
    assert Change.objects.count() == 1


def test_a_pages_stream_starts_before_the_changes_of_the_last_seconds(studio):
    """What the page shows was read before its stream's `since` is: the stream starts a
    few seconds back, so a change between the two is heard (twice at worst)."""
    Change.objects.record_team(studio.team.pk)
    settled = Change.objects.latest_id()
    Change.objects.filter(pk=settled).update(at=timezone.now() - timedelta(minutes=1))
    Change.objects.record_team(studio.team.pk)  # just now
    edit = make_edit(studio.team, studio.editor)
    page = Template("{% load events_tags %}{% events_url %} {% events_url edit=edit %}")
    rendered = page.render(Context({"edit": edit}))
    assert rendered == f"/events/?since={settled} /events/?since={settled}&amp;edit={edit.pk}"
