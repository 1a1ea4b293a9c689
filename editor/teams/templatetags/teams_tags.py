from django import template

from editor.teams.models import format_usd
from editor.teams.permissions import can_change_edit

register = template.Library()


@register.filter
def can_change(membership, edit) -> bool:
    """`{% if membership|can_change:edit %}`: the rule of permissions.can_change_edit,
    for showing a Delete button only to those who may use it. No queries."""
    return membership is not None and can_change_edit(membership, edit)


@register.filter
def usd(amount, places: int = 2) -> str:
    """`{{ cost|usd }}` → `$12.50` (`$50` for whole dollars); `{{ cost|usd:4 }}` →
    `$0.0625`, for single edits that cost fractions of a cent. Empty for no amount."""
    return format_usd(amount, places)


@register.filter
def minutes(duration) -> int:
    """`{{ cooloff_timedelta|minutes }}`: a timedelta in whole minutes (rounded), a number
    that `{% blocktranslate count %}` can choose the plural by."""
    return round(duration.total_seconds() / 60)
