"""The usage page: tokens and estimated cost per edit, per member and per month, and this
month's spend against the team's budget; setting the budget on the members page."""

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from editor.edits.limits import month_bounds
from editor.edits.models import Edit
from editor.teams.models import Activity, Team

from .factories import Role, make_edit, make_priced_edit, make_team

pytestmark = pytest.mark.django_db


def usage_page(client, user):
    client.force_login(user)
    response = client.get(reverse("usage"))
    assert response.status_code == 200
    return response


def row(html: str, heading: str) -> str:
    """The table row whose header cell is `heading`, as text without tags."""
    match = re.search(rf"<tr>\s*<th scope=\"row\">{re.escape(heading)}</th>(.*?)</tr>", html, re.S)
    assert match, f"no row for {heading}"
    return " ".join(re.sub(r"<[^>]+>", " ", match[1]).split())


def last_month() -> datetime:
    start, _ = month_bounds(timezone.now())
    return start - timedelta(days=3)


def test_totals_per_member_add_up_their_tokens_and_costs(client, studio):
    team, owner, editor, viewer = studio
    make_priced_edit(team, editor, "0.25", usage={"input_tokens": 100, "output_tokens": 1000})
    make_priced_edit(team, editor, "0.50", usage={"input_tokens": 300, "output_tokens": 2000})
    make_priced_edit(team, editor, "1.00", finished_at=last_month())
    make_priced_edit(team, owner, "0.10", usage={"input_tokens": 7, "output_tokens": 9})
    make_edit(team, editor)  # still queued: no cost yet, not counted

    members = usage_page(client, viewer).context["per_member"]

    by_name = {m["created_by__username"]: m for m in members}
    assert by_name["ed"]["edits"] == 3
    assert by_name["ed"]["cost"] == Decimal("1.75")
    assert by_name["ed"]["month_cost"] == Decimal("0.75")
    assert (by_name["ed"]["input_tokens"], by_name["ed"]["output_tokens"]) == (500, 3200)
    assert by_name["olga"]["cost"] == Decimal("0.10")
    assert [m["created_by__username"] for m in members] == ["ed", "olga"]  # biggest first


def test_member_table_shows_this_month_and_all_time_in_dollars(client, studio):
    team, owner, editor, _ = studio
    make_priced_edit(team, editor, "0.75", usage={"input_tokens": 100, "output_tokens": 200})
    earlier = {"input_tokens": 10, "output_tokens": 20}
    make_priced_edit(team, editor, "1.00", usage=earlier, finished_at=last_month())

    html = usage_page(client, owner).content.decode()

    assert row(html, "ed") == "2 110 220 $0.75 $1.75"


def test_totals_per_month_group_edits_by_the_month_they_finished(client, studio):
    team, owner, editor, _ = studio
    make_priced_edit(team, editor, "0.20")
    make_priced_edit(team, owner, "0.30")
    make_priced_edit(team, editor, "1.25", finished_at=last_month())

    months = list(usage_page(client, owner).context["per_month"])

    this_month, previous = months
    assert this_month["month"] > previous["month"]
    assert (this_month["edits"], this_month["cost"]) == (2, Decimal("0.50"))
    assert (previous["edits"], previous["cost"]) == (1, Decimal("1.25"))
    html = usage_page(client, owner).content.decode()
    assert f"{timezone.localtime(last_month()):%B %Y}" in html


def test_each_edit_is_listed_with_its_tokens_and_estimated_cost(client, studio):
    team, owner, editor, _ = studio
    edit = make_priced_edit(
        team, editor, "0.062505", usage={"input_tokens": 775, "output_tokens": 1372}
    )
    html = usage_page(client, owner).content.decode()
    listed = re.search(rf'<tr id="usage-{edit.pk}">(.*?)</tr>', html, re.S)[1]
    text = " ".join(re.sub(r"<[^>]+>", " ", listed).split())
    assert "ed Make the sky stormy GPT Image 1 per token 775 1,372 $0.0625" in text


def test_edits_without_token_usage_show_a_dash_and_still_count_their_cost(client, studio):
    """Models billed per result or per edit (gpt-image-2, nano-banana) may report no
    tokens: the tokens read "—", the cost is listed and added up."""
    team, owner, editor, _ = studio
    banana = make_priced_edit(team, editor, "0.039", model="nano-banana", params={})
    Edit.objects.filter(pk=banana.pk).update(usage=None)
    grid = make_priced_edit(team, editor, "0.08", model="gpt-image-2", usage={})
    make_priced_edit(
        team, owner, "0.0625", model="gpt-image-1", usage={"input_tokens": 775, "output_tokens": 10}
    )

    response = usage_page(client, owner)
    html = response.content.decode()

    for edit, words in (
        (banana, "Nano Banana per edit — — $0.0390"),
        (grid, "GPT Image 2 per result — — $0.0800"),
    ):
        listed = re.search(rf'<tr id="usage-{edit.pk}">(.*?)</tr>', html, re.S)[1]
        assert words in " ".join(re.sub(r"<[^>]+>", " ", listed).split())
    assert row(html, "ed") == "2 — — $0.12 $0.12"  # no tokens at all, the cost counted
    assert row(html, "olga") == "1 775 10 $0.06 $0.06"
    assert row(html, "Nano Banana") == "per edit 1 — — $0.04"
    assert row(html, "GPT Image 1") == "per token 1 775 10 $0.06"
    by_model = {m["model"]: m for m in response.context["per_model"]}
    assert by_model["gpt-image-2"]["cost"] == Decimal("0.08")
    assert by_model["nano-banana"]["input_tokens"] is None


def test_this_months_spend_is_shown_against_the_budget_in_words(client, studio):
    team, _, editor, viewer = studio
    Team.objects.filter(pk=team.pk).update(monthly_budget_usd=Decimal("40"))
    make_priced_edit(team, editor, "10.00")
    make_priced_edit(team, editor, "25.00", finished_at=last_month())  # not this month's

    html = usage_page(client, viewer).content.decode()

    assert "<strong>$10</strong> of the $40 monthly budget used (25%)." in html
    assert '<progress max="100" value="25" aria-labelledby="budget-text">' in html
    assert "Budget reached" not in html


def test_page_says_when_the_budget_is_reached_and_until_when(client, studio):
    team, _, editor, viewer = studio
    Team.objects.filter(pk=team.pk).update(monthly_budget_usd=Decimal("5"))
    make_priced_edit(team, editor, "6.00")
    _, month_end = month_bounds(timezone.now())

    html = usage_page(client, viewer).content.decode()

    assert "<strong>$6</strong> of the $5 monthly budget used (120%)." in html
    assert "Budget reached." in html
    assert f"paused until {month_end.day} {month_end:%B}, or until an owner raises" in html


def test_without_a_budget_the_page_says_so_and_owners_get_a_link_to_set_one(client, studio):
    team, owner, editor, _ = studio
    make_priced_edit(team, editor, "1.50")
    html = usage_page(client, owner).content.decode()
    assert "<strong>$1.50</strong> spent this month. This team has no monthly budget." in html
    assert f"{reverse('team_members', args=[team.pk])}#budget" in html
    assert "<progress" not in html
    editors_html = usage_page(client, editor).content.decode()
    assert "#budget" not in editors_html


def test_usage_shows_only_the_current_teams_edits(client, studio):
    team, owner, editor, _ = studio
    make_priced_edit(team, editor, "0.40", prompt="Studio secret")
    other = make_team("Elsewhere", {editor: Role.OWNER})
    make_priced_edit(other, editor, "9.00", prompt="Elsewhere secret")

    html = usage_page(client, owner).content.decode()

    assert "Studio secret" in html
    assert "Elsewhere secret" not in html
    assert "$9" not in html


def test_the_usage_page_runs_the_same_queries_however_many_edits(client, studio):
    team, owner, editor, viewer = studio

    def count_queries() -> int:
        client.force_login(viewer)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("usage")).status_code == 200
        return len(queries)

    make_priced_edit(team, editor, "0.10")
    few = count_queries()
    for i in range(12):
        make_priced_edit(team, (owner, editor, viewer)[i % 3], "0.10")
        make_priced_edit(team, editor, "0.10", finished_at=last_month())
    assert count_queries() == few
    assert few <= 12


def test_header_links_to_the_usage_page(client, studio):
    viewer = studio.viewer
    client.force_login(viewer)
    html = client.get(reverse("team_members", args=[studio.team.pk])).content.decode()
    assert f'<a href="{reverse("usage")}">Usage</a>' in html


# --- Setting the budget ------------------------------------------------------------------


def test_owner_sets_the_monthly_budget_and_it_is_logged(client, studio):
    team, owner, _, _ = studio
    client.force_login(owner)
    url = reverse("team_budget", args=[team.pk])

    response = client.post(url, {"monthly_budget_usd": "50"}, follow=True)

    team.refresh_from_db()
    assert team.monthly_budget_usd == Decimal("50.00")
    assert "The monthly budget of “Studio” is now $50." in response.content.decode()
    entry = Activity.objects.for_team(team).get(verb=Activity.Verb.BUDGET_CHANGED)
    assert (entry.actor, entry.summary) == (owner, "no budget → $50 a month")

    client.post(url, {"monthly_budget_usd": "12.5"})
    client.post(url, {"monthly_budget_usd": ""})
    team.refresh_from_db()
    assert team.monthly_budget_usd is None
    summaries = Activity.objects.for_team(team).filter(verb=Activity.Verb.BUDGET_CHANGED)
    assert [a.summary for a in summaries] == [
        "$12.50 a month → no budget",
        "$50 a month → $12.50 a month",
        "no budget → $50 a month",
    ]


def test_saving_the_same_budget_again_logs_nothing(client, studio):
    team, owner, _, _ = studio
    client.force_login(owner)
    url = reverse("team_budget", args=[team.pk])
    client.post(url, {"monthly_budget_usd": "20"})
    client.post(url, {"monthly_budget_usd": "20.00"})
    assert Activity.objects.filter(verb=Activity.Verb.BUDGET_CHANGED).count() == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "The budget cannot be negative."),
        ("lots", "Enter an amount in dollars, such as 50 or 12.50."),
        ("9.999", "Use at most two digits after the point (whole cents)."),
    ],
)
def test_a_wrong_budget_is_explained_next_to_the_field(client, studio, value, message):
    team, owner, _, _ = studio
    client.force_login(owner)
    response = client.post(reverse("team_budget", args=[team.pk]), {"monthly_budget_usd": value})
    assert response.status_code == 400
    assert message in response.content.decode()
    team.refresh_from_db()
    assert team.monthly_budget_usd is None


def test_members_page_shows_the_budget_form_to_owners_and_the_budget_to_others(client, studio):
    team, owner, editor, _ = studio
    Team.objects.filter(pk=team.pk).update(monthly_budget_usd=Decimal("75"))
    client.force_login(owner)
    owners_html = client.get(reverse("team_members", args=[team.pk])).content.decode()
    assert reverse("team_budget", args=[team.pk]) in owners_html
    assert 'value="75.00"' in owners_html
    client.force_login(editor)
    editors_html = client.get(reverse("team_members", args=[team.pk])).content.decode()
    assert reverse("team_budget", args=[team.pk]) not in editors_html
    assert "Monthly budget: <strong>$75</strong>." in editors_html
