"""Teams and their members: creating, renaming and switching teams; roles, removing
studio and leaving; a team never loses its last owner."""

import pytest
from django.urls import reverse

from editor.teams.models import Activity, Membership, Profile, Team

from .factories import Role, make_edit, make_user, personal_team

pytestmark = pytest.mark.django_db


def membership(team, user) -> Membership:
    return Membership.objects.get(team=team, user=user)


def change_role(client, team, user, role: str):
    """Choose another role for `user` on the members page; the page it leads back to."""
    url = reverse("member_role", args=[membership(team, user).pk])
    return client.post(url, {"role": role}, follow=True)


def test_creating_a_team_makes_you_its_owner_and_switches_to_it(client):
    user = make_user("ann")
    client.force_login(user)
    response = client.post(reverse("team_create"), {"name": "Launch campaign"}, follow=True)
    team = Team.objects.get(name="Launch campaign")
    assert not team.is_personal
    assert membership(team, user).role == Role.OWNER
    assert response.context["membership"].team == team
    assert "Team “Launch campaign” created." in response.content.decode()


def test_a_team_needs_a_name(client):
    client.force_login(make_user("ann"))
    response = client.post(reverse("team_create"), {"name": "  "})
    assert response.status_code == 200
    assert "Give the team a name." in response.content.decode()


def test_switching_team_is_remembered_for_the_person(client, studio):
    _, owner, *_ = studio
    client.force_login(owner)
    own = personal_team(owner)
    client.post(reverse("team_switch"), {"team": own.pk})
    assert Profile.objects.get(user=owner).current_team == own
    client.logout()
    client.force_login(owner)
    assert client.get("/").context["membership"].team == own


def test_switching_to_a_team_you_are_not_in_is_404(client, studio):
    team, *_ = studio
    stranger = make_user("zed")
    client.force_login(stranger)
    assert client.post(reverse("team_switch"), {"team": team.pk}).status_code == 404
    assert client.post(reverse("team_switch"), {"team": "nope"}).status_code == 404
    assert Profile.objects.get(user=stranger).current_team != team


def test_header_has_a_labelled_team_switcher_once_you_have_two_teams(client, studio):
    team, owner, *_ = studio
    client.force_login(owner)
    html = client.get("/").content.decode()
    assert '<label for="team-switch">Team</label>' in html
    assert f'<option value="{team.pk}" selected>Studio</option>' in html
    assert "olga&#x27;s team" in html
    loner = make_user("lone")
    client.force_login(loner)
    assert 'id="team-switch"' not in client.get("/").content.decode()


def test_header_links_owners_to_invitations_and_activity_only(client, studio):
    team, owner, editor, viewer = studio
    links = [reverse("team_invitations", args=[team.pk]), reverse("team_activity", args=[team.pk])]
    client.force_login(owner)
    html = client.get("/").content.decode()
    assert all(link in html for link in links)
    for member in (editor, viewer):
        client.force_login(member)
        html = client.get("/").content.decode()
        assert reverse("team_members", args=[team.pk]) in html
        assert not any(link in html for link in links)


def test_members_page_lists_everyone_and_gives_owners_the_controls(client, studio):
    team, owner, editor, viewer = studio
    url = reverse("team_members", args=[team.pk])
    client.force_login(owner)
    html = client.get(url).content.decode()
    for name in ("olga", "ed", "vic"):
        assert name in html
    assert reverse("member_role", args=[membership(team, editor).pk]) in html
    assert reverse("member_remove", args=[membership(team, viewer).pk]) in html
    assert 'for="role-' in html  # each role select has a label
    client.force_login(viewer)
    html = client.get(url).content.decode()
    assert "ed" in html and "Editor" in html
    assert reverse("member_role", args=[membership(team, editor).pk]) not in html
    assert "Leave Studio" in html


def test_owner_changes_a_role_and_it_is_logged(client, studio):
    team, owner, editor, _ = studio
    client.force_login(owner)
    response = change_role(client, team, editor, Role.VIEWER)
    assert membership(team, editor).role == Role.VIEWER
    assert "ed is now viewer." in response.content.decode()
    entry = Activity.objects.for_team(team).get(verb=Activity.Verb.ROLE_CHANGED)
    assert (entry.actor_name, entry.summary) == ("olga", "ed: Editor → Viewer")


def test_the_last_owner_cannot_be_demoted(client, studio):
    team, owner, *_ = studio
    client.force_login(owner)
    response = change_role(client, team, owner, Role.EDITOR)
    assert membership(team, owner).role == Role.OWNER
    assert "olga is the last owner of “Studio”. Make someone else an owner first." in (
        response.content.decode()
    )


def test_an_owner_can_step_down_once_there_is_another_owner(client, studio):
    team, owner, editor, _ = studio
    client.force_login(owner)
    change_role(client, team, editor, Role.OWNER)
    change_role(client, team, owner, Role.EDITOR)
    assert membership(team, owner).role == Role.EDITOR
    assert list(team.memberships.owners().values_list("user__username", flat=True)) == ["ed"]


def test_the_last_owner_cannot_leave(client, studio):
    team, owner, *_ = studio
    client.force_login(owner)
    response = client.post(reverse("team_leave", args=[team.pk]), follow=True)
    assert Membership.objects.filter(team=team, user=owner).exists()
    assert "You are the last owner of “Studio”." in response.content.decode()


def test_the_last_owner_cannot_remove_themselves_either(client, studio):
    team, owner, *_ = studio
    client.force_login(owner)
    client.post(reverse("member_remove", args=[membership(team, owner).pk]))
    assert Membership.objects.filter(team=team, user=owner).exists()


def test_a_member_leaves_and_loses_access_but_their_edits_stay(client, studio):
    team, _, editor, _ = studio
    edit = make_edit(team, editor, prompt="Mine, for the team")
    client.force_login(editor)
    response = client.post(reverse("team_leave", args=[team.pk]), follow=True)
    assert not Membership.objects.filter(team=team, user=editor).exists()
    assert "You left “Studio”." in response.content.decode()
    assert response.context["membership"].team == personal_team(editor)
    assert client.get(reverse("edit_detail", args=[edit.pk])).status_code == 404
    assert team.edits.filter(pk=edit.pk).exists()
    assert (
        Activity.objects.for_team(team)
        .filter(verb=Activity.Verb.MEMBER_LEFT, actor_name="ed")
        .exists()
    )


def test_nobody_leaves_their_personal_team(client):
    user = make_user("ann")
    own = personal_team(user)
    client.force_login(user)
    page = client.get(reverse("team_members", args=[own.pk])).content.decode()
    assert "This is your personal team" in page
    assert reverse("team_leave", args=[own.pk]) not in page
    response = client.post(reverse("team_leave", args=[own.pk]), follow=True)
    assert Membership.objects.filter(team=own, user=user).exists()
    assert "it stays with you" in response.content.decode()


def test_owner_removes_a_member_who_then_gets_404(client, studio):
    team, owner, _, viewer = studio
    edit = make_edit(team, owner)
    client.force_login(owner)
    response = client.post(
        reverse("member_remove", args=[membership(team, viewer).pk]), follow=True
    )
    assert "vic is no longer in the team." in response.content.decode()
    assert Profile.objects.get(user=viewer).current_team is None
    client.force_login(viewer)
    assert client.get(reverse("edit_detail", args=[edit.pk])).status_code == 404
    assert client.get("/").context["membership"].team == personal_team(viewer)
    entry = Activity.objects.for_team(team).get(verb=Activity.Verb.MEMBER_REMOVED)
    assert (entry.actor_name, entry.summary) == ("olga", "vic")


def test_owner_renames_the_team(client, studio):
    team, owner, *_ = studio
    client.force_login(owner)
    client.post(reverse("team_rename", args=[team.pk]), {"name": "Studio North"})
    team.refresh_from_db()
    assert team.name == "Studio North"
    response = client.post(reverse("team_rename", args=[team.pk]), {"name": ""})
    assert response.status_code == 400
    assert "Give the team a name." in response.content.decode()


def test_a_personal_teams_owner_cannot_be_demoted_by_a_co_owner(studio):
    _, owner, editor, _ = studio
    own = personal_team(owner)
    co_owner = Membership.objects.create(team=own, user=editor, role=Role.OWNER)
    with pytest.raises(Exception, match="personal team"):
        membership(own, owner).change_role(Role.VIEWER, by=editor)
    with pytest.raises(Exception, match="personal team"):
        membership(own, owner).remove(by=editor)
    assert membership(own, owner).role == Role.OWNER
    co_owner.leave()  # a guest in someone's personal team may leave it
    assert not Membership.objects.filter(team=own, user=editor).exists()
