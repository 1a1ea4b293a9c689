"""The activity log: owners see who did what and when, newest first, a page at a time."""

import pytest
from django.urls import reverse

from editor.edits.models import Edit
from editor.teams.models import Activity
from editor.teams.views import ACTIVITY_PAGE_SIZE

from .factories import Role, make_team, make_user, post_edit

pytestmark = pytest.mark.django_db


def test_starting_an_edit_is_logged(client, studio):
    team, _, editor, _ = studio
    client.force_login(editor)
    post_edit(client, prompt="Put it in a basket", htmx=False)
    assert Edit.objects.filter(team=team).count() == 1
    entry = Activity.objects.for_team(team).get()
    assert entry.verb == Activity.Verb.EDIT_CREATED
    assert (entry.actor, entry.actor_name, entry.summary) == (editor, "ed", "Put it in a basket")


def test_owners_see_who_did_what_newest_first(client, studio):
    team, owner, editor, _ = studio
    Activity.objects.record(team, editor, Activity.Verb.EDIT_CREATED, "First thing")
    Activity.objects.record(team, owner, Activity.Verb.ROLE_CHANGED, "ed: Editor → Viewer")
    client.force_login(owner)
    html = client.get(reverse("team_activity", args=[team.pk])).content.decode()
    first = html.index("<strong>olga</strong> changed a role: ed: Editor → Viewer")
    second = html.index("<strong>ed</strong> started an edit: First thing")
    assert first < second
    assert "<time datetime=" in html


def test_the_log_shows_only_this_teams_entries(client, studio):
    team, owner, *_ = studio
    stranger = make_user("zed")
    other = make_team("Other", {stranger: Role.OWNER})
    Activity.objects.record(other, stranger, Activity.Verb.EDIT_CREATED, "Not for Studio")
    client.force_login(owner)
    html = client.get(reverse("team_activity", args=[team.pk])).content.decode()
    assert "Not for Studio" not in html
    assert "Nothing has happened in this team yet." in html


def test_the_log_is_paginated(client, studio):
    team, owner, editor, _ = studio
    for i in range(ACTIVITY_PAGE_SIZE + 5):
        Activity.objects.record(team, editor, Activity.Verb.EDIT_CREATED, f"Edit #{i}.")
    client.force_login(owner)
    url = reverse("team_activity", args=[team.pk])
    first = client.get(url).content.decode()
    assert first.count('class="activity ') == ACTIVITY_PAGE_SIZE
    assert "Page 1 of 2" in first and 'href="?page=2"' in first
    second = client.get(url, {"page": 2}).content.decode()
    assert second.count('class="activity ') == 5
    assert "Edit #0." in second and "Edit #54." not in second


def test_the_log_keeps_the_name_of_someone_whose_account_is_gone(client, studio):
    team, owner, editor, _ = studio
    Activity.objects.record(team, editor, Activity.Verb.EDIT_CREATED, "Before they left")
    editor.delete()
    client.force_login(owner)
    html = client.get(reverse("team_activity", args=[team.pk])).content.decode()
    assert "<strong>ed</strong> started an edit: Before they left" in html
