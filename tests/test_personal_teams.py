"""RETOUCH_PERSONAL_TEAMS and RETOUCH_PERSONAL_BUDGET_USD: what staff let personal
teams do, and the budget they start with."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from editor.edits.models import Edit
from editor.teams import personal
from editor.teams.models import Membership, Team

from .factories import make_invitation, make_studio, make_user, personal_team, post_edit, use_team

pytestmark = pytest.mark.django_db

REFUSAL = "Personal teams can look but not start edits here."


def test_edit_is_the_default_and_personal_teams_start_edits(client):
    alice = make_user("alice")
    client.force_login(alice)
    assert "edit-form" in client.get(reverse("home")).content.decode()
    assert post_edit(client, htmx=False).status_code == 302
    assert Edit.objects.get().team == personal_team(alice)


def test_view_keeps_the_gallery_but_refuses_edits_in_plain_words(client, settings):
    settings.RETOUCH_PERSONAL_TEAMS = "view"
    alice = make_user("alice")
    client.force_login(alice)
    home = client.get(reverse("home")).content.decode()
    assert 'id="edit-form"' not in home
    assert REFUSAL in home
    response = post_edit(client, htmx=False)
    assert response.status_code == 403
    assert REFUSAL in response.content.decode()
    assert not Edit.objects.exists()


def test_view_leaves_shared_teams_as_they_were(client, settings):
    settings.RETOUCH_PERSONAL_TEAMS = "view"
    team, _, editor, _ = make_studio()
    client.force_login(editor)
    assert post_edit(client, htmx=False).status_code == 302
    assert Edit.objects.get().team == team


def test_view_makes_the_owner_of_a_personal_team_act_as_a_viewer(settings):
    settings.RETOUCH_PERSONAL_TEAMS = "view"
    membership = Membership.objects.get(team=personal_team(make_user("alice")))
    assert membership.role == "owner"
    assert membership.effective_role == "viewer"
    assert not membership.can_create_edits


def test_off_creates_no_personal_team_for_new_people(settings):
    settings.RETOUCH_PERSONAL_TEAMS = "off"
    alice = make_user("alice")
    assert not Team.objects.filter(memberships__user=alice).exists()


def test_off_hides_existing_personal_teams_from_the_switcher(client, settings):
    team, owner, *_ = make_studio()
    use_team(owner, personal_team(owner))
    settings.RETOUCH_PERSONAL_TEAMS = "off"
    client.force_login(owner)
    home = client.get(reverse("home")).content.decode()
    assert "olga's team" not in home
    assert "Studio" in home
    assert post_edit(client, htmx=False).status_code == 302  # in Studio, not the personal one
    assert Edit.objects.get().team == team


def test_off_refuses_edits_in_a_personal_team_reached_anyway(client, settings):
    alice = make_user("alice")
    settings.RETOUCH_PERSONAL_TEAMS = "off"
    client.force_login(alice)  # only her old personal team: it stays hers, to look at
    assert post_edit(client, htmx=False).status_code == 403
    assert not Edit.objects.exists()


def test_off_tells_someone_in_no_team_how_to_join_one(client, settings):
    settings.RETOUCH_PERSONAL_TEAMS = "off"
    make_user("admin")
    alice = make_user("alice")
    client.force_login(alice)
    response = client.get(reverse("home"))
    assert response.status_code == 403
    assert "ask someone in your team for an invitation link" in response.content.decode()
    assert client.get(reverse("team_create")).status_code == 200  # the header copes


def test_off_lets_an_invited_person_join_without_a_personal_team(client, settings):
    settings.RETOUCH_PERSONAL_TEAMS = "off"
    team, owner, *_ = make_studio()
    invitation = make_invitation(team, owner)
    client.post(
        reverse("invitation_join", args=[invitation.token]),
        {
            "intent": "signup",
            "signup-username": "newbie",
            "signup-password1": "A-long-pass-9!",
            "signup-password2": "A-long-pass-9!",
        },
    )
    teams = Team.objects.filter(memberships__user__username="newbie")
    assert list(teams) == [team]


def test_personal_budget_is_given_to_new_personal_teams_only(settings):
    settings.RETOUCH_PERSONAL_BUDGET_USD = "25"
    alice = make_user("alice")
    assert personal_team(alice).monthly_budget_usd == Decimal("25")
    assert Team.objects.create_for(alice, "Shared").monthly_budget_usd is None


def test_no_personal_budget_by_default():
    assert personal_team(make_user("alice")).monthly_budget_usd is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("RETOUCH_PERSONAL_TEAMS", "maybe"), ("RETOUCH_PERSONAL_BUDGET_USD", "lots")],
)
def test_a_wrong_setting_is_named(settings, name, value):
    setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        personal.mode() if name == "RETOUCH_PERSONAL_TEAMS" else personal.default_budget()


def test_staff_edit_a_personal_teams_budget_in_the_admin(client):
    staff = make_user("staff", is_staff=True, is_superuser=True)
    team = personal_team(make_user("alice"))
    client.force_login(staff)
    url = reverse("admin:teams_team_change", args=[team.pk])
    page = client.get(url).content.decode()
    assert 'name="monthly_budget_usd"' in page
