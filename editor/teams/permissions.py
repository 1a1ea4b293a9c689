"""Who may do what: the one module that answers it.

Views never compare roles themselves. They get the current membership through
`membership_for()` and ask `membership.can(Action.X)`, or reach an object through its
one helper (`get_team_for_user`, `get_membership_for_user`, `get_invitation_for_user`,
`get_edit_for_user`, `get_batch_for_user`), all of which go through `_member_of`.
Objects of a team the user is not in are 404, never 403, so their existence is not
revealed; a member whose role does not allow the action gets 403.

Edits are named by their app label ("edits.Edit"), as a ForeignKey to another app
would be, so that this app imports nothing of the edits app: edits depend on teams,
never the other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:
    from editor.edits.models import Batch, Edit

from . import personal
from .models import Invitation, Membership, Profile, Team
from .roles import Action
from .roles import role_allows as role_allows  # asked here too: the one module for rules

NO_TEAM = gettext_lazy(
    "You are not in a team yet. Retouch is invite-only here: ask someone in your team "
    "for an invitation link, or create a team."
)


def can_change_edit(membership: Membership, edit: Edit) -> bool:
    """Owners change any edit of their team; editors only their own."""
    if membership.team_id != edit.team_id:
        return False
    if membership.can(Action.CHANGE_ANY_EDIT):
        return True
    return membership.can(Action.CHANGE_OWN_EDIT) and edit.created_by_id == membership.user_id


class NoTeamYet(PermissionDenied):
    """A signed-in person in no team, where personal teams are off."""


def membership_for(request: HttpRequest) -> Membership:
    """The signed-in user's membership in their current team.

    Falls back to any team they belong to (and remembers it) when the remembered one
    is gone; creates a personal team for a user who somehow has none. Where personal
    teams are off (RETOUCH_PERSONAL_TEAMS=off), shared teams come first and a person
    in no team gets `NoTeamYet` (a 403 saying how to join one).
    """
    user = request.user
    if not user.is_authenticated:
        raise Http404
    cached = getattr(request, "_retouch_membership", None)
    if cached is not None:
        return cached
    listed = personal.are_listed()
    # The usual case in one query: the membership in the team the profile remembers.
    remembered = Membership.objects.select_related("team").filter(
        user=user, team__profile__user=user
    )
    if not listed:
        remembered = remembered.filter(team__is_personal=False)
    membership = remembered.first()
    if membership is None:
        profile, _ = Profile.objects.get_or_create(user=user)
        order = "-team__is_personal" if listed else "team__is_personal"
        membership = (
            Membership.objects.select_related("team")
            .filter(user=user)
            .order_by(order, "team_id")
            .first()
        )
        if membership is None or (membership.team.is_personal and not listed):
            if not personal.are_created():
                raise NoTeamYet(str(NO_TEAM))
            if membership is None:
                Team.objects.create_personal(user)
                membership = Membership.objects.select_related("team").get(user=user)
        profile.current_team = membership.team
        profile.save(update_fields=["current_team"])
    membership.user = user  # the same row; saves loading it again
    request._retouch_membership = membership
    return membership


def _member_of(request: HttpRequest, team_id: int, action: Action) -> Membership:
    """The signed-in user's membership in team `team_id` (with `.team` loaded), if its
    role allows `action`. Not a member (or not signed in): 404, so another team's
    objects stay invisible. A member whose role does not allow it: 403."""
    if not request.user.is_authenticated:
        raise Http404
    membership = (
        Membership.objects.select_related("team").filter(user=request.user, team_id=team_id).first()
    )
    if membership is None:
        raise Http404("Not in this team.")
    if not membership.can(action):
        raise PermissionDenied(_("Your role in this team does not allow that."))
    return membership


def get_team_for_user(
    request: HttpRequest, team_id: int, action: Action = Action.VIEW
) -> Membership:
    """The signed-in user's membership in team `team_id` (with `.team` loaded)."""
    return _member_of(request, team_id, action)


def get_membership_for_user(
    request: HttpRequest, pk: int, action: Action = Action.MANAGE_TEAM
) -> tuple[Membership, Membership]:
    """Someone's membership (the one to change) and the signed-in user's own in the
    same team (the one that allows it)."""
    target = get_object_or_404(Membership.objects.select_related("team", "user"), pk=pk)
    return target, _member_of(request, target.team_id, action)


def get_invitation_for_user(
    request: HttpRequest, pk: int, action: Action = Action.MANAGE_TEAM
) -> tuple[Invitation, Membership]:
    invitation = get_object_or_404(Invitation.objects.select_related("team"), pk=pk)
    return invitation, _member_of(request, invitation.team_id, action)


def get_edit_for_user(
    request: HttpRequest, pk: int, action: Action = Action.VIEW
) -> tuple[Edit, Membership]:
    """An edit of one of the user's teams, and their membership there. Changing an edit
    (`CHANGE_OWN_EDIT`, `CHANGE_ANY_EDIT`) also asks whose edit it is."""
    return _created_in_team(request, "Edit", pk, action)


def get_batch_for_user(
    request: HttpRequest, pk: int, action: Action = Action.VIEW
) -> tuple[Batch, Membership]:
    """A batch of one of the user's teams, and their membership there; changing it (retry,
    delete) follows the edits' rule: editors their own batches, owners any."""
    return _created_in_team(request, "Batch", pk, action)


def _created_in_team(request: HttpRequest, model: str, pk: int, action: Action) -> tuple:
    """An edits-app object (an Edit or a Batch) of one of the user's teams, and their
    membership there; changing it also asks whose it is (`can_change_edit`)."""
    objects = apps.get_model("edits", model).objects
    obj = get_object_or_404(objects.select_related("created_by", "team"), pk=pk)
    membership = _member_of(request, obj.team_id, action)
    if action in (Action.CHANGE_OWN_EDIT, Action.CHANGE_ANY_EDIT) and not can_change_edit(
        membership, obj
    ):
        raise PermissionDenied(_("Your role in this team does not allow that."))
    return obj, membership


def get_invitation_by_token(token: str) -> Invitation:
    """The invitation a link points at, for anyone holding the link (signed in or
    not): the unguessable token is the permission. Unknown tokens are 404."""
    return get_object_or_404(Invitation.objects.select_related("team", "created_by"), token=token)
