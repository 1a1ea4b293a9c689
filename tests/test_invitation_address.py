"""Invitations sent to an e-mail address are for the account with that address only;
link-only invitations stay usable by whoever holds the link. Whoever holds an addressed
link sees the address masked (``n…@example.com``), never in full."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from editor.teams.models import Invitation, InvitationUnusable, Membership

from .factories import PASSWORD, Role, make_invitation, make_team, make_user

pytestmark = pytest.mark.django_db

ADDRESS = "new@example.com"
MASKED = "n…@example.com"
WRONG_ACCOUNT = f"This invitation was sent to {MASKED}. Sign in with that address"
NEW_PASSWORD = "A-long-pass-9!"


@pytest.fixture
def team(owner):
    return make_team("Studio", {owner: Role.OWNER})


@pytest.fixture
def invitation(team, owner) -> Invitation:
    return make_invitation(team, owner, email=ADDRESS)


def join_url(invitation: Invitation) -> str:
    return reverse("invitation_join", args=[invitation.token])


def sign_up(client, invitation, *, email: str | None, username: str = "newbie"):
    data = {
        "intent": "signup",
        "signup-username": username,
        "signup-password1": NEW_PASSWORD,
        "signup-password2": NEW_PASSWORD,
    }
    if email is not None:
        data["signup-email"] = email
    return client.post(join_url(invitation), data)


def sign_in(client, invitation, username: str):
    data = {"intent": "signin", "signin-username": username, "signin-password": PASSWORD}
    return client.post(join_url(invitation), data)


def make_user_with_address(username: str, email: str):
    user = make_user(username)
    user.email = email
    user.save(update_fields=["email"])
    return user


def joined(team, username: str) -> bool:
    return Membership.objects.filter(team=team, user__username=username).exists()


def test_the_invitation_form_says_who_can_use_a_link_with_and_without_an_address(
    client, owner, team
):
    client.force_login(owner)
    html = client.get(reverse("team_invitations", args=[team.pk])).content.decode()
    assert (
        "With an address, only the account with that address can use the link; "
        "without one, anyone holding the link can."
    ) in html


def test_the_link_page_shows_the_address_masked_and_asks_for_it_on_sign_up(client, invitation):
    html = client.get(join_url(invitation)).content.decode()
    assert MASKED in html
    assert ADDRESS not in html
    assert 'name="signup-email"' in html


def test_signing_up_creates_the_account_with_the_invited_address(client, team, invitation):
    response = sign_up(client, invitation, email="New@Example.COM")
    assert response.status_code == 302
    user = get_user_model().objects.get(username="newbie")
    assert user.email.lower() == ADDRESS
    assert joined(team, "newbie")
    invitation.refresh_from_db()
    assert invitation.used_by == user


def test_signing_up_with_another_address_is_refused_next_to_the_field(client, team, invitation):
    response = sign_up(client, invitation, email="someone.else@example.com")
    assert response.status_code == 400
    html = response.content.decode()
    assert f"This invitation was sent to {MASKED}" in html
    assert ADDRESS not in html
    assert not get_user_model().objects.filter(username="newbie").exists()
    invitation.refresh_from_db()
    assert invitation.used_at is None


def test_signing_up_without_the_address_is_refused(client, team, invitation):
    assert sign_up(client, invitation, email=None).status_code == 400
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_signing_up_when_the_address_already_has_an_account_says_sign_in(client, team, invitation):
    make_user("new")  # new@example.com
    response = sign_up(client, invitation, email=ADDRESS)
    assert response.status_code == 400
    assert "already has an account" in response.content.decode()
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_signing_in_with_the_invited_address_joins_whatever_its_case(client, team, invitation):
    make_user_with_address("nina", "NEW@example.com")
    assert sign_in(client, invitation, "nina").status_code == 302
    assert joined(team, "nina")


def test_signing_in_with_another_address_is_refused_and_signs_nobody_in(client, team, invitation):
    make_user("erin")  # erin@example.com
    response = sign_in(client, invitation, "erin")
    assert response.status_code == 400
    html = response.content.decode()
    assert WRONG_ACCOUNT in html
    assert ADDRESS not in html
    assert "_auth_user_id" not in client.session
    assert not joined(team, "erin")


def test_a_signed_in_person_with_another_address_gets_a_plain_message(client, team, invitation):
    client.force_login(make_user("pat"))
    page = client.get(join_url(invitation))
    assert page.status_code == 403
    html = page.content.decode()
    assert WRONG_ACCOUNT in html
    assert ADDRESS not in html
    assert "Join Studio</button>" not in html
    assert client.post(join_url(invitation)).status_code == 403
    assert not joined(team, "pat")
    invitation.refresh_from_db()
    assert invitation.used_at is None


def test_a_signed_in_person_with_the_invited_address_joins(client, team, invitation):
    client.force_login(make_user_with_address("nina", ADDRESS))
    assert "Join Studio" in client.get(join_url(invitation)).content.decode()
    assert client.post(join_url(invitation)).status_code == 302
    assert joined(team, "nina")


def test_a_member_with_another_address_still_just_switches_to_the_team(
    client, owner, team, invitation
):
    client.force_login(owner)
    assert "You are already in Studio." in client.get(join_url(invitation)).content.decode()
    assert client.post(join_url(invitation)).status_code == 302
    invitation.refresh_from_db()
    assert invitation.used_at is None


def test_the_invitation_itself_refuses_an_account_with_another_address(team, invitation):
    with pytest.raises(InvitationUnusable, match=re.escape(WRONG_ACCOUNT)):
        invitation.accept(make_user("erin"))
    assert not joined(team, "erin")
    invitation.refresh_from_db()
    assert invitation.used_at is None


def test_a_link_only_invitation_still_lets_anyone_holding_it_join(client, owner, team):
    link_only = make_invitation(team, owner)
    assert 'name="signup-email"' not in client.get(join_url(link_only)).content.decode()
    make_user("erin")
    assert sign_in(client, link_only, "erin").status_code == 302
    assert joined(team, "erin")


def test_the_e_mail_tells_the_invitee_which_account_to_use(client, owner, team, mailoutbox):
    client.force_login(owner)
    client.post(
        reverse("team_invitations", args=[team.pk]),
        {"role": Role.EDITOR, "days": 7, "email": ADDRESS},
    )
    assert f"only for the account with the address {ADDRESS}" in mailoutbox[0].body


@pytest.mark.parametrize(
    ("address", "masked"),
    [("new@example.com", "n…@example.com"), ("x@example.org", "x…@example.org")],
)
def test_the_address_is_masked_to_its_first_letter_and_its_domain(owner, team, address, masked):
    assert make_invitation(team, owner, email=address).masked_email == masked
