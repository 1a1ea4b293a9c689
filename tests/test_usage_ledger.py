"""The budget and the rate limit count an append-only ledger: deleting edits does not
lower the month's spend or reset the rate window, retries count, and checking and
counting are one step, so concurrent submissions cannot slip past the limit."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from editor.edits.models import Edit, LedgerEntry, Status
from editor.edits.services import delete_edit
from editor.teams.models import Team

from .factories import HTMX, make_edit, make_priced_edit, post_edit, upload
from .processes import ProcessStack
from .queue import run_queue

pytestmark = pytest.mark.django_db


def test_deleting_finished_edits_does_not_lower_the_months_spend(client, studio):
    team, _, editor, _ = studio
    Team.objects.filter(pk=team.pk).update(monthly_budget_usd=Decimal("5"))
    spent = make_priced_edit(team, editor, "5.00")
    delete_edit(spent, by=editor)
    client.force_login(editor)
    assert post_edit(client, htmx=False).status_code == 402
    assert not Edit.objects.exists()


def test_deleting_edits_does_not_reset_the_rate_window(client, studio, settings):
    settings.RETOUCH_RATE_LIMIT = "2/hour"
    client.force_login(studio.editor)
    for prompt in ("First", "Second"):
        assert post_edit(client, htmx=False, prompt=prompt).status_code == 302
    for edit in Edit.objects.all():
        Edit.objects.filter(pk=edit.pk).update(status=Status.FAILED)
        delete_edit(edit, by=studio.editor)
    assert post_edit(client, htmx=False, prompt="Third").status_code == 429
    assert not Edit.objects.exists()


def started_and_failed(client, studio) -> Edit:
    """An edit the editor started through the form, which then failed."""
    client.force_login(studio.editor)
    assert post_edit(client, htmx=False, prompt="First").status_code == 302
    edit = Edit.objects.get()
    Edit.objects.filter(pk=edit.pk).update(status=Status.FAILED)
    return edit


def test_retries_are_counted(client, studio, settings):
    settings.RETOUCH_RATE_LIMIT = "2/hour"
    edit = started_and_failed(client, studio)
    client.post(reverse("edit_retry", args=[edit.pk]))
    edit.refresh_from_db()
    assert edit.status == Status.QUEUED
    kinds = list(LedgerEntry.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == [LedgerEntry.Kind.STARTED, LedgerEntry.Kind.RETRIED]
    assert post_edit(client, htmx=False, prompt="Second").status_code == 429


def test_a_refused_retry_is_not_counted_and_leaves_the_edit_failed(client, studio, settings):
    settings.RETOUCH_RATE_LIMIT = "1/hour"
    edit = started_and_failed(client, studio)
    response = client.post(reverse("edit_retry", args=[edit.pk]), **HTMX)
    assert "the most Retouch allows" in response.content.decode()
    edit.refresh_from_db()
    assert edit.status == Status.FAILED
    assert LedgerEntry.objects.count() == 1


def test_a_finished_edit_records_its_cost_in_the_ledger(client, studio, upstream):
    client.force_login(studio.editor)
    post_edit(client, htmx=False)
    run_queue()
    edit = Edit.objects.get()
    assert edit.status == Status.SUCCEEDED and edit.cost_usd
    cost = LedgerEntry.objects.get(kind=LedgerEntry.Kind.COST)
    assert (cost.edit, cost.team, cost.user, cost.cost_usd) == (
        edit,
        studio.team,
        studio.editor,
        edit.cost_usd,
    )


def test_the_ledger_keeps_its_entries_when_the_edit_is_deleted(studio):
    edit = make_priced_edit(studio.team, studio.editor, "0.25")
    delete_edit(edit, by=studio.owner)
    assert LedgerEntry.objects.filter(edit=None).count() == 2  # the start and the cost


def test_the_migration_counts_the_edits_that_exist_already(studio):
    from importlib import import_module

    backfill = import_module("editor.edits.migrations.0004_usage_ledger").backfill
    make_edit(studio.team, studio.editor)
    make_priced_edit(studio.team, studio.owner, "1.50", finished_at=timezone.now())
    LedgerEntry.objects.all().delete()
    backfill(apps, None)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.STARTED).count() == 2
    assert LedgerEntry.objects.get(kind=LedgerEntry.Kind.COST).cost_usd == Decimal("1.5")


# --- concurrent submissions --------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the in-memory SQLite test database locks whole tables between threads; "
    "test_concurrent_submissions_through_gunicorn_on_sqlite covers SQLite",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_stop_exactly_at_the_limit(studio, settings):
    settings.RETOUCH_RATE_LIMIT = "5/hour"
    start = threading.Barrier(12)

    def submit(number: int) -> int:
        try:
            browser = Client()
            browser.force_login(studio.editor)
            data = {"model": "gpt-image-1", "prompt": f"Hat {number}", "images": [upload()]}
            start.wait(10)
            return browser.post(reverse("edit_create"), data).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(submit, range(12)))
    assert sorted(statuses) == [302] * 5 + [429] * 7
    assert Edit.objects.count() == 5
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.STARTED).count() == 5


@pytest.mark.slow
def test_concurrent_submissions_through_gunicorn_on_sqlite(tmp_path, sim):
    """45 simultaneous submissions against a limit of 30, with 1 already used: exactly 29
    more are accepted (the penetration test's case), through gunicorn on a SQLite file."""
    stack = ProcessStack(
        tmp_path, sim.base_url, RETOUCH_RATE_LIMIT="30/hour", RETOUCH_DELIVERY="sync"
    )
    try:
        stack.start_web()
        stack.create_user("erin")
        first = stack.sign_in("erin")
        stack.start_edit(first, "Already used")
        sessions = [stack.sign_in("erin") for _ in range(45)]
        go = threading.Barrier(45)

        def submit(session) -> int:
            go.wait(20)
            return stack.post_edit(session, "One of many").status_code

        with ThreadPoolExecutor(45) as pool:
            statuses = list(pool.map(submit, sessions))
        assert statuses.count(302) == 29, statuses
        assert statuses.count(429) == 16
        assert len(stack.edits()) == 30
    finally:
        stack.stop()
