from django.http import HttpRequest

from . import personal
from .models import Team
from .permissions import NoTeamYet, membership_for


def current_team(request: HttpRequest) -> dict:
    """The current membership for the header (team name, role) on every page, and the
    person's teams for the switcher (a callable, so only pages that show the header
    run its query, not htmx fragments)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    user = request.user
    try:
        membership = membership_for(request)
    except NoTeamYet:
        membership = None
    teams = Team.objects.for_user(user)
    if not personal.are_listed():
        teams = teams.filter(is_personal=False)
    return {
        "membership": membership,
        "user_teams": lambda: list(teams.order_by("-is_personal", "name")),
    }
