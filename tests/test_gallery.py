"""The team gallery: newest first, paginated, live through one polling request."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from editor.edits.models import Status
from editor.edits.views import PAGE_SIZE
from editor.teams.models import Role

from .factories import make_edit, make_team, make_user, personal_team

pytestmark = pytest.mark.django_db


def poll(client, *pending: str):
    return client.get(
        reverse("gallery_updates"), {"pending": list(pending)}, HTTP_HX_REQUEST="true"
    )


def test_empty_gallery_says_what_to_do_next(alice_client):
    html = alice_client.get("/").content.decode()
    assert "No edits yet" in html
    assert "Start edit" in html


def test_gallery_lists_team_edits_newest_first_with_who_and_status(alice_client, alice):
    team = personal_team(alice)
    old = make_edit(team, alice, prompt="First idea", status=Status.SUCCEEDED, results=1)
    new = make_edit(team, alice, prompt="Second idea", status=Status.FAILED)
    make_edit(make_team("Elsewhere"), make_user("zed"), prompt="Not ours")
    html = alice_client.get("/").content.decode()
    assert html.index(f'id="edit-{new.pk}"') < html.index(f'id="edit-{old.pk}"')
    assert "Not ours" not in html
    assert "alice" in html and "Failed" in html and "Done" in html
    assert reverse("edit_result_thumbnail", args=[old.pk, 0]) in html


def test_gallery_is_paginated_and_pages_are_htmx_partials(alice_client, alice):
    team = personal_team(alice)
    for i in range(PAGE_SIZE + 3):
        make_edit(team, alice, prompt=f"Edit number {i}", sources=0, status=Status.SUCCEEDED)
    first = alice_client.get("/").content.decode()
    assert first.count('class="edit-card') == PAGE_SIZE
    older = re.search(r'<a href="\?before=([0-9-]+)" hx-get="\?before=\1"[^>]*rel="next"', first)
    assert older, "an Older link by cursor"
    second = alice_client.get(
        "/", {"before": older[1]}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="gallery"
    )
    html = second.content.decode()
    assert html.count('class="edit-card') == 3
    assert "<html" not in html
    assert "Edit number 0" in html


def test_pending_cards_carry_their_status_for_the_single_poller(alice_client, alice):
    team = personal_team(alice)
    pending = make_edit(team, alice, status=Status.RUNNING)
    done = make_edit(team, alice, status=Status.SUCCEEDED, results=1)
    html = alice_client.get("/").content.decode()
    assert f'value="{pending.pk}:running" data-pending' in html
    assert f'value="{done.pk}:' not in html
    assert html.count('hx-get="/edits/updates/"') == 1
    # Run on each pushed change, or by app.js every 2 s while no event stream is open.
    assert 'hx-trigger="poll, sse:change" data-poll-fallback' in html
    assert 'hx-ext="sse" sse-connect="/events/' in html


def test_poll_returns_nothing_when_nothing_changed(alice_client, alice):
    edit = make_edit(personal_team(alice), alice, status=Status.RUNNING)
    response = poll(alice_client, f"{edit.pk}:running")
    assert response.status_code == 200
    assert response.content.decode().strip() == ""


def test_poll_returns_only_changed_cards_out_of_band(alice_client, alice):
    team = personal_team(alice)
    finished = make_edit(team, alice, status=Status.SUCCEEDED, results=1, prompt="Stormy sky")
    started = make_edit(team, alice, status=Status.RUNNING)
    waiting = make_edit(team, alice, status=Status.QUEUED)
    html = poll(
        alice_client, f"{finished.pk}:running", f"{started.pk}:queued", f"{waiting.pk}:queued"
    ).content.decode()
    assert f'id="edit-{finished.pk}" class="edit-card status-succeeded" hx-swap-oob="true"' in html
    assert f'id="edit-{started.pk}" class="edit-card status-running" hx-swap-oob="true"' in html
    assert f'id="edit-{waiting.pk}"' not in html
    assert f'value="{started.pk}:running" data-pending' in html
    assert "“Stormy sky”: done." in html


def test_poll_ignores_other_teams_edits(alice_client):
    other = make_edit(make_team("Elsewhere"), make_user("zed"), status=Status.SUCCEEDED)
    html = poll(alice_client, f"{other.pk}:running").content.decode()
    assert f"edit-{other.pk}" not in html


def test_failed_card_offers_retry_to_editors_only(client, alice):
    team = make_team(members={alice: Role.EDITOR})
    viewer = make_user("vera")
    team.memberships.create(user=viewer, role=Role.VIEWER)
    edit = make_edit(team, alice, status=Status.FAILED)
    edit.error_message = "The image service is busy."
    edit.save()
    for user, sees_retry in ((alice, True), (viewer, False)):
        from editor.teams.models import Profile

        Profile.objects.update_or_create(user=user, defaults={"current_team": team})
        client.force_login(user)
        html = client.get("/").content.decode()
        assert "The image service is busy." in html
        assert (reverse("edit_retry", args=[edit.pk]) in html) is sees_retry


def test_gallery_runs_a_constant_number_of_queries(alice_client, alice):
    team = personal_team(alice)

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert alice_client.get("/").status_code == 200
        return len(queries)

    alice_client.get("/")  # the first visit remembers the current team; not what we measure
    make_edit(team, alice, status=Status.SUCCEEDED, results=2)
    few = count_queries()
    for _ in range(12):
        make_edit(team, alice, status=Status.SUCCEEDED, results=2)
        make_edit(team, make_user(f"u{_}"), status=Status.FAILED)
    many = count_queries()
    assert few == many


def test_poll_runs_a_constant_number_of_queries(alice_client, alice):
    team = personal_team(alice)

    def count_queries(edits) -> int:
        with CaptureQueriesContext(connection) as queries:
            poll(alice_client, *[f"{e.pk}:queued" for e in edits])
        return len(queries)

    alice_client.get("/")  # the first visit remembers the current team; not what we measure
    one = count_queries([make_edit(team, alice, status=Status.SUCCEEDED, results=1)])
    lots = count_queries(
        [make_edit(team, alice, status=Status.SUCCEEDED, results=1) for _ in range(10)]
    )
    assert one == lots
