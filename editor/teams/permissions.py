"""Who may do what: the one module that answers it.

Views never compare roles themselves. They get the current membership through
`membership_for()` and ask `membership.can(Action.X)` (or the object helpers in each
app, which call into here). Objects of a team the user is not in are 404, never 403,
so their existence is not revealed.
"""

from enum import StrEnum

from django.http import Http404, HttpRequest

from .models import Membership, Profile, Role, Team


class Action(StrEnum):
    VIEW = "view"  # see the gallery, details, download
    CREATE_EDIT = "create_edit"  # start, retry, iterate
    CHANGE_OWN_EDIT = "change_own_edit"  # delete or star one's own edits
    CHANGE_ANY_EDIT = "change_any_edit"  # delete anyone's edits
    MANAGE_TEAM = "manage_team"  # members, roles, invitations, activity log


ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.VIEW}),
    Role.EDITOR: frozenset({Action.VIEW, Action.CREATE_EDIT, Action.CHANGE_OWN_EDIT}),
    Role.OWNER: frozenset(Action),
}


def role_allows(role: str, action: str) -> bool:
    return action in ROLE_ACTIONS.get(role, frozenset())


def can_change_edit(membership: Membership, edit) -> bool:
    """Owners change any edit of their team; editors only their own."""
    if membership.team_id != edit.team_id:
        return False
    if membership.can(Action.CHANGE_ANY_EDIT):
        return True
    return membership.can(Action.CHANGE_OWN_EDIT) and edit.created_by_id == membership.user_id


def membership_for(request: HttpRequest) -> Membership:
    """The signed-in user's membership in their current team.

    Falls back to any team they belong to (and remembers it) when the remembered one
    is gone; creates a personal team for a user who somehow has none.
    """
    user = request.user
    if not user.is_authenticated:
        raise Http404
    cached = getattr(request, "_retouch_membership", None)
    if cached is not None:
        return cached
    profile, _ = Profile.objects.get_or_create(user=user)
    membership = None
    if profile.current_team_id:
        membership = (
            Membership.objects.select_related("team")
            .filter(user=user, team_id=profile.current_team_id)
            .first()
        )
    if membership is None:
        membership = (
            Membership.objects.select_related("team")
            .filter(user=user)
            .order_by("-team__is_personal", "team_id")
            .first()
        )
        if membership is None:
            Team.objects.create_personal(user)
            membership = Membership.objects.select_related("team").get(user=user)
        profile.current_team = membership.team
        profile.save(update_fields=["current_team"])
    request._retouch_membership = membership
    return membership
