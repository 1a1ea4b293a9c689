"""The team's usage page: tokens and estimated cost per edit, totals per member, per model
and per month, and this month's spend against the budget.

Models are billed per token, per result or per edit (``costs.py``): an edit billed per
result or per edit may have no token usage at all, and still has a cost.

Every member sees it, viewers included: a team keeps an eye on spending together. The
totals are aggregated in the database (a fixed number of queries however many edits
there are), and months are counted by when an edit finished, as the budget is. The
spend against the budget is the budget's own figure (`limits.month_spend`, from the
usage ledger), so it still counts edits deleted since; the tables list the edits that
remain.
"""

from django.contrib.auth.decorators import login_required
from django.db.models import BigIntegerField, Count, F, Q, QuerySet, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncMonth
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from editor.teams.permissions import membership_for

from . import limits
from .models import Edit

PAGE_SIZE = 50


def priced_edits(team) -> QuerySet:
    """Finished edits the service reported usage for, or that have a cost estimate."""
    return (
        Edit.objects.for_team(team)
        .filter(finished_at__isnull=False)
        .filter(Q(usage__isnull=False) | Q(cost_usd__isnull=False))
    )


def _tokens(key: str) -> Sum:
    return Sum(Cast(KT(f"usage__{key}"), BigIntegerField()))


def _totals(**extra) -> dict:
    return {
        "edits": Count("pk"),
        "input_tokens": _tokens("input_tokens"),
        "output_tokens": _tokens("output_tokens"),
        "cost": Sum("cost_usd"),
        **extra,
    }


@login_required
@require_GET
def team_usage(request: HttpRequest) -> HttpResponse:
    membership = membership_for(request)
    team = membership.team
    now = timezone.now()
    month_start, month_end = limits.month_bounds(now)
    edits = priced_edits(team)
    this_month = Q(finished_at__gte=month_start, finished_at__lt=month_end)
    per_member = (
        edits.values("created_by_id", "created_by__username")
        .annotate(**_totals(month_cost=Sum("cost_usd", filter=this_month)))
        .order_by(F("cost").desc(nulls_last=True), "created_by__username")
    )
    per_model = (
        edits.values("model")
        .annotate(**_totals())
        .order_by(F("cost").desc(nulls_last=True), "model")
    )
    per_month = (
        edits.annotate(month=TruncMonth("finished_at"))
        .values("month")
        .annotate(**_totals())
        .order_by("-month")
    )
    # Newest finished first, by cursor: the table grows with the team's whole history.
    page = edits.select_related("created_by").keyset_page(
        size=PAGE_SIZE,
        before=request.GET.get("before"),
        after=request.GET.get("after"),
        field_name="finished_at",
    )
    spent = limits.month_spend(team, now)
    budget = team.monthly_budget_usd
    context = {
        "team": team,
        "month_start": month_start,
        "month_end": month_end,
        "spent": spent,
        "budget": budget,
        "budget_reached": budget is not None and spent >= budget,
        "percent": _percent(spent, budget),
        "per_member": per_member,
        "per_month": per_month,
        "per_model": per_model,
        "page": page,
    }
    return render(request, "edits/usage.html", context)


def _percent(spent, budget) -> int | None:
    """Share of the budget used; above 100 when edits still running pushed it over (the
    progress bar stops at full, the text says by how much)."""
    if budget is None:
        return None
    if budget <= 0:
        return 100
    return int(spent * 100 / budget)
