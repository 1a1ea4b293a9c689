"""The roles a member can have and what each allows: the table permissions.py asks.

Kept apart from the models so that a membership can answer `can(action)` and the
permissions module can read memberships without the two importing each other.
"""

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    EDITOR = "editor", _("Editor")
    VIEWER = "viewer", _("Viewer")


class Action(StrEnum):
    VIEW = "view"  # see the gallery, details, download
    CREATE_EDIT = "create_edit"  # start an edit, edit a result further
    PICK_RESULT = "pick_result"  # choose which of an edit's results the team uses
    CHANGE_OWN_EDIT = "change_own_edit"  # retry or delete one's own edits (starring is VIEW)
    CHANGE_ANY_EDIT = "change_any_edit"  # retry or delete anyone's edits in the team
    MANAGE_TEAM = "manage_team"  # members, roles, invitations, budget, activity log


ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.VIEW}),
    Role.EDITOR: frozenset(
        {Action.VIEW, Action.CREATE_EDIT, Action.PICK_RESULT, Action.CHANGE_OWN_EDIT}
    ),
    Role.OWNER: frozenset(Action),
}


def role_allows(role: str, action: str) -> bool:
    return action in ROLE_ACTIONS.get(role, frozenset())
