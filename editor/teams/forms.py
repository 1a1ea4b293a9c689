from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .models import Invitation, Role, Team, format_usd


class FirstAdminForm(UserCreationForm):
    """The very first account: a staff superuser who can then invite the team."""

    email = forms.EmailField(
        required=False, help_text=gettext_lazy("Optional. Used for invitations.")
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def save(self, commit: bool = True):
        user = super().save(commit=False)
        user.is_staff = True
        user.is_superuser = True
        if commit:
            user.save()
        return user


class PlainLabels:
    """Labels without Django's trailing colon, like the edit form's."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class SignUpForm(PlainLabels, UserCreationForm):
    """A new account: a username and a password, nothing else required."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)


class SignInForm(PlainLabels, AuthenticationForm):
    pass


class JoinSignUpForm(SignUpForm):
    """Sign-up on an invitation's page. An invitation sent to an address makes the
    account with that address: the person types it, and it must be the invited one.
    The page shows it only masked, since anyone holding the link sees the page.
    Link-only invitations ask for no address, as before."""

    email = forms.EmailField(label=gettext_lazy("E-mail"))

    class Meta(SignUpForm.Meta):
        fields = ("username", "email")

    def __init__(self, *args, invitation: Invitation, **kwargs):
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        if invitation.email:
            self.fields["email"].help_text = _(
                "The address this invitation was sent to (%(address)s)."
            ) % {"address": invitation.masked_email}
        else:
            del self.fields["email"]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if not self.invitation.is_for_address(email):
            raise forms.ValidationError(
                _(
                    "This invitation was sent to %(address)s. Use that address, "
                    "or ask for a new link."
                ),
                code="wrong_address",
                params={"address": self.invitation.masked_email},
            )
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("This address already has an account. Sign in with it instead."),
                code="address_taken",
            )
        return email


class JoinSignInForm(SignInForm):
    """Sign-in on an invitation's page: an invitation sent to an address takes only the
    account with that address (Invitation.refusal_for), so nobody else is signed in."""

    def __init__(self, request, *args, invitation: Invitation, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.invitation = invitation

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        refusal = self.invitation.refusal_for(user)
        if refusal:
            raise forms.ValidationError(refusal, code="wrong_account")


class TeamNameForm(PlainLabels, forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Team name"),
        max_length=100,
        error_messages={"required": gettext_lazy("Give the team a name.")},
    )

    def apply(self, team: Team, by) -> str:
        """Rename `team`; what to tell the owner."""
        team.rename(self.cleaned_data["name"], by=by)
        return _("The team is now called “%(team)s”.") % {"team": team.name}


class TeamBudgetForm(PlainLabels, forms.Form):
    monthly_budget_usd = forms.DecimalField(
        label=gettext_lazy("Monthly budget (US dollars)"),
        required=False,
        min_value=0,
        max_digits=10,
        decimal_places=2,
        help_text=gettext_lazy(
            "New edits pause once this calendar month's estimated cost reaches it. "
            "Leave empty for no budget."
        ),
        error_messages={
            "invalid": gettext_lazy("Enter an amount in dollars, such as 50 or 12.50."),
            "min_value": gettext_lazy("The budget cannot be negative."),
            "max_decimal_places": gettext_lazy(
                "Use at most two digits after the point (whole cents)."
            ),
            "max_digits": gettext_lazy("That is more than Retouch can keep track of."),
            "max_whole_digits": gettext_lazy("That is more than Retouch can keep track of."),
        },
    )

    def apply(self, team: Team, by) -> str:
        """Set `team`'s budget; what to tell the owner."""
        team.set_budget(self.cleaned_data["monthly_budget_usd"], by=by)
        if team.monthly_budget_usd is None:
            return _("“%(team)s” has no monthly budget now.") % {"team": team.name}
        return _("The monthly budget of “%(team)s” is now %(amount)s.") % {
            "team": team.name,
            "amount": format_usd(team.monthly_budget_usd),
        }


class InvitationForm(PlainLabels, forms.Form):
    role = forms.ChoiceField(
        label=gettext_lazy("Role"),
        choices=[
            (Role.EDITOR, gettext_lazy("Editor: can start edits and delete their own")),
            (Role.VIEWER, gettext_lazy("Viewer: can look and download")),
            (Role.OWNER, gettext_lazy("Owner: can also manage members and invitations")),
        ],
        initial=Role.EDITOR,
    )
    days = forms.TypedChoiceField(
        label=gettext_lazy("The link works for"),
        choices=[(days, days) for days in Invitation.EXPIRY_DAYS],  # labels: __init__
        coerce=int,
        initial=7,
    )
    email = forms.EmailField(
        label=gettext_lazy("E-mail (optional)"),
        required=False,
        help_text=gettext_lazy(
            "With an address, only the account with that address can use the link; "
            "without one, anyone holding the link can. We e-mail the link there too."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # In the language of this request ("7 days", "7 天").
        self.fields["days"].choices = [
            (days, ngettext("%(count)d day", "%(count)d days", days) % {"count": days})
            for days in Invitation.EXPIRY_DAYS
        ]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)
