"""Teams from day one: every person has a personal team, roles decide what they may do."""

import pytest

from editor.teams.models import Membership, Role, Team
from editor.teams.permissions import Action, can_change_edit, role_allows

from .factories import make_edit, make_team, make_user, personal_team

pytestmark = pytest.mark.django_db


def test_every_new_user_gets_a_personal_team_they_own():
    user = make_user("carol")
    team = personal_team(user)
    assert team.name == "carol's team"
    assert Membership.objects.get(team=team, user=user).role == Role.OWNER
    assert Team.objects.for_user(user).count() == 1


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, {Action.VIEW}),
        (
            Role.EDITOR,
            {Action.VIEW, Action.CREATE_EDIT, Action.CHANGE_OWN_EDIT, Action.PICK_RESULT},
        ),
        (Role.OWNER, set(Action)),
    ],
)
def test_role_rules(role, allowed):
    assert {action for action in Action if role_allows(role, action)} == allowed


def test_editors_change_only_their_own_edits_and_owners_any():
    owner, editor, other = make_user("o"), make_user("e"), make_user("x")
    team = make_team(members={owner: Role.OWNER, editor: Role.EDITOR, other: Role.EDITOR})
    mine = make_edit(team, editor)
    theirs = make_edit(team, other)
    editor_membership = Membership.objects.get(team=team, user=editor)
    owner_membership = Membership.objects.get(team=team, user=owner)
    assert can_change_edit(editor_membership, mine)
    assert not can_change_edit(editor_membership, theirs)
    assert can_change_edit(owner_membership, theirs)


def test_membership_in_another_team_changes_nothing():
    owner = make_user("o")
    team = make_team(members={owner: Role.OWNER})
    elsewhere = make_edit(make_team("Other"), make_user("z"))
    assert not can_change_edit(Membership.objects.get(team=team, user=owner), elsewhere)


def test_current_team_falls_back_to_personal_team(client):
    user = make_user("dave")
    client.force_login(user)
    page = client.get("/")
    assert page.context["membership"].team == personal_team(user)
    assert b"dave&#x27;s team" in page.content
