"""/staff/spend/: every team's spend this month, from the usage ledger, for staff."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from editor.edits.models.ledger import LedgerEntry
from editor.teams.models import Team

from .factories import make_studio, make_user, personal_team

pytestmark = pytest.mark.django_db


def spend(team, amount: str, *, days_ago: int = 0) -> None:
    LedgerEntry.objects.create(
        team=team,
        kind=LedgerEntry.Kind.COST,
        cost_usd=Decimal(amount),
        created_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def staff_client(client):
    client.force_login(make_user("staff", is_staff=True))
    return client


def test_staff_see_each_teams_month_spend_and_budget_with_totals(staff_client):
    studio, owner, *_ = make_studio()
    studio.monthly_budget_usd = Decimal("100")
    studio.save()
    mine = personal_team(owner)
    spend(studio, "12.50")
    spend(studio, "0.50")
    spend(mine, "3")
    spend(studio, "40", days_ago=70)  # an earlier month: not counted
    LedgerEntry.objects.create(team=studio, kind=LedgerEntry.Kind.STARTED)  # no cost

    response = staff_client.get(reverse("staff_spend"))
    assert response.status_code == 200
    teams = {team.name: team for team in response.context["teams"]}
    assert teams["Studio"].spent == Decimal("13")
    assert teams["olga's team"].spent == Decimal("3")
    assert teams["staff's team"].spent == Decimal("0")
    assert response.context["teams"][0].name == "Studio"  # biggest spender first
    assert response.context["total_spent"] == Decimal("16")
    assert response.context["personal_spent"] == Decimal("3")
    body = response.content.decode()
    assert "$13" in body and "$100" in body and "$16" in body
    assert len(response.context["teams"]) == Team.objects.count()


def test_a_team_at_its_budget_is_marked(staff_client):
    studio, *_ = make_studio()
    studio.monthly_budget_usd = Decimal("5")
    studio.save()
    spend(studio, "5")
    assert "Budget reached" in staff_client.get(reverse("staff_spend")).content.decode()


def test_spend_page_queries_do_not_grow_with_the_number_of_teams(staff_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(reverse("staff_spend")).status_code == 200
        return len(captured)

    queries()  # the first page also remembers the staff member's current team
    few = queries()
    for name in ("a", "b", "c"):
        spend(personal_team(make_user(name)), "1")
    assert queries() == few


@pytest.mark.parametrize("who", ["anonymous", "member", "owner"])
def test_people_who_are_not_staff_are_sent_to_the_admin_sign_in(client, who):
    _, owner, editor, _ = make_studio()
    if who != "anonymous":
        client.force_login(owner if who == "owner" else editor)
    response = client.get(reverse("staff_spend"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
