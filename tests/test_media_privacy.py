"""Media is never public: every file goes through a permission check, and another
team's files do not exist as far as an outsider can tell."""

import pytest
from django.urls import reverse

from editor.edits.models import Status
from editor.teams.models import Role

from .factories import make_edit, make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def edit():
    owner = make_user("owner")
    team = make_team("Studio", {owner: Role.OWNER})
    edit = make_edit(team, owner, status=Status.SUCCEEDED, results=2)
    edit.mask.save("mask.png", edit.sources.get().file.open("rb"), save=True)
    return edit


def file_urls(edit) -> list[str]:
    pk = edit.pk
    return [
        reverse("edit_detail", args=[pk]),
        reverse("edit_source", args=[pk, 0]),
        reverse("edit_mask", args=[pk]),
        reverse("edit_result", args=[pk, 0]),
        reverse("edit_result_download", args=[pk, 1]),
        reverse("edit_result_thumbnail", args=[pk, 0]),
        reverse("edit_download_all", args=[pk]),
    ]


def test_anonymous_visitors_are_sent_to_sign_in_for_every_file(client, edit):
    for url in file_urls(edit):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login")), url


def test_another_teams_member_gets_404_for_every_file(client, edit):
    client.force_login(make_user("outsider"))
    for url in file_urls(edit):
        assert client.get(url).status_code == 404, url


def test_a_viewer_of_the_team_can_see_and_download_everything(client, edit):
    viewer = make_user("viewer")
    edit.team.memberships.create(user=viewer, role=Role.VIEWER)
    client.force_login(viewer)
    for url in file_urls(edit):
        assert client.get(url).status_code == 200, url


def test_other_teams_cannot_retry(client, edit):
    edit.status = Status.FAILED
    edit.save()
    client.force_login(make_user("outsider"))
    assert client.post(reverse("edit_retry", args=[edit.pk])).status_code == 404
    edit.refresh_from_db()
    assert edit.status == Status.FAILED


def test_viewers_cannot_retry(client, edit):
    edit.status = Status.FAILED
    edit.save()
    viewer = make_user("viewer")
    edit.team.memberships.create(user=viewer, role=Role.VIEWER)
    client.force_login(viewer)
    assert client.post(reverse("edit_retry", args=[edit.pk])).status_code == 403
    edit.refresh_from_db()
    assert edit.status == Status.FAILED


def test_there_is_no_public_media_url(client, edit):
    name = edit.results.first().file.name
    for url in (f"/media/{name}", f"/{name}", f"/static/{name}"):
        assert client.get(url).status_code == 404
