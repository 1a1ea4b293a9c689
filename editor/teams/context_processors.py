from django.http import HttpRequest

from .models import Team
from .permissions import membership_for


def current_team(request: HttpRequest) -> dict:
    """The current membership for the header (team name, role) on every page, and the
    person's teams for the switcher (a callable, so only pages that show the header
    run its query, not htmx fragments)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    user = request.user
    return {
        "membership": membership_for(request),
        "user_teams": lambda: list(Team.objects.for_user(user).order_by("-is_personal", "name")),
    }
