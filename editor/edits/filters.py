"""The gallery's filters, read from the URL so that a filtered gallery can be shared."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from editor.upstream import MODELS

from .models import Status


class GalleryFilterForm(forms.Form):
    """The gallery's filters, read from the URL so that a filtered gallery can be
    bookmarked and shared. Anything invalid is ignored (and explained), never an error
    page."""

    q = forms.CharField(
        label="Prompt contains",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "e.g. sky"}),
    )
    member = forms.ChoiceField(label="Made by", required=False)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Status.choices]
    )
    model = forms.ChoiceField(label="Model", required=False)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    starred = forms.BooleanField(label="Starred by me", required=False)

    def __init__(self, data, *, team, user=None):
        super().__init__(data, label_suffix="", auto_id="filter-%s")
        self.user = user
        members = team.memberships.select_related("user").order_by("user__username")
        usernames = [m.user.get_username() for m in members]
        self.fields["member"].choices = [("", "Anyone"), *[(u, u) for u in usernames]]
        self.fields["model"].choices = [("", "Any model")] + [
            (m.name, m.label) for m in MODELS.values()
        ]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def criteria(self) -> dict:
        """Keyword arguments for `EditQuerySet.matching()`, from the valid fields only."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = self.cleaned_data
        criteria = {
            "text": data.get("q", ""),
            "member": data.get("member", ""),
            "status": data.get("status", ""),
            "model": data.get("model", ""),
            "starred_by": self.user if data.get("starred") and self.user else None,
        }
        # Whole days in the site's time zone: "to" includes the day it names.
        if data.get("since"):
            criteria["created_from"] = _start_of(data["since"])
        if data.get("until") and "until" not in self.errors:
            criteria["created_before"] = _start_of(data["until"] + timedelta(days=1))
        return criteria

    @property
    def is_active(self) -> bool:
        return any(self.criteria().values())


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
