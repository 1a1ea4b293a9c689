"""Teams own everything: every edit belongs to a team, and people reach it through a
membership whose role says what they may do (see permissions.py)."""

from django.conf import settings
from django.db import models, transaction
from django.db.models import QuerySet


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


class TeamQuerySet(QuerySet):
    def for_user(self, user) -> "TeamQuerySet":
        return self.filter(memberships__user=user)


class TeamManager(models.Manager.from_queryset(TeamQuerySet)):
    @transaction.atomic
    def create_personal(self, user) -> "Team":
        """Every person starts with a team of their own, so nothing they make is ever
        owned by a user alone."""
        name = f"{user.get_short_name() or user.get_username()}'s team"
        team = self.create(name=name[:100], is_personal=True, created_by=user)
        Membership.objects.create(team=team, user=user, role=Role.OWNER)
        return team


class Team(models.Model):
    name = models.CharField(max_length=100)
    is_personal = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TeamManager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(QuerySet):
    def owners(self) -> "MembershipQuerySet":
        return self.filter(role=Role.OWNER)


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="unique_membership"),
        ]
        ordering = ["team", "user"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_create_edits(self) -> bool:
        from .permissions import Action

        return self.can(Action.CREATE_EDIT)

    def can(self, action: str) -> bool:
        from .permissions import role_allows

        return role_allows(self.role, action)


class Profile(models.Model):
    """Per-person preferences that outlive a session, such as the team last worked in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    current_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return f"Profile of {self.user}"
