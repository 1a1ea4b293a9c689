"""Spend across all teams, for staff: one page that answers "who is using the key?".

Read from the usage ledger (models/ledger.py), so deleted edits still count, as they do
for each team's budget (limits.py).
"""

from decimal import Decimal

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from editor.teams.models import Team

from . import limits
from .models.ledger import LedgerEntry

MONEY = DecimalField(max_digits=14, decimal_places=6)


def teams_with_month_spend(start, end):
    """Every team with `spent` (its estimated spend between `start` and `end`), the
    biggest spenders first, in one query."""
    spend = (
        LedgerEntry.objects.filter(team=OuterRef("pk"), kind=LedgerEntry.Kind.COST)
        .filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values("team")
        .annotate(total=Sum("cost_usd"))
        .values("total")
    )
    return Team.objects.annotate(
        spent=Coalesce(Subquery(spend, output_field=MONEY), Value(Decimal(0)), output_field=MONEY)
    ).order_by("-spent", "name", "pk")


@staff_member_required
@require_GET
def staff_spend(request: HttpRequest) -> HttpResponse:
    month_start, month_end = limits.month_bounds(timezone.now())
    teams = list(teams_with_month_spend(month_start, month_end))
    for team in teams:
        budget = team.monthly_budget_usd
        team.over_budget = budget is not None and team.spent >= budget
    context = {
        "teams": teams,
        "month_start": month_start,
        "total_spent": sum((team.spent for team in teams), Decimal(0)),
        "total_budget": sum(
            (team.monthly_budget_usd for team in teams if team.monthly_budget_usd is not None),
            Decimal(0),
        ),
        "personal_spent": sum((team.spent for team in teams if team.is_personal), Decimal(0)),
    }
    return render(request, "edits/staff_spend.html", context)
