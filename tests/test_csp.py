"""Every page carries the Content-Security-Policy, and no page needs an exception to it:
no inline script without the nonce, no inline event handler, no style attribute."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from editor.edits.models import Status

from .factories import make_edit

pytestmark = pytest.mark.django_db


class InlineCode(HTMLParser):
    """Collects what the policy would refuse."""

    def __init__(self, nonce: str) -> None:
        super().__init__()
        self.nonce = nonce
        self.refused: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        named = dict(attrs)
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.refused.append(f"<{tag} {name}=...>")
        if tag == "script" and "src" not in named and named.get("nonce") != self.nonce:
            self.refused.append("<script> without the nonce")
        if tag == "style":
            self.refused.append("<style>")
        for name in ("href", "src", "action"):
            if (named.get(name) or "").strip().lower().startswith("javascript:"):
                self.refused.append(f"<{tag} {name}=javascript:...>")


def assert_within_policy(response) -> None:
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    match = re.search(r"'nonce-([^']+)'", policy)
    assert match, policy
    parser = InlineCode(match.group(1))
    parser.feed(response.content.decode())
    assert parser.refused == [], parser.refused


def test_signed_out_pages_are_within_the_policy(client, studio):
    assert_within_policy(client.get(reverse("login")))


def test_the_pages_of_a_team_are_within_the_policy(client, studio):
    edit = make_edit(studio.team, studio.owner, status=Status.SUCCEEDED, results=1)
    failed = make_edit(studio.team, studio.owner, status=Status.FAILED)
    pending = make_edit(studio.team, studio.owner, status=Status.RUNNING)
    client.force_login(studio.owner)
    pages = [
        reverse("home"),
        reverse("edit_detail", args=[edit.pk]),
        reverse("edit_detail", args=[failed.pk]),
        reverse("edit_detail", args=[pending.pk]),
        reverse("edit_delete", args=[edit.pk]),
        reverse("usage"),
        reverse("team_members", args=[studio.team.pk]),
        reverse("team_invitations", args=[studio.team.pk]),
        reverse("team_activity", args=[studio.team.pk]),
        reverse("team_create"),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert_within_policy(response)


def test_htmx_loads_with_the_nonce_and_without_eval(client, studio):
    client.force_login(studio.owner)
    html = client.get(reverse("home")).content.decode()
    assert re.search(r'<script src="[^"]*htmx[^"]*"[^>]*nonce="', html)
    assert '"allowEval": false' in html


def test_the_admin_is_within_the_policy(client):
    from .factories import make_user

    client.force_login(make_user("sam", is_staff=True, is_superuser=True))
    for page in ("admin:index", "admin:edits_edit_changelist", "admin:teams_team_add"):
        response = client.get(reverse(page))
        assert response.status_code == 200, page
        assert_within_policy(response)
