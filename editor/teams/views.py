from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .emails import send_invitation
from .forms import (
    FirstAdminForm,
    InvitationForm,
    JoinSignInForm,
    JoinSignUpForm,
    RoleForm,
    SignUpForm,
    TeamBudgetForm,
    TeamNameForm,
)
from .models import (
    Activity,
    Invitation,
    InvitationUnusable,
    Membership,
    Profile,
    Role,
    Team,
    TeamRuleError,
)
from .permissions import (
    Action,
    get_invitation_by_token,
    get_invitation_for_user,
    get_membership_for_user,
    get_team_for_user,
)

ACTIVITY_PAGE_SIZE = 50
# People who sign up here are signed in with the username and password they chose.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


# Any fixed number that no other advisory lock in Retouch uses.
FIRST_ADMIN_LOCK = 7_265_746_001


def needs_first_admin() -> bool:
    return not get_user_model().objects.exists()


def create_first_admin(form: FirstAdminForm):
    """The first administrator from a valid form, or None when someone else became
    the first one meanwhile.

    Two people sending the form on a fresh install must not both become administrator,
    and no row exists yet to lock. SQLite's IMMEDIATE transactions already take the
    database's write lock when they begin; on PostgreSQL a transaction-level advisory
    lock does the same for this one check, and is released by the commit or rollback
    (so a pooled connection never keeps it).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FIRST_ADMIN_LOCK])
        if not needs_first_admin():
            return None
        return form.save()


def setup(request: HttpRequest) -> HttpResponse:
    """Offered once, on a fresh database: create the first administrator."""
    if not needs_first_admin():
        raise Http404("Retouch is already set up.")
    form = FirstAdminForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = create_first_admin(form)
        if user is None:
            raise Http404("Retouch is already set up.")
        login(request, user, backend=MODEL_BACKEND)
        return redirect("home")
    return render(request, "teams/setup.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = "teams/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request, *args, **kwargs):
        if needs_first_admin():
            return redirect("setup")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | {"open_signup": settings.RETOUCH_OPEN_SIGNUP}


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Self sign-up, only when RETOUCH_OPEN_SIGNUP is on; otherwise people arrive
    through an invitation link (see `invitation_join`)."""
    if not settings.RETOUCH_OPEN_SIGNUP:
        # Not a bare "Nothing here": someone who found the page needs to hear how to get in.
        return render(request, "teams/invite_only.html", status=403)
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend=MODEL_BACKEND)
        messages.success(request, _("Welcome to Retouch! This is your own team's gallery."))
        return redirect("home")
    return render(request, "teams/signup.html", {"form": form})


# --- Teams --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamNameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = Team.objects.create_for(request.user, form.cleaned_data["name"])
        messages.success(
            request,
            _("Team “%(team)s” created. Invite people from its Invitations page.")
            % {"team": team.name},
        )
        return redirect("home")
    return render(request, "teams/team_form.html", {"form": form})


@login_required
@require_POST
def team_switch(request: HttpRequest) -> HttpResponse:
    team_id = request.POST.get("team", "")
    if not team_id.isdigit():
        raise Http404("No such team.")
    membership = get_team_for_user(request, int(team_id))
    Profile.remember(request.user, membership.team)
    messages.success(
        request, _("You are now working in “%(team)s”.") % {"team": membership.team.name}
    )
    return redirect("home")


def _members_page(
    request: HttpRequest, membership: Membership, posted: forms.Form | None = None
) -> HttpResponse:
    """The members page; `posted` is an owner's form that came back with errors (400),
    shown in place of its blank twin."""
    team = membership.team
    context = {
        "team": team,
        "acting": membership,
        "members": team.memberships.select_related("user").order_by("user__username"),
        "roles": Role.choices,
        "rename_form": TeamNameForm(initial={"name": team.name}),
        "budget_form": TeamBudgetForm(initial={"monthly_budget_usd": team.monthly_budget_usd}),
        "can_leave": not team.is_personal_team_of(request.user.pk),
    }
    if posted is not None:
        context["rename_form" if isinstance(posted, TeamNameForm) else "budget_form"] = posted
    return render(request, "teams/members.html", context, status=200 if posted is None else 400)


@login_required
@require_GET
def team_members(request: HttpRequest, team_id: int) -> HttpResponse:
    return _members_page(request, get_team_for_user(request, team_id))


def _apply_owners_form(request: HttpRequest, team_id: int, form_class) -> HttpResponse:
    """The members page's owner-only forms (rename, budget): errors go back to the page
    next to the field; a valid form changes the team and says so."""
    membership = get_team_for_user(request, team_id, Action.MANAGE_TEAM)
    form = form_class(request.POST)
    if not form.is_valid():
        return _members_page(request, membership, posted=form)
    messages.success(request, form.apply(membership.team, by=request.user))
    return redirect("team_members", team_id=team_id)


@login_required
@require_POST
def team_rename(request: HttpRequest, team_id: int) -> HttpResponse:
    return _apply_owners_form(request, team_id, TeamNameForm)


@login_required
@require_POST
def team_budget(request: HttpRequest, team_id: int) -> HttpResponse:
    return _apply_owners_form(request, team_id, TeamBudgetForm)


@login_required
@require_POST
def team_leave(request: HttpRequest, team_id: int) -> HttpResponse:
    membership = get_team_for_user(request, team_id)
    try:
        membership.leave()
    except TeamRuleError as exc:
        messages.error(request, str(exc))
        return redirect("team_members", team_id=team_id)
    messages.success(request, _("You left “%(team)s”.") % {"team": membership.team.name})
    return redirect("home")


@login_required
@require_POST
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    target, _acting = get_membership_for_user(request, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose owner, editor or viewer."))
    else:
        try:
            target.change_role(form.cleaned_data["role"], by=request.user)
        except TeamRuleError as exc:
            messages.error(request, str(exc))
        else:
            name = target.user.get_username()
            role = target.get_role_display().lower()
            messages.success(request, _("%(name)s is now %(role)s.") % {"name": name, "role": role})
    return redirect("team_members", team_id=target.team_id)


@login_required
@require_POST
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    target, _acting = get_membership_for_user(request, pk)
    try:
        if target.user_id == request.user.pk:
            target.leave()
        else:
            target.remove(by=request.user)
    except TeamRuleError as exc:
        messages.error(request, str(exc))
        return redirect("team_members", team_id=target.team_id)
    if target.user_id == request.user.pk:
        messages.success(request, _("You left “%(team)s”.") % {"team": target.team.name})
        return redirect("home")
    messages.success(
        request, _("%(name)s is no longer in the team.") % {"name": target.user.get_username()}
    )
    return redirect("team_members", team_id=target.team_id)


# --- Invitations ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def team_invitations(request: HttpRequest, team_id: int) -> HttpResponse:
    membership = get_team_for_user(request, team_id, Action.MANAGE_TEAM)
    team = membership.team
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        invitation = Invitation.objects.create_for(team, by=request.user, **form.cleaned_data)
        text = _("Invitation created. Copy its link below and send it to the person you invite.")
        if invitation.email:
            address = {"email": invitation.email}
            if send_invitation(invitation):
                text = _("Invitation created and e-mailed to %(email)s. Its link is below.")
            else:
                text = _(
                    "Invitation created, but the e-mail to %(email)s could not be "
                    "sent. Copy the link below and send it yourself."
                )
            text %= address
        messages.success(request, text)
        return redirect("team_invitations", team_id=team.pk)
    pending = team.invitations.usable().select_related("created_by")
    context = {"team": team, "form": form, "pending": pending}
    return render(request, "teams/invitations.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    invitation, _acting = get_invitation_for_user(request, pk)
    if invitation.revoke(by=request.user):
        messages.success(request, _("Invitation cancelled: its link no longer works."))
    else:
        messages.info(request, _("That invitation was already used, cancelled or expired."))
    return redirect("team_invitations", team_id=invitation.team_id)


@require_http_methods(["GET", "POST"])
def invitation_join(request: HttpRequest, token: str) -> HttpResponse:
    """Where an invitation link lands. Signed in: one button to join. Not signed in:
    create an account or sign in, and join in the same step. Joining is always a
    POST, so merely opening (or previewing) a link never uses it up. An invitation
    sent to an address is only for the account with that address: anyone else
    signed in gets a plain message (403), and the forms refuse other addresses."""
    invitation = get_invitation_by_token(token)
    user = request.user
    already = (
        user.is_authenticated
        and Membership.objects.filter(team_id=invitation.team_id, user=user).exists()
    )
    refusal = invitation.refusal_for(user) if user.is_authenticated and not already else ""
    signup_form = JoinSignUpForm(prefix="signup", invitation=invitation)
    signin_form = JoinSignInForm(request, prefix="signin", invitation=invitation)
    usable = already or not invitation.problem
    if request.method == "POST" and usable and not refusal:
        intent = request.POST.get("intent")
        if user.is_authenticated:
            return _accept(request, invitation, user, already=already)
        if intent == "signup":
            signup_form = JoinSignUpForm(request.POST, prefix="signup", invitation=invitation)
            if signup_form.is_valid():
                return _sign_up_and_accept(request, invitation, signup_form)
        elif intent == "signin":
            signin_form = JoinSignInForm(
                request, request.POST, prefix="signin", invitation=invitation
            )
            if signin_form.is_valid():
                login(request, signin_form.get_user())
                return _accept(request, invitation, signin_form.get_user())
    context = {
        "invitation": invitation,
        "already": already,
        "refusal": refusal,
        "signup_form": signup_form,
        "signin_form": signin_form,
    }
    status = 410 if not usable else 403 if refusal else 400 if request.method == "POST" else 200
    return render(request, "teams/join.html", context, status=status)


def _accept(
    request: HttpRequest, invitation: Invitation, user, *, already: bool = False
) -> HttpResponse:
    try:
        invitation.accept(user)
    except InvitationUnusable as exc:
        messages.error(request, str(exc))
        return redirect("home")
    team = {"team": invitation.team.name}
    if already:
        messages.info(request, _("You are already in “%(team)s”.") % team)
    else:
        messages.success(request, _("Welcome to “%(team)s”!") % team)
    return redirect("home")


def _sign_up_and_accept(
    request: HttpRequest, invitation: Invitation, form: JoinSignUpForm
) -> HttpResponse:
    try:
        with transaction.atomic():  # no new account without the membership it was made for
            user = form.save()
            invitation.accept(user)
    except InvitationUnusable as exc:
        messages.error(request, str(exc))
        return redirect("login")
    login(request, user, backend=MODEL_BACKEND)
    messages.success(
        request, _("Welcome to Retouch and to “%(team)s”!") % {"team": invitation.team.name}
    )
    return redirect("home")


# --- Activity -------------------------------------------------------------------------


@login_required
@require_GET
def team_activity(request: HttpRequest, team_id: int) -> HttpResponse:
    membership = get_team_for_user(request, team_id, Action.MANAGE_TEAM)
    entries = Activity.objects.for_team(membership.team)
    page = Paginator(entries, ACTIVITY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "teams/activity.html", {"team": membership.team, "page": page})
