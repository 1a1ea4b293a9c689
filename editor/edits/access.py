"""The one way views reach an Edit: it must belong to a team the person is in.

Anything else is 404, so another team's edits (and their files) are invisible rather
than forbidden. Write access is then checked against the membership's role.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from editor.teams.models import Membership
from editor.teams.permissions import Action, can_change_edit

from .models import Edit


def get_edit_for_user(
    request: HttpRequest, pk: int, action: Action = Action.VIEW
) -> tuple[Edit, Membership]:
    if not request.user.is_authenticated:
        raise Http404
    edit = Edit.objects.select_related("created_by", "team").filter(pk=pk).first()
    if edit is None:
        raise Http404("No such edit.")
    membership = Membership.objects.filter(user=request.user, team_id=edit.team_id).first()
    if membership is None:
        raise Http404("No such edit.")
    if action in (Action.CHANGE_OWN_EDIT, Action.CHANGE_ANY_EDIT):
        allowed = can_change_edit(membership, edit)
    else:
        allowed = membership.can(action)
    if not allowed:
        raise PermissionDenied("Your role in this team does not allow that.")
    return edit, membership
