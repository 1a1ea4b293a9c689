"""Sign-in throttling (django-axes): failed sign-ins are limited per account and per client
address, on the sign-in page and on an invitation's sign-in, with a plain message and a
cool-down; staff lift a lock in the admin."""

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from .factories import PASSWORD, Role, make_invitation, make_team, make_user

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def sign_in(client, username: str, password: str, address: str = "198.51.100.7"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_right_password_is_refused_after_too_many_wrong_ones(client):
    make_user("erin")
    for _ in range(LIMIT - 1):
        assert sign_in(client, "erin", "wrong").status_code == 200
    assert sign_in(client, "erin", "wrong").status_code == 429  # the last one allowed
    locked = sign_in(client, "erin", PASSWORD)
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many sign-in attempts" in text
    assert "15 minutes" in text  # the default cool-down, in plain words
    assert not is_signed_in(client)


def test_an_account_stays_locked_from_another_address(client):
    make_user("erin")
    for _ in range(LIMIT):
        sign_in(client, "erin", "wrong", address="198.51.100.7")
    assert sign_in(client, "erin", PASSWORD, address="203.0.113.9").status_code == 429
    assert not is_signed_in(client)


def test_one_address_guessing_many_accounts_is_locked(client):
    make_user("erin")
    for number in range(LIMIT):
        sign_in(client, f"nobody{number}", "wrong", address="198.51.100.7")
    assert sign_in(client, "erin", PASSWORD, address="198.51.100.7").status_code == 429
    assert sign_in(client, "erin", PASSWORD, address="203.0.113.9").status_code == 302


def test_a_forged_forwarded_for_header_does_not_dodge_the_address_limit(client):
    make_user("erin")
    for number in range(LIMIT):
        client.post(
            reverse("login"),
            {"username": f"nobody{number}", "password": "wrong"},
            REMOTE_ADDR="198.51.100.7",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{number}",
        )
    assert sign_in(client, "erin", PASSWORD, address="198.51.100.7").status_code == 429


def test_a_success_resets_the_count(client):
    make_user("erin")
    for _ in range(LIMIT - 1):
        sign_in(client, "erin", "wrong")
    assert sign_in(client, "erin", PASSWORD).status_code == 302
    client.logout()
    for _ in range(LIMIT - 1):
        sign_in(client, "erin", "wrong")
    assert sign_in(client, "erin", PASSWORD).status_code == 302


def test_the_invitation_pages_sign_in_is_throttled_too(client, owner):
    team = make_team("Studio", {owner: Role.OWNER})
    invitation = make_invitation(team, owner)
    make_user("erin")
    url = reverse("invitation_join", args=[invitation.token])
    for _ in range(LIMIT):
        client.post(url, {"intent": "signin", "signin-username": "erin", "signin-password": "x"})
    locked = client.post(
        url, {"intent": "signin", "signin-username": "erin", "signin-password": PASSWORD}
    )
    assert locked.status_code == 429
    assert not team.memberships.filter(user__username="erin").exists()


def test_staff_lift_a_lock_in_the_admin(client):
    make_user("erin")
    staff = make_user("sam", is_staff=True, is_superuser=True)
    for _ in range(LIMIT):
        sign_in(client, "erin", "wrong")
    attempt = AccessAttempt.objects.get(username="erin")
    client.force_login(staff)
    listing = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert "erin" in listing.content.decode()
    delete = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    client.logout()
    assert sign_in(client, "erin", PASSWORD).status_code == 302
    assert is_signed_in(client)
