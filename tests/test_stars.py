"""Stars: a personal bookmark on an edit, and a "starred by me" gallery filter."""

import pytest
from django.urls import reverse

from editor.edits.models import Star, Status

from .factories import make_edit, make_user, use_team

pytestmark = pytest.mark.django_db


def test_starring_toggles_and_answers_htmx_with_the_button(client, studio):
    team, owner, _, viewer = studio
    edit = make_edit(team, owner, status=Status.SUCCEEDED, results=1)
    client.force_login(viewer)  # viewers may bookmark too
    url = reverse("edit_star", args=[edit.pk])
    first = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-pressed="true"' in first and "Starred" in first
    assert Star.objects.filter(edit=edit, user=viewer).exists()
    second = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-pressed="false"' in second
    assert not Star.objects.exists()


def test_stars_are_personal(client, studio):
    team, owner, _, viewer = studio
    use_team(owner, team)
    use_team(viewer, team)
    edit = make_edit(team, owner, status=Status.SUCCEEDED, results=1)
    Star.objects.create(edit=edit, user=owner)
    client.force_login(viewer)
    html = client.get("/").content.decode()
    assert 'aria-pressed="false"' in html and 'aria-pressed="true"' not in html


def test_starred_filter_shows_only_my_starred_edits(client, studio):
    team, owner, _, viewer = studio
    use_team(owner, team)
    mine = make_edit(team, owner, prompt="Starred sunset", status=Status.SUCCEEDED)
    make_edit(team, owner, prompt="Plain forest", status=Status.SUCCEEDED)
    theirs = make_edit(team, owner, prompt="Viewer's favourite", status=Status.SUCCEEDED)
    Star.objects.create(edit=mine, user=owner)
    Star.objects.create(edit=theirs, user=viewer)
    client.force_login(owner)
    html = client.get("/", {"starred": "on"}).content.decode()
    assert "Starred sunset" in html
    assert "Plain forest" not in html and "Viewer&#x27;s favourite" not in html
    assert 'name="starred"' in html and "checked" in html


def test_without_javascript_starring_returns_to_the_page(client, studio):
    team, owner, *_ = studio
    edit = make_edit(team, owner, status=Status.SUCCEEDED)
    client.force_login(owner)
    response = client.post(reverse("edit_star", args=[edit.pk]), {"next": "/?q=sky"})
    assert response.status_code == 302 and response.url == "/?q=sky"


def test_another_team_cannot_star(client, studio):
    team, owner, *_ = studio
    edit = make_edit(team, owner, status=Status.SUCCEEDED)
    client.force_login(make_user("stranger"))
    assert client.post(reverse("edit_star", args=[edit.pk])).status_code == 404
    assert not Star.objects.exists()
