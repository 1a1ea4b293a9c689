"""Self sign-up: off unless RETOUCH_OPEN_SIGNUP; people otherwise join by invitation."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from editor.teams.models import Membership

from .factories import make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "A-long-pass-9!"


@pytest.fixture(autouse=True)
def _someone_exists():
    make_user("admin")  # past first-run setup


def test_sign_up_is_off_by_default(client):
    assert client.get(reverse("signup")).status_code == 403
    response = client.post(
        reverse("signup"),
        {"username": "newbie", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="newbie").exists()
    login = client.get(reverse("login")).content.decode()
    assert reverse("signup") not in login
    assert "Ask someone in your team for an invitation link." in login


def test_open_sign_up_is_linked_from_sign_in_and_gives_a_personal_team(client, settings):
    settings.RETOUCH_OPEN_SIGNUP = True
    assert reverse("signup") in client.get(reverse("login")).content.decode()
    response = client.post(
        reverse("signup"),
        {"username": "newbie", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(username="newbie")
    assert not user.is_staff
    assert Membership.objects.get(user=user).team.is_personal
    assert client.get("/").context["user"] == user


def test_sign_up_explains_a_weak_password(client, settings):
    settings.RETOUCH_OPEN_SIGNUP = True
    response = client.post(
        reverse("signup"), {"username": "newbie", "password1": "123", "password2": "123"}
    )
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_sign_up_without_an_invitation_explains_how_to_get_one(client):
    response = client.get(reverse("signup"))
    assert response.status_code == 403
    body = response.content.decode()
    assert "Retouch is invite-only here: ask someone in your team for an invitation link." in body
    assert "Nothing here" not in body
    assert reverse("login") in body
