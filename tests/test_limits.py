"""What may refuse a new edit or a retry before anything is stored or sent upstream: the
team's monthly budget and the person's rate limit (editor/edits/limits.py)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from editor.edits.limits import month_bounds, parse_rate
from editor.edits.models import Edit, LedgerEntry, SourceImage, Status
from editor.teams.models import Team

from .factories import HTMX, Role, make_edit, make_priced_edit, make_team, post_edit
from .queue import run_queue

pytestmark = pytest.mark.django_db

BUDGET_MESSAGE = (
    "Your team has used its $5 budget for {month}. An owner can raise it on the team page."
)


def spend_the_budget(team: Team, user) -> str:
    """A $5 budget, all of it spent this month; returns the refusal message."""
    Team.objects.filter(pk=team.pk).update(monthly_budget_usd=Decimal("5"))
    make_priced_edit(team, user, "5.00")
    return BUDGET_MESSAGE.format(month=f"{timezone.localtime():%B}")


def created_at(user, *ages: timedelta) -> None:
    """Edits by `user` started this long ago (in their own team)."""
    for age in ages:
        edit = make_edit(make_team(f"Team {age}", {user: Role.OWNER}), user, sources=0)
        Edit.objects.filter(pk=edit.pk).update(created_at=timezone.now() - age)
        LedgerEntry.objects.filter(edit=edit).update(created_at=timezone.now() - age)


# --- Monthly budget -----------------------------------------------------------------------


def test_budget_reached_refuses_a_new_edit_next_to_the_form(
    client, studio, upstream, django_capture_on_commit_callbacks
):
    team, _, editor, _ = studio
    message = spend_the_budget(team, editor)
    client.force_login(editor)
    edits_before = Edit.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_edit(client, prompt="One more")

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#edit-form"
    html = response.content.decode()
    assert message in html
    assert 'id="edit-form"' in html
    assert Edit.objects.count() == edits_before
    assert not Edit.objects.filter(prompt="One more").exists()
    assert SourceImage.objects.count() == 0
    assert not DBTaskResult.objects.exists()
    run_queue()
    assert upstream.edit_requests == []


def test_budget_refusal_without_javascript_is_a_402_page_with_the_form(client, studio):
    team, _, editor, _ = studio
    message = spend_the_budget(team, editor)
    client.force_login(editor)

    response = post_edit(client, htmx=False)

    assert response.status_code == 402
    html = response.content.decode()
    assert message in html
    assert 'id="edit-form"' in html and "Add a hat" in html  # the prompt is kept
    assert not Edit.objects.filter(prompt="Add a hat").exists()


def test_spending_below_the_budget_or_in_an_earlier_month_does_not_block(client, studio):
    team, _, editor, _ = studio
    Team.objects.filter(pk=team.pk).update(monthly_budget_usd=Decimal("5"))
    make_priced_edit(team, editor, "4.99")
    start, _ = month_bounds(timezone.now())
    make_priced_edit(team, editor, "100.00", finished_at=start - timedelta(seconds=1))
    client.force_login(editor)

    response = post_edit(client, htmx=False)

    assert response.status_code == 302
    assert Edit.objects.filter(prompt="Add a hat").exists()


def test_another_teams_spending_does_not_count(client, studio):
    team, _, editor, _ = studio
    Team.objects.filter(pk=team.pk).update(monthly_budget_usd=Decimal("5"))
    make_priced_edit(make_team("Elsewhere", {editor: Role.OWNER}), editor, "50.00")
    client.force_login(editor)
    assert post_edit(client, htmx=False).status_code == 302


def test_retry_is_refused_once_the_budget_is_reached(client, studio, upstream):
    team, owner, editor, _ = studio
    message = spend_the_budget(team, owner)
    failed = make_edit(team, editor, status=Status.FAILED)
    client.force_login(editor)

    response = client.post(reverse("edit_retry", args=[failed.pk]), **HTMX)

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#messages"
    assert response["HX-Reswap"] == "innerHTML"  # the live region itself stays
    assert message in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == Status.FAILED
    assert not DBTaskResult.objects.exists()

    response = client.post(reverse("edit_retry", args=[failed.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("edit_detail", args=[failed.pk])
    assert message in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == Status.FAILED
    run_queue()
    assert upstream.edit_requests == []


def test_an_owner_raising_the_budget_lets_edits_start_again(
    client, studio, upstream, django_capture_on_commit_callbacks
):
    team, owner, editor, _ = studio
    spend_the_budget(team, editor)
    client.force_login(editor)
    assert post_edit(client, htmx=False).status_code == 402

    client.force_login(owner)
    client.post(reverse("team_budget", args=[team.pk]), {"monthly_budget_usd": "20"})

    client.force_login(editor)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_edit(client, prompt="Now it works")
    assert response.status_code == 200
    edit = Edit.objects.get(prompt="Now it works")
    run_queue()
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED
    assert len(upstream.edit_requests) == 1


def test_removing_the_budget_lets_edits_start_again(client, studio):
    team, owner, editor, _ = studio
    spend_the_budget(team, editor)
    client.force_login(owner)
    client.post(reverse("team_budget", args=[team.pk]), {"monthly_budget_usd": ""})
    client.force_login(editor)
    assert post_edit(client, htmx=False).status_code == 302


# --- Per-person rate limit ----------------------------------------------------------------


def test_over_the_rate_limit_the_form_says_when_to_try_again(client, studio, settings):
    settings.RETOUCH_RATE_LIMIT = "2/hour"
    editor = studio.editor
    created_at(editor, timedelta(minutes=50), timedelta(minutes=10))
    client.force_login(editor)

    response = post_edit(client)

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#edit-form"
    html = response.content.decode()
    assert "You have started 2 edits in the last hour, the most Retouch allows." in html
    # The older of the two leaves the window in (just under) 10 minutes.
    oldest = Edit.objects.filter(created_by=editor).earliest("created_at").created_at
    free_at = timezone.localtime(oldest + timedelta(hours=1))
    # Run just before midnight, the time falls on the next day, and the message says so.
    today = timezone.localdate()
    day = "" if free_at.date() == today else f"on {free_at.day} {free_at:%B} "
    assert f"You can start another {day}at {free_at:%H:%M} (in 9\xa0minutes)." in html
    assert not Edit.objects.filter(prompt="Add a hat").exists()


def test_rate_limit_without_javascript_is_a_429_with_retry_after(client, studio, settings):
    settings.RETOUCH_RATE_LIMIT = "1/minute"
    editor = studio.editor
    created_at(editor, timedelta(seconds=20))
    client.force_login(editor)

    response = post_edit(client, htmx=False)

    assert response.status_code == 429
    assert 39 <= int(response["Retry-After"]) <= 41
    html = response.content.decode()
    assert "You have started 1 edit in the last minute" in html
    assert re.search(r"You can start another in (39|40) seconds\.", html)
    assert 'id="edit-form"' in html
    assert not Edit.objects.filter(prompt="Add a hat").exists()


def test_once_the_window_has_passed_edits_are_allowed_again(client, studio, settings):
    settings.RETOUCH_RATE_LIMIT = "2/hour"
    editor = studio.editor
    created_at(editor, timedelta(minutes=61), timedelta(minutes=90), timedelta(minutes=10))
    client.force_login(editor)

    assert post_edit(client, htmx=False, prompt="First").status_code == 302
    assert post_edit(client, htmx=False, prompt="Second").status_code == 429
    assert Edit.objects.filter(prompt="First").exists()
    assert not Edit.objects.filter(prompt="Second").exists()


def test_the_rate_limit_counts_edits_in_every_team_but_only_the_persons_own(
    client, studio, settings
):
    settings.RETOUCH_RATE_LIMIT = "3/day"
    team, owner, editor, _ = studio
    created_at(editor, timedelta(hours=2), timedelta(hours=20))  # in other teams
    make_edit(team, owner, sources=0)  # someone else's
    make_edit(team, owner, sources=0)
    client.force_login(editor)

    assert post_edit(client, htmx=False, prompt="Third").status_code == 302
    assert post_edit(client, htmx=False, prompt="Fourth").status_code == 429
    client.force_login(owner)
    assert post_edit(client, htmx=False, prompt="Owner's third").status_code == 302


@pytest.mark.parametrize("value", ["0", "", "0/hour"])
def test_zero_or_empty_turns_the_rate_limit_off(client, studio, settings, value):
    settings.RETOUCH_RATE_LIMIT = value
    editor = studio.editor
    created_at(editor, *[timedelta(seconds=i + 1) for i in range(40)])
    client.force_login(editor)
    assert post_edit(client, htmx=False).status_code == 302


def test_retry_is_refused_over_the_rate_limit(client, studio, settings):
    settings.RETOUCH_RATE_LIMIT = "1/hour"
    team, _, editor, _ = studio
    failed = make_edit(team, editor, status=Status.FAILED)
    client.force_login(editor)

    response = client.post(reverse("edit_retry", args=[failed.pk]), follow=True)

    assert "You have started 1 edit in the last hour" in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


def test_retrying_an_edit_that_has_not_failed_is_never_refused(client, studio):
    team, owner, editor, _ = studio
    spend_the_budget(team, owner)
    done = make_edit(team, editor, status=Status.SUCCEEDED)
    client.force_login(editor)
    response = client.post(reverse("edit_retry", args=[done.pk]), follow=True)
    assert "budget for" not in response.content.decode()
    done.refresh_from_db()
    assert done.status == Status.SUCCEEDED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30/hour", (30, timedelta(hours=1))),
        ("5/second", (5, timedelta(seconds=1))),
        (" 10 / minutes ", (10, timedelta(minutes=1))),
        ("100/DAY", (100, timedelta(days=1))),
        ("0", None),
        ("", None),
        ("0/day", None),
    ],
)
def test_rate_limit_setting_formats(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["30", "30/week", "many/hour", "-1/hour"])
def test_a_malformed_rate_limit_setting_is_a_configuration_error(text):
    with pytest.raises(ImproperlyConfigured, match="RETOUCH_RATE_LIMIT"):
        parse_rate(text)
