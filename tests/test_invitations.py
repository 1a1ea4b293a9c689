"""Invitations: an owner makes a link (role, expiry, single use), may cancel it, and the
person holding it signs up or signs in and joins the team in one step."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from editor.teams.models import Activity, Invitation, Membership, Profile

from .factories import PASSWORD, Role, make_edit, make_invitation, make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(owner):
    return make_team("Studio", {owner: Role.OWNER})


def join_url(invitation: Invitation) -> str:
    return reverse("invitation_join", args=[invitation.token])


def invite(client, owner, team, *, role=Role.EDITOR, days=7, email=""):
    """The owner fills in the Invitations page's form; the page it leads back to."""
    client.force_login(owner)
    data = {"role": role, "days": days, "email": email}
    return client.post(reverse("team_invitations", args=[team.pk]), data, follow=True)


NEW_PASSWORD = "A-long-pass-9!"


def sign_up(client, invitation, username="newbie"):
    password = NEW_PASSWORD
    return client.post(
        join_url(invitation),
        {
            "intent": "signup",
            "signup-username": username,
            "signup-password1": password,
            "signup-password2": password,
        },
    )


def test_owner_creates_a_link_that_is_shown_with_a_copy_button(client, owner, team, settings):
    settings.PUBLIC_URL = "https://retouch.example.com"
    response = invite(client, owner, team, role=Role.VIEWER, days=1)
    invitation = Invitation.objects.get(team=team)
    assert invitation.role == Role.VIEWER
    assert invitation.created_by == owner
    assert timedelta(hours=23) < invitation.expires_at - timezone.now() <= timedelta(days=1)
    html = response.content.decode()
    link = f"https://retouch.example.com/join/{invitation.token}/"
    assert link in html
    assert f'data-copy="#invitation-link-{invitation.pk}"' in html
    assert "Copy its link below" in html


def test_tokens_are_long_random_and_unique(owner, team):
    tokens = {make_invitation(team, owner).token for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(token) >= 40 for token in tokens)


def test_invitation_with_an_address_is_e_mailed(client, owner, team, mailoutbox):
    response = invite(client, owner, team, email="new@example.com")
    invitation = Invitation.objects.get(team=team)
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["new@example.com"]
    assert "Studio" in message.subject and "olga" in message.subject
    assert invitation.link in message.body
    assert "e-mailed to new@example.com" in response.content.decode()


def test_a_failed_e_mail_still_leaves_a_usable_link(client, owner, team, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.test_invitations.BrokenBackend"}}
    response = invite(client, owner, team, email="new@example.com")
    invitation = Invitation.objects.get(team=team)
    html = response.content.decode()
    assert "could not be sent" in html
    assert invitation.link in html


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("no mail server")


def test_opening_a_link_does_not_use_it(client, owner, team):
    invitation = make_invitation(team, owner)
    page = client.get(join_url(invitation))
    assert page.status_code == 200
    html = page.content.decode()
    assert "olga invited you to join <strong>Studio</strong> as <strong>editor</strong>" in html
    assert "Create account and join" in html and "Sign in and join" in html
    invitation.refresh_from_db()
    assert invitation.used_at is None


def test_signing_up_through_a_link_joins_the_team_with_its_role(client, owner, team):
    invitation = make_invitation(team, owner, role=Role.VIEWER)
    make_edit(team, owner, prompt="Team work to see")
    response = sign_up(client, invitation)
    assert response.status_code == 302
    user = get_user_model().objects.get(username="newbie")
    assert Membership.objects.get(team=team, user=user).role == Role.VIEWER
    assert Profile.objects.get(user=user).current_team == team
    invitation.refresh_from_db()
    assert invitation.used_by == user and invitation.used_at is not None
    home = client.get("/").content.decode()
    assert "Team work to see" in home
    assert 'id="edit-form"' not in home  # a viewer: no edit form


def test_signing_in_through_a_link_joins_the_team(client, owner, team):
    invitation = make_invitation(team, owner)
    existing = make_user("erin")
    response = client.post(
        join_url(invitation),
        {"intent": "signin", "signin-username": "erin", "signin-password": PASSWORD},
    )
    assert response.status_code == 302
    assert Membership.objects.get(team=team, user=existing).role == Role.EDITOR
    assert client.get("/").context["membership"].team == team


def test_wrong_password_on_the_link_page_shows_the_error_and_joins_nothing(client, owner, team):
    invitation = make_invitation(team, owner)
    make_user("erin")
    response = client.post(
        join_url(invitation),
        {"intent": "signin", "signin-username": "erin", "signin-password": "nope"},
    )
    assert response.status_code == 400
    assert "correct username and password" in response.content.decode()
    assert not Membership.objects.filter(team=team, user__username="erin").exists()


def test_a_signed_in_person_joins_with_one_button(client, owner, team):
    invitation = make_invitation(team, owner)
    person = make_user("pat")
    client.force_login(person)
    page = client.get(join_url(invitation)).content.decode()
    assert "Join Studio" in page and "Create account" not in page
    client.post(join_url(invitation))
    assert Membership.objects.filter(team=team, user=person).exists()


def test_a_link_works_only_once(client, owner, team):
    invitation = make_invitation(team, owner)
    first, second = make_user("first"), make_user("second")
    client.force_login(first)
    client.post(join_url(invitation))
    client.force_login(second)
    page = client.get(join_url(invitation))
    assert page.status_code == 410
    assert "already been used" in page.content.decode()
    client.post(join_url(invitation))
    assert not Membership.objects.filter(team=team, user=second).exists()


def test_an_expired_link_neither_joins_nor_creates_an_account(client, owner, team):
    invitation = make_invitation(team, owner)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    page = client.get(join_url(invitation))
    assert page.status_code == 410
    assert "This invitation has expired." in page.content.decode()
    assert "Create account and join" not in page.content.decode()
    assert sign_up(client, invitation).status_code == 410
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_a_cancelled_link_stops_working(client, owner, team):
    invitation = make_invitation(team, owner)
    client.force_login(owner)
    response = client.post(reverse("invitation_revoke", args=[invitation.pk]), follow=True)
    assert "its link no longer works" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    client.logout()
    page = client.get(join_url(invitation))
    assert page.status_code == 410
    assert "This invitation was cancelled by the team" in page.content.decode()
    sign_up(client, invitation)
    assert not Membership.objects.filter(team=team, user__username="newbie").exists()


def test_pending_list_shows_only_links_that_still_work(client, owner, team):
    pending = make_invitation(team, owner, email="waiting@example.com")
    used = make_invitation(team, owner, email="used@example.com")
    used.accept(make_user("used"))  # used@example.com, the address it was sent to
    cancelled = make_invitation(team, owner, email="cancelled@example.com")
    cancelled.revoke(by=owner)
    expired = make_invitation(team, owner, email="expired@example.com")
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    client.force_login(owner)
    html = client.get(reverse("team_invitations", args=[team.pk])).content.decode()
    assert pending.token in html
    for gone in (used, cancelled, expired):
        assert gone.token not in html


def test_cancelling_a_used_link_changes_nothing(client, owner, team):
    invitation = make_invitation(team, owner)
    invitation.accept(make_user("someone"))
    client.force_login(owner)
    response = client.post(reverse("invitation_revoke", args=[invitation.pk]), follow=True)
    assert "already used, cancelled or expired" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_an_invitation_joins_only_its_own_team(client, owner, team):
    other_owner = make_user("oscar")
    other = make_team("Other", {other_owner: Role.OWNER})
    invitation = make_invitation(team, owner)
    person = make_user("pat")
    client.force_login(person)
    client.post(join_url(invitation))
    assert Membership.objects.filter(team=team, user=person).exists()
    assert not Membership.objects.filter(team=other, user=person).exists()
    assert client.get(reverse("team_members", args=[other.pk])).status_code == 404


def test_owners_of_another_team_cannot_see_or_cancel_its_invitations(client, owner, team):
    invitation = make_invitation(team, owner)
    stranger = make_user("oscar")
    make_team("Other", {stranger: Role.OWNER})
    client.force_login(stranger)
    assert client.get(reverse("team_invitations", args=[team.pk])).status_code == 404
    assert client.post(reverse("invitation_revoke", args=[invitation.pk])).status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_a_member_opening_a_link_just_switches_and_leaves_it_unused(client, owner, team):
    invitation = make_invitation(team, owner)
    client.force_login(owner)
    page = client.get(join_url(invitation))
    assert "You are already in Studio." in page.content.decode()
    client.post(join_url(invitation))
    invitation.refresh_from_db()
    assert invitation.used_at is None


def test_two_people_using_one_link_only_one_gets_in(owner, team):
    invitation = make_invitation(team, owner)
    stale_copy = Invitation.objects.get(pk=invitation.pk)
    invitation.accept(make_user("quick"))
    with pytest.raises(Exception, match="already been used"):
        stale_copy.accept(make_user("slow"))
    assert team.memberships.count() == 2


def test_joining_is_recorded_in_the_activity_log(client, owner, team):
    invitation = make_invitation(team, owner, role=Role.VIEWER)
    sign_up(client, invitation, username="newbie")
    verbs = list(
        Activity.objects.for_team(team).order_by("pk").values_list("verb", "actor_name", "summary")
    )
    assert verbs == [
        (Activity.Verb.INVITATION_CREATED, "olga", "Viewer"),
        (Activity.Verb.INVITATION_USED, "newbie", "Viewer, from olga"),
        (Activity.Verb.MEMBER_JOINED, "newbie", "as Viewer"),
    ]
