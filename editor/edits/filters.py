"""The gallery's filters, read from the URL so that a filtered gallery can be shared."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from editor.upstream import MODELS

from .models import Status


class GalleryFilterForm(forms.Form):
    """The gallery's filters, read from the URL so that a filtered gallery can be
    bookmarked and shared. Anything invalid is ignored (and explained), never an error
    page."""

    q = forms.CharField(
        label=gettext_lazy("Prompt contains"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": gettext_lazy("e.g. sky")}),
    )
    member = forms.ChoiceField(label=gettext_lazy("Made by"), required=False)
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("Any status")), *Status.choices],
    )
    model = forms.ChoiceField(label=gettext_lazy("Model"), required=False)
    since = forms.DateField(
        label=pgettext_lazy("gallery filter", "From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = forms.DateField(
        label=pgettext_lazy("gallery filter", "To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    starred = forms.BooleanField(label=gettext_lazy("Starred by me"), required=False)

    def __init__(self, data, *, team, user=None):
        super().__init__(data, label_suffix="", auto_id="filter-%s")
        self.user = user
        members = team.memberships.select_related("user").order_by("user__username")
        self.members = {m.user.get_username(): m.user for m in members}
        self.fields["member"].choices = [("", _("Anyone")), *[(u, u) for u in self.members]]
        self.fields["model"].choices = [("", _("Any model"))] + [
            (m.name, m.label) for m in MODELS.values()
        ]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end date is before the start date."))
        return cleaned

    def criteria(self) -> dict:
        """Keyword arguments for `EditQuerySet.matching()`, from the valid fields only."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = self.cleaned_data
        criteria = {
            "text": data.get("q", ""),
            # The person, not the name: the database then knows whose edits it seeks.
            "member": self.members.get(data.get("member", "")),
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
    def drawing_key(self) -> str:
        """Everything the drawn fields depend on besides the language: the values given
        (an invalid one shows its error) and the members and models offered."""
        given = [(name, self.data.getlist(name)) for name in self.fields] if self.is_bound else []
        models = [name for name, _label in self.fields["model"].choices]
        return repr((given, list(self.members), models))

    @property
    def is_active(self) -> bool:
        return any(self.criteria().values())


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
