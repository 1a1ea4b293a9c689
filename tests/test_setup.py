"""First run: a fresh database offers to create the first administrator, once."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from editor.teams.forms import FirstAdminForm
from editor.teams.models import Membership, Role, Team
from editor.teams.views import create_first_admin

from .factories import make_user

pytestmark = pytest.mark.django_db


def test_fresh_database_sends_home_and_sign_in_to_first_admin_form(client):
    assert client.get("/").url == reverse("setup")
    assert client.get(reverse("login")).url == reverse("setup")
    page = client.get(reverse("setup"))
    assert page.status_code == 200
    assert b"Create administrator" in page.content
    assert b"css/app.css" in page.content


def test_first_admin_is_created_signed_in_and_owns_a_personal_team(client):
    response = client.post(
        reverse("setup"),
        {
            "username": "ada",
            "email": "",
            "password1": "A-long-pass-9!",
            "password2": "A-long-pass-9!",
        },
    )
    assert response.status_code == 302
    admin = get_user_model().objects.get(username="ada")
    assert admin.is_superuser and admin.is_staff
    team = Team.objects.get(memberships__user=admin)
    assert team.is_personal
    assert Membership.objects.get(team=team, user=admin).role == Role.OWNER
    home = client.get("/")
    assert home.status_code == 200
    assert b"New edit" in home.content


def test_first_admin_form_is_gone_once_anyone_exists(client):
    make_user("someone")
    assert client.get(reverse("setup")).status_code == 404
    response = client.post(
        reverse("setup"),
        {"username": "mallory", "password1": "A-long-pass-9!", "password2": "A-long-pass-9!"},
    )
    assert response.status_code == 404
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_first_admin_form_shows_password_problems_next_to_the_field(client):
    response = client.post(
        reverse("setup"), {"username": "ada", "password1": "123", "password2": "123"}
    )
    assert response.status_code == 200
    assert b"too short" in response.content
    assert not get_user_model().objects.exists()


def test_anonymous_visitor_is_sent_to_sign_in(client):
    make_user("someone")
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_sign_in_and_sign_out(client):
    make_user("bob", password="pw-for-bob-123")
    page = client.get(reverse("login"))
    assert b"Sign in" in page.content
    response = client.post(reverse("login"), {"username": "bob", "password": "pw-for-bob-123"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    client.post(reverse("logout"))
    assert client.get("/").status_code == 302


def test_wrong_password_says_so_without_signing_in(client):
    make_user("bob", password="pw-for-bob-123")
    response = client.post(reverse("login"), {"username": "bob", "password": "nope"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content


def test_a_form_validated_before_someone_else_became_first_admin_creates_nobody(client):
    form = FirstAdminForm(
        {"username": "slow", "password1": "A-long-pass-9!", "password2": "A-long-pass-9!"}
    )
    assert form.is_valid()
    make_user("quick")  # finished first, while the slow form was being checked
    assert create_first_admin(form) is None
    assert not get_user_model().objects.filter(username="slow").exists()
