"""What personal teams may do, as staff decide it in the settings.

`RETOUCH_PERSONAL_TEAMS`: `edit` (people edit in their own team, the default), `view`
(personal teams keep their gallery but cannot start edits: the organisation's key is
spent only in shared teams), `off` (no personal team is made for new people; existing
ones are hidden from the team switcher and cannot start edits either).
`RETOUCH_PERSONAL_BUDGET_USD`: the monthly budget a new personal team starts with
(empty: none); staff change it per team in the admin.
"""

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

EDIT, VIEW, OFF = "edit", "view", "off"
MODES = (EDIT, VIEW, OFF)

REFUSAL = _(
    "Personal teams can look but not start edits here. "
    "Switch to a shared team, or ask someone in your team for an invitation link."
)


def mode() -> str:
    value = str(settings.RETOUCH_PERSONAL_TEAMS or EDIT).strip().lower()
    if value not in MODES:
        raise ImproperlyConfigured(f"RETOUCH_PERSONAL_TEAMS={value!r}: use edit, view or off.")
    return value


def may_edit() -> bool:
    """Whether personal teams may start edits (spend the organisation's key)."""
    return mode() == EDIT


def are_created() -> bool:
    return mode() != OFF


def are_listed() -> bool:
    return mode() != OFF


def default_budget() -> Decimal | None:
    value = settings.RETOUCH_PERSONAL_BUDGET_USD
    if value in (None, ""):
        return None
    try:
        budget = Decimal(str(value))
    except InvalidOperation:
        raise ImproperlyConfigured(
            f"RETOUCH_PERSONAL_BUDGET_USD={value!r}: use a number of US dollars."
        ) from None
    if budget < 0:
        raise ImproperlyConfigured("RETOUCH_PERSONAL_BUDGET_USD cannot be negative.")
    return budget
