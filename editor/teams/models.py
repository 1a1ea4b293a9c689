"""Teams own everything: every edit belongs to a team, and people reach it through a
membership whose role says what they may do (see permissions.py). People join a team
through an invitation link; owners see what happened in the team's activity log."""

import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import personal
from .roles import Action, Role, role_allows


class TeamRuleError(Exception):
    """A change the team's rules refuse (the last owner leaving, say), in plain words
    that can be shown to the person as they are."""


class TeamQuerySet(QuerySet):
    def for_user(self, user) -> "TeamQuerySet":
        return self.filter(memberships__user=user)


class TeamManager(models.Manager.from_queryset(TeamQuerySet)):
    @transaction.atomic
    def create_personal(self, user) -> "Team":
        """Every person starts with a team of their own, so nothing they make is ever
        owned by a user alone."""
        # In the language of the page where the account was made.
        name = _("%(name)s's team") % {"name": user.get_short_name() or user.get_username()}
        team = self.create(
            name=name[:100],
            is_personal=True,
            created_by=user,
            monthly_budget_usd=personal.default_budget(),
        )
        Membership.objects.create(team=team, user=user, role=Role.OWNER)
        return team

    @transaction.atomic
    def create_for(self, user, name: str) -> "Team":
        """A shared team: its creator is the first owner and starts working in it."""
        team = self.create(name=name[:100], created_by=user)
        Membership.objects.create(team=team, user=user, role=Role.OWNER)
        Profile.remember(user, team)
        Activity.objects.record(team, user, Activity.Verb.TEAM_CREATED, team.name)
        return team


class Team(models.Model):
    name = models.CharField(max_length=100)
    is_personal = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Estimated US dollars the team may spend per calendar month; empty means no limit.
    # Once this month's estimated spend reaches it, new edits and retries are refused
    # (editor/edits/limits.py).
    monthly_budget_usd = models.DecimalField(
        gettext_lazy("monthly budget (US dollars)"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
    )

    objects = TeamManager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def is_personal_team_of(self, user_id: int) -> bool:
        """A person's own team stays theirs: they cannot leave it, be removed or demoted."""
        return self.is_personal and self.created_by_id == user_id

    @transaction.atomic
    def rename(self, name: str, *, by) -> None:
        old, self.name = self.name, name[:100]
        if old == self.name:
            return
        self.save(update_fields=["name"])
        Activity.objects.record(self, by, Activity.Verb.TEAM_RENAMED, f"{old} → {self.name}")

    @transaction.atomic
    def set_budget(self, amount: Decimal | None, *, by) -> None:
        """Set (or, with None, remove) the monthly budget, and say so in the log."""
        old, self.monthly_budget_usd = self.monthly_budget_usd, amount
        if old == amount:
            return
        self.save(update_fields=["monthly_budget_usd"])
        summary = f"{describe_budget(old)} → {describe_budget(amount)}"
        Activity.objects.record(self, by, Activity.Verb.BUDGET_CHANGED, summary)


def format_usd(amount, places: int = 2) -> str:
    """US dollars as the active language writes them: `$12.50`, `$50` (whole dollars drop
    their cents when `places` is 2), `$1,200`; in Chinese `US$12.50`. Empty for none.
    The one money formatter: templates (the `usd` filter), budgets and refusals use it."""
    if amount is None or amount == "":
        return ""
    places = int(places)
    amount = Decimal(amount).quantize(Decimal(10) ** -places)
    if places == 2 and amount == amount.to_integral_value():
        places = 0
    number = formats.number_format(amount, decimal_pos=places, force_grouping=True)
    return _("$%(amount)s") % {"amount": number}


def describe_budget(amount: Decimal | None) -> str:
    if amount is None:
        return _("no budget")
    return _("%(amount)s a month") % {"amount": format_usd(amount)}


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
        return self.can(Action.CREATE_EDIT)

    @property
    def can_manage_team(self) -> bool:
        return self.can(Action.MANAGE_TEAM)

    def can(self, action: str) -> bool:
        return role_allows(self.effective_role, action)

    @property
    def effective_role(self) -> str:
        """The role the rules apply: in a personal team that staff let look but not
        spend (RETOUCH_PERSONAL_TEAMS `view` or `off`), an owner acts as a viewer."""
        if self.team.is_personal and not personal.may_edit():
            return Role.VIEWER
        return self.role

    @property
    def edit_refusal(self) -> str:
        """Why this member may not start edits, in plain words; empty when they may."""
        if self.can(Action.CREATE_EDIT):
            return ""
        if self.team.is_personal and not personal.may_edit():
            return str(personal.REFUSAL)
        return _("Viewers can look and download, but not start edits.")

    @transaction.atomic
    def change_role(self, role: str, *, by) -> None:
        if role == self.role:
            return
        name = self.user.get_username()
        if self.role == Role.OWNER:
            if self.team.is_personal_team_of(self.user_id):
                raise TeamRuleError(
                    _("“%(team)s” is %(name)s's personal team: they stay its owner.")
                    % {"team": self.team, "name": name}
                )
            self._require_another_owner(
                _("%(name)s is the last owner of “%(team)s”. Make someone else an owner first.")
                % {"name": name, "team": self.team}
            )
        old = self.get_role_display()
        self.role = role
        self.save(update_fields=["role"])
        summary = f"{name}: {old} → {self.get_role_display()}"
        Activity.objects.record(self.team, by, Activity.Verb.ROLE_CHANGED, summary)

    @transaction.atomic
    def leave(self) -> None:
        if self.team.is_personal_team_of(self.user_id):
            raise TeamRuleError(_("This is your personal team: it stays with you."))
        if self.role == Role.OWNER:
            self._require_another_owner(
                _(
                    "You are the last owner of “%(team)s”. Make someone else an owner first, "
                    "then leave."
                )
                % {"team": self.team}
            )
        self._end()
        Activity.objects.record(self.team, self.user, Activity.Verb.MEMBER_LEFT)

    @transaction.atomic
    def remove(self, *, by) -> None:
        name = self.user.get_username()
        if self.team.is_personal_team_of(self.user_id):
            raise TeamRuleError(
                _("“%(team)s” is %(name)s's personal team: they cannot be removed.")
                % {"team": self.team, "name": name}
            )
        if self.role == Role.OWNER:
            self._require_another_owner(
                _("%(name)s is the last owner of “%(team)s”. Make someone else an owner first.")
                % {"name": name, "team": self.team}
            )
        self._end()
        Activity.objects.record(self.team, by, Activity.Verb.MEMBER_REMOVED, name)

    def _require_another_owner(self, message: str) -> None:
        """Every team keeps at least one owner. The owners' rows are locked so that two
        owners demoting each other at the same moment cannot both succeed."""
        owners = Membership.objects.select_for_update().filter(team_id=self.team_id).owners()
        if not [owner for owner in owners if owner.pk != self.pk]:
            raise TeamRuleError(message)

    def _end(self) -> None:
        self.delete()
        # Forget the team as the person's current one; membership_for() picks another.
        Profile.objects.filter(user_id=self.user_id, current_team_id=self.team_id).update(
            current_team=None
        )


class Profile(models.Model):
    """Per-person preferences that outlive a session, such as the team last worked in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    current_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    # Whether the edit form's "More options" starts open: closed for newcomers, who need
    # only the photos, the words and the model; remembered once someone opens it.
    shows_more_options = models.BooleanField(default=False)
    # The language chosen with the header's switch ("" = follow the browser).
    language = models.CharField(max_length=16, blank=True, default="")

    def __str__(self) -> str:
        return f"Profile of {self.user}"

    @classmethod
    def shows_more_options_for(cls, user) -> bool:
        return cls.objects.filter(user=user, shows_more_options=True).exists()

    @classmethod
    def remember_more_options(cls, user, shown: bool) -> None:
        cls.objects.update_or_create(user=user, defaults={"shows_more_options": shown})

    @classmethod
    def remember(cls, user, team: Team) -> None:
        """Make `team` the one this person works in from now on (kept across sign-ins)."""
        cls.objects.update_or_create(user=user, defaults={"current_team": team})


def _new_invitation_token() -> str:
    return secrets.token_urlsafe(32)


class InvitationUnusable(TeamRuleError):
    pass


class InvitationQuerySet(QuerySet):
    def usable(self) -> "InvitationQuerySet":
        return self.filter(
            used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )


class InvitationManager(models.Manager.from_queryset(InvitationQuerySet)):
    @transaction.atomic
    def create_for(
        self, team: Team, *, by, role: str, email: str = "", days: int = 7
    ) -> "Invitation":
        invitation = self.create(
            team=team,
            role=role,
            email=email,
            created_by=by,
            expires_at=timezone.now() + timedelta(days=days),
        )
        summary = invitation.describe()
        Activity.objects.record(team, by, Activity.Verb.INVITATION_CREATED, summary)
        return invitation


class Invitation(models.Model):
    """A link that lets one person join a team with a given role.

    Without an e-mail address the token is the only secret: anyone holding the link may
    use it, once, until it expires or an owner revokes it. With one, only the account
    with that address may use it (`refusal_for`), because an e-mailed link is easily
    forwarded or leaked. Owners can see the link again while it is pending, so the token
    is kept as it is rather than hashed.
    """

    EXPIRY_DAYS = (1, 7, 30)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    email = models.EmailField(blank=True)
    token = models.CharField(
        max_length=64, unique=True, default=_new_invitation_token, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationManager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Invitation to {self.team} as {self.role}"

    def get_absolute_url(self) -> str:
        return reverse("invitation_join", args=[self.token])

    def describe(self) -> str:
        """`Editor, for ann@example.com`: the activity log's summary of this invitation."""
        role = self.get_role_display()
        if not self.email:
            return role
        return _("%(role)s, for %(email)s") % {"role": role, "email": self.email}

    @property
    def link(self) -> str:
        """The full address to send, on the public host rather than whatever host the
        owner happened to use."""
        return settings.PUBLIC_URL + self.get_absolute_url()

    @property
    def problem(self) -> str:
        """Why this link no longer works, in words for the person holding it; empty
        while it still works."""
        if self.revoked_at:
            return _("This invitation was cancelled by the team's owner.")
        if self.used_at:
            return _("This invitation has already been used. Each link works only once.")
        if self.expires_at <= timezone.now():
            return _("This invitation has expired.")
        return ""

    @property
    def masked_email(self) -> str:
        """`n…@example.com`: enough for the person it was sent to to recognise their
        address, not enough for a stranger holding the link to learn it."""
        local, _, domain = self.email.partition("@")
        return f"{local[:1]}…@{domain}"

    def is_for_address(self, address: str) -> bool:
        """Whether an account with `address` may use this link: any address for a
        link-only invitation, otherwise only the invited one, whatever its case."""
        return not self.email or self.email.strip().casefold() == address.strip().casefold()

    def refusal_for(self, user) -> str:
        """Why `user` may not use this still-working link, in plain words that do not
        give the address away; empty when they may. Someone already in the team may
        always open it: that only switches them to the team."""
        if self.is_for_address(user.email):
            return ""
        if Membership.objects.filter(team_id=self.team_id, user=user).exists():
            return ""
        return _(
            "This invitation was sent to %(address)s. Sign in with that address's "
            "account, or ask for a new link."
        ) % {"address": self.masked_email}

    @transaction.atomic
    def revoke(self, *, by) -> bool:
        """False when it was already used, revoked or expired (nothing to cancel)."""
        now = timezone.now()
        revoked = Invitation.objects.filter(pk=self.pk).usable().update(revoked_at=now) == 1
        if revoked:
            self.revoked_at = now
            summary = self.describe()
            Activity.objects.record(self.team, by, Activity.Verb.INVITATION_REVOKED, summary)
        return revoked

    @transaction.atomic
    def accept(self, user) -> Membership:
        """Join the team with the invited role and make it the person's current team.

        Someone already in the team just switches to it; the link stays unused for the
        person it was meant for. An invitation sent to an address refuses every other
        account, whichever page asked. The claim is one conditional UPDATE, so two
        people opening the same link at once cannot both get in.
        """
        refusal = self.refusal_for(user)
        if refusal:
            raise InvitationUnusable(refusal)
        existing = Membership.objects.filter(team_id=self.team_id, user=user).first()
        if existing is not None:
            Profile.remember(user, self.team)
            return existing
        now = timezone.now()
        claimed = Invitation.objects.filter(pk=self.pk).usable().update(used_at=now, used_by=user)
        if not claimed:
            self.refresh_from_db()
            raise InvitationUnusable(self.problem or _("This invitation no longer works."))
        self.used_at, self.used_by = now, user
        membership = Membership.objects.create(team_id=self.team_id, user=user, role=self.role)
        Profile.remember(user, self.team)
        inviter = self.created_by.get_username() if self.created_by else _("a former member")
        role = self.get_role_display()
        used = _("%(role)s, from %(inviter)s") % {"role": role, "inviter": inviter}
        Activity.objects.record(self.team, user, Activity.Verb.INVITATION_USED, used)
        joined = _("as %(role)s") % {"role": role}
        Activity.objects.record(self.team, user, Activity.Verb.MEMBER_JOINED, joined)
        return membership


class ActivityQuerySet(QuerySet):
    def for_team(self, team: Team) -> "ActivityQuerySet":
        return self.filter(team=team)


class ActivityManager(models.Manager.from_queryset(ActivityQuerySet)):
    def record(self, team: Team, actor, verb: str, summary: str = "") -> "Activity":
        return self.create(
            team=team,
            actor=actor,
            actor_name=actor.get_username() if actor else "",
            verb=verb,
            summary=summary[:300],
        )


class Activity(models.Model):
    """One line of a team's history: who did what, and when.

    The actor's name is copied, so the log still says who it was after they leave or
    their account is deleted; edits are described by their prompt for the same reason.
    """

    class Verb(models.TextChoices):
        EDIT_CREATED = "edit_created", gettext_lazy("started an edit")
        EDIT_DELETED = "edit_deleted", gettext_lazy("deleted an edit")
        RESULT_PICKED = "result_picked", gettext_lazy("picked a result")
        PICK_CLEARED = "pick_cleared", gettext_lazy("cleared a pick")
        MEMBER_JOINED = "member_joined", gettext_lazy("joined the team")
        MEMBER_LEFT = "member_left", gettext_lazy("left the team")
        MEMBER_REMOVED = "member_removed", gettext_lazy("removed a member")
        ROLE_CHANGED = "role_changed", gettext_lazy("changed a role")
        INVITATION_CREATED = "invitation_created", gettext_lazy("created an invitation")
        INVITATION_REVOKED = "invitation_revoked", gettext_lazy("cancelled an invitation")
        INVITATION_USED = "invitation_used", gettext_lazy("used an invitation")
        TEAM_CREATED = "team_created", gettext_lazy("created the team")
        TEAM_RENAMED = "team_renamed", gettext_lazy("renamed the team")
        BUDGET_CHANGED = "budget_changed", gettext_lazy("changed the monthly budget")

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="activities")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=30, choices=Verb.choices)
    summary = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ActivityManager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["team", "-created_at"], name="activity_team_recent")]
        verbose_name_plural = gettext_lazy("activities")

    def __str__(self) -> str:
        return f"{self.actor_name or 'someone'} {self.get_verb_display()}"
