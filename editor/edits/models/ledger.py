"""The usage ledger: what the budget and the rate limit count.

Counting edits that still exist let people undo their own spending by deleting
finished edits, and retries were never counted. Every start and every retry a person
asks for, and every estimated cost when an edit finishes, is written here once and
never changed or deleted with the edit (its `edit` becomes empty), so this month's
spend and the person's recent starts stay what they were.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy


class LedgerQuerySet(models.QuerySet):
    def starts_by(self, user, since: datetime) -> LedgerQuerySet:
        """The person's starts and retries since `since`, in any team."""
        starts = (LedgerEntry.Kind.STARTED, LedgerEntry.Kind.RETRIED)
        return self.filter(user=user, kind__in=starts, created_at__gt=since)

    def spend(self, team, start: datetime, end: datetime) -> Decimal:
        """The team's estimated spend between `start` and `end`, deleted edits included."""
        total = self.filter(
            team=team, kind=LedgerEntry.Kind.COST, created_at__gte=start, created_at__lt=end
        ).aggregate(total=models.Sum("cost_usd"))["total"]
        return total or Decimal(0)


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        STARTED = "started", gettext_lazy("Started an edit")
        RETRIED = "retried", gettext_lazy("Retried an edit")
        COST = "cost", gettext_lazy("Estimated cost of a finished edit")

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    edit = models.ForeignKey(
        "edits.Edit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        verbose_name = gettext_lazy("ledger entry")
        verbose_name_plural = gettext_lazy("ledger entries")
        indexes = [
            models.Index(fields=["user", "kind", "created_at"], name="ledger_user_recent"),
            models.Index(fields=["team", "kind", "created_at"], name="ledger_team_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d %H:%M})"
