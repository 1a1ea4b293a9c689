"""The two rules that can refuse a new edit (or a retry) before anything is stored or
sent upstream: the team's monthly budget and the person's rate limit.

Both are counted from the usage ledger (models/ledger.py), which deleting an edit does
not change, so they hold however many web processes there are and whatever people
delete. A view checks them first, before it reads the uploads, so someone over a limit
costs the server nothing; then `admit` checks them again and the start is counted in
the same transaction as the edit's rows, with the person's and the team's rows locked
(on SQLite the IMMEDIATE transaction serialises writers anyway), so concurrent
submissions cannot slip past the limit. Edits still waiting for their result have no
cost yet, so the budget can end a little over, as the README says.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import dateformat, formats, timezone
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext_lazy
from django_htmx.http import reswap, retarget

from editor.teams.models import Team, format_usd

from .models import LedgerEntry

PERIODS = {
    "second": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")
# A window in the refusals' words: "in the last hour", "allows 10 per hour".
WINDOW_WORDS = {
    "second": pgettext_lazy("rate limit window", "second"),
    "minute": pgettext_lazy("rate limit window", "minute"),
    "hour": pgettext_lazy("rate limit window", "hour"),
    "day": pgettext_lazy("rate limit window", "day"),
}


@dataclass(frozen=True)
class Refusal:
    """Why a new edit may not start now, in words for the person, and the HTTP status
    for a page that shows it without JavaScript."""

    message: str
    status: int
    retry_at: datetime | None = None

    def annotate(self, response: HttpResponse) -> HttpResponse:
        """Tell clients and proxies when trying again makes sense (RFC 9110 Retry-After)."""
        if self.retry_at is not None:
            seconds = max(1, int((self.retry_at - timezone.now()).total_seconds() + 0.999))
            response["Retry-After"] = str(seconds)
        return response


class LimitReached(Exception):
    """`admit` refused: nothing of the edit may be stored."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def retry_refused(request: HttpRequest, refusal: Refusal, page: str) -> HttpResponse:
    """A Retry the limits refused: the message in the page's messages area (htmx), or on
    `page` (the edit's or the batch's, as a URL) after a redirect."""
    messages.error(request, refusal.message)
    if request.htmx:
        response = render(request, "base.html#messages")
        return reswap(retarget(response, "#messages"), "innerHTML")
    return redirect(page)


def refusal_for_new_edit(
    team: Team, user, now: datetime | None = None, count: int = 1
) -> Refusal | None:
    """None when `user` may start `count` edits in `team` now (a retry counts as one; a
    batch as its edits, refused whole, saying how many would fit)."""
    now = now or timezone.now()
    return budget_refusal(team, now) or rate_refusal(user, now, count)


def admit(team: Team, user, kind: str, *edits) -> None:
    """Check both limits and count the starts (or retries) of `edits`, as one step: call
    it inside the transaction that stores them. Raises LimitReached, for all or none."""
    # Always in this order (person, then team), so two admits never wait on each other.
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values("pk"))
    list(Team.objects.select_for_update().filter(pk=team.pk).values("pk"))
    refusal = refusal_for_new_edit(team, user, count=len(edits))
    if refusal:
        raise LimitReached(refusal)
    LedgerEntry.objects.bulk_create(
        LedgerEntry(team=team, user=user, edit=edit, kind=kind) for edit in edits
    )


# --- Monthly budget ---------------------------------------------------------------------


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month around `moment`, in the site's time zone (TIME_ZONE)."""
    start = timezone.localtime(moment).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        return start, start.replace(year=start.year + 1, month=1)
    return start, start.replace(month=start.month + 1)


def month_spend(team: Team, now: datetime | None = None) -> Decimal:
    """The team's estimated spend this calendar month (edits finished in it, deleted
    ones included)."""
    start, end = month_bounds(now or timezone.now())
    return LedgerEntry.objects.spend(team, start, end)


def budget_refusal(team: Team, now: datetime) -> Refusal | None:
    budget = team.monthly_budget_usd
    if budget is None or month_spend(team, now) < budget:
        return None
    month = dateformat.format(timezone.localtime(now), "F")
    # 402: the team's money ran out for now; nothing the person does will change that
    # until an owner raises the budget or the month turns.
    return Refusal(
        _(
            "Your team has used its %(budget)s budget for %(month)s. An owner can raise it "
            "on the team page."
        )
        % {"budget": format_usd(budget), "month": month},
        status=402,
    )


# --- Per-person rate limit ----------------------------------------------------------------


def parse_rate(text: str) -> tuple[int, timedelta] | None:
    """`"30/hour"` → (30, one hour); None when the limit is off ("0", "", "0/hour")."""
    text = (text or "").strip().lower()
    if text in ("", "0"):
        return None
    match = RATE.match(text)
    if not match:
        raise ImproperlyConfigured(
            f"RETOUCH_RATE_LIMIT={text!r}: use N/second, N/minute, N/hour or N/day, or 0 for none."
        )
    count, period = int(match[1]), PERIODS[match[2]]
    return (count, period) if count > 0 else None


def rate_refusal(user, now: datetime, starting: int = 1) -> Refusal | None:
    """Refused once the person has started (or retried) the allowed number of edits
    within the window, in any team; they may go on when the oldest of those leaves it.
    `starting` edits at once (a batch) are refused whole when not all of them fit."""
    rate = parse_rate(settings.RETOUCH_RATE_LIMIT)
    if rate is None:
        return None
    count, window = rate
    recent = list(
        LedgerEntry.objects.starts_by(user, now - window)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:count]
    )
    if len(recent) + starting <= count:
        return None
    if starting > 1 and len(recent) < count:
        return _batch_refusal(count, window, count - len(recent), starting)
    retry_at = recent[-1] + window
    message = ngettext(
        "You have started %(count)s edit in the last %(window)s, the most Retouch allows. "
        "You can start another %(when)s.",
        "You have started %(count)s edits in the last %(window)s, the most Retouch allows. "
        "You can start another %(when)s.",
        count,
    ) % {"count": count, "window": _window_words(window), "when": _when(retry_at, now)}
    return Refusal(message, status=429, retry_at=retry_at)


def _batch_refusal(count: int, window: timedelta, fits: int, starting: int) -> Refusal:
    """Some of a batch would fit in the rate limit, not all: refused whole, saying how many
    would. No Retry-After: a smaller batch goes through now."""
    message = ngettext(
        "This batch would start %(starting)s edits, but Retouch allows %(count)s per "
        "%(window)s and you can start only %(fits)s more edit now. Choose %(fits)s photo or "
        "fewer, or try again later.",
        "This batch would start %(starting)s edits, but Retouch allows %(count)s per "
        "%(window)s and you can start only %(fits)s more edits now. Choose %(fits)s photos "
        "or fewer, or try again later.",
        fits,
    )
    words = {"starting": starting, "count": count, "window": _window_words(window), "fits": fits}
    return Refusal(message % words, status=429)


def _window_words(window: timedelta) -> str:
    return str(next(WINDOW_WORDS[name] for name, period in PERIODS.items() if period == window))


def _when(moment: datetime, now: datetime) -> str:
    """`at 14:05 (in 12 minutes)`, `in 40 seconds`, `on 26 November at 09:00 (in ...)`."""
    seconds = int((moment - now).total_seconds() + 0.999)
    if seconds < 60:
        return ngettext("in %(count)s second", "in %(count)s seconds", seconds) % {"count": seconds}
    local, today = timezone.localtime(moment), timezone.localtime(now).date()
    words = {"time": f"{local:%H:%M}", "span": timeuntil(moment, now)}
    if local.date() == today:
        return _("at %(time)s (in %(span)s)") % words
    words["date"] = formats.date_format(local, "MONTH_DAY_FORMAT")
    return _("on %(date)s at %(time)s (in %(span)s)") % words
