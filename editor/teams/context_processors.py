from django.http import HttpRequest

from .permissions import membership_for


def current_team(request: HttpRequest) -> dict:
    """The current membership for the header (team name, role) on every page."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"membership": membership_for(request)}
