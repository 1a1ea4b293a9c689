"""Every URL of the app, for every kind of person, on the objects of one team.

The table below has a row for each URL pattern the resolver knows (walked at test
time, so a new view without a row fails `test_every_url_pattern_has_a_row`). Each row
says what anonymous visitors, a member of another team, and the team's viewer, editor
and owner get, and whether the request may change anything. Excluded: the Django
admin namespace, which has its own staff check (tests/test_admin.py).
"""

from dataclasses import dataclass, field

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.timezone import now

from editor.edits.models import Batch, Edit, Star, Status
from editor.teams.models import Invitation, Membership, Profile, Team

from .factories import (
    Role,
    image_bytes,
    make_edit,
    make_invitation,
    make_studio,
    make_user,
    personal_team,
    upload,
    use_team,
)

pytestmark = pytest.mark.django_db

ACTORS = ("anonymous", "outsider", "viewer", "editor", "owner")
SECRET = "Studio secret: the new logo"
EXCLUDED_NAMESPACES = {"admin"}


@dataclass(frozen=True)
class Outcome:
    status: int
    changes: bool | None = False  # must the request change the database? None: not checked
    to_login: bool = False
    shows_team: bool | None = None  # does the body show the team's edit? None: not checked


LOGIN = Outcome(302, to_login=True)
NOT_FOUND = Outcome(404)
FORBIDDEN = Outcome(403)
READ = Outcome(200)
WROTE = Outcome(302, changes=True)
REFUSED = Outcome(302, changes=False)  # a rule said no (redirect with a message)


def members(read: Outcome = READ) -> dict:
    return {
        "anonymous": LOGIN,
        "outsider": NOT_FOUND,
        "viewer": read,
        "editor": read,
        "owner": read,
    }


def editors(ok: Outcome) -> dict:
    return members() | {"viewer": FORBIDDEN, "editor": ok, "owner": ok}


def owners(ok: Outcome) -> dict:
    return members() | {"viewer": FORBIDDEN, "editor": FORBIDDEN, "owner": ok}


def joining(outsider: Outcome) -> dict:
    """Posting an invitation link: the anonymous must sign up or sign in first; members
    are already in (they switch to the team, the link stays unused)."""
    return {"anonymous": Outcome(400), "outsider": outsider} | dict.fromkeys(
        ("viewer", "editor", "owner"), REFUSED
    )


def everyone(outcome: Outcome) -> dict:
    return dict.fromkeys(ACTORS, outcome)


@dataclass
class World:
    team: Team
    users: dict
    edit: Edit  # the editor's own, finished, with sources, a mask and results
    owners_edit: Edit  # made by the owner, failed
    invitation: Invitation  # link-only: for whoever holds it
    for_outsider: Invitation  # sent to the outsider's address (in other letter case)
    for_stranger: Invitation  # sent to an address nobody here has
    memberships: dict = field(default_factory=dict)
    batch: Batch | None = None  # the editor's, of two edits: one finished, one failed


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    outcomes: dict
    kwargs: object = lambda w: {}
    data: object = lambda w: {}  # the request's data: a dict, or a function of the World
    why: str = ""

    def data_for(self, w: "World") -> dict:
        return self.data(w) if callable(self.data) else self.data

    @property
    def id(self) -> str:
        return f"{self.name}-{self.method}{'-' + self.why if self.why else ''}"


# Pages of "the current team": members see this team's edits, an outsider their own team's.
CURRENT_TEAM_PAGE = members(Outcome(200, shows_team=True)) | {
    "outsider": Outcome(200, shows_team=False)
}


def team_kwargs(w: World) -> dict:
    return {"team_id": w.team.pk}


def edit_kwargs(w: World) -> dict:
    return {"pk": w.edit.pk}


def owners_edit_kwargs(w: World) -> dict:
    return {"pk": w.owners_edit.pk}


def batch_kwargs(w: World) -> dict:
    return {"pk": w.batch.pk}


def result_kwargs(w: World) -> dict:
    return {"pk": w.edit.pk, "position": 0}


CASES = [
    # --- Accounts -------------------------------------------------------------------
    Case("setup", "GET", everyone(NOT_FOUND), why="once-users-exist"),
    Case(
        "setup",
        "POST",
        everyone(NOT_FOUND),
        data={
            "username": "mallory",
            "password1": "x-Pass-123!",
            "password2": "x-Pass-123!",
        },
        why="once-users-exist",
    ),
    Case("login", "GET", everyone(Outcome(302)) | {"anonymous": READ}),
    Case("logout", "POST", everyone(Outcome(302))),
    Case("signup", "GET", everyone(FORBIDDEN), why="off-by-default"),
    # The language switch and the scripts' strings: the same for everyone, private to no one.
    Case(
        "set_language",
        "POST",
        everyone(Outcome(302, changes=None)),
        data={"language": "zh-hans", "next": "/"},
    ),
    Case("javascript-catalog", "GET", everyone(READ)),
    # The health check: for load balancers, no sign-in, nothing private (test_healthz.py).
    Case("healthz", "GET", everyone(READ)),
    # --- Teams ----------------------------------------------------------------------
    Case("team_create", "GET", everyone(READ) | {"anonymous": LOGIN}),
    Case(
        "team_create",
        "POST",
        everyone(WROTE) | {"anonymous": LOGIN},
        data={"name": "Side project"},
    ),
    Case(
        "team_switch",
        "POST",
        members(Outcome(302, changes=None)),
        data=lambda w: {"team": w.team.pk},
    ),
    Case("team_members", "GET", members(), kwargs=team_kwargs),
    Case("team_rename", "POST", owners(WROTE), kwargs=team_kwargs, data={"name": "Renamed"}),
    Case(
        "team_leave",
        "POST",
        members(WROTE) | {"owner": REFUSED},
        kwargs=team_kwargs,
        why="owner-is-the-last-owner",
    ),
    Case("team_invitations", "GET", owners(READ), kwargs=team_kwargs),
    Case(
        "team_invitations",
        "POST",
        owners(WROTE),
        kwargs=team_kwargs,
        data={"role": Role.VIEWER, "days": 7, "email": ""},
    ),
    Case("team_activity", "GET", owners(READ), kwargs=team_kwargs),
    Case("team_budget", "POST", owners(WROTE), kwargs=team_kwargs, data={"monthly_budget_usd": 50}),
    Case(
        "member_role",
        "POST",
        owners(WROTE),
        kwargs=lambda w: {"pk": w.memberships["editor"].pk},
        data={"role": Role.VIEWER},
    ),
    Case(
        "member_remove",
        "POST",
        owners(WROTE),
        kwargs=lambda w: {"pk": w.memberships["viewer"].pk},
    ),
    Case("invitation_revoke", "POST", owners(WROTE), kwargs=lambda w: {"pk": w.invitation.pk}),
    # The link itself is the permission: anyone holding it may look, and join once.
    Case("invitation_join", "GET", everyone(READ), kwargs=lambda w: {"token": w.invitation.token}),
    Case(
        "invitation_join",
        "POST",
        joining(WROTE),
        kwargs=lambda w: {"token": w.invitation.token},
    ),
    # Sent to an address: only that address's account may join; members just switch.
    Case(
        "invitation_join",
        "POST",
        joining(WROTE),
        kwargs=lambda w: {"token": w.for_outsider.token},
        why="sent-to-their-address",
    ),
    Case(
        "invitation_join",
        "GET",
        everyone(READ) | {"outsider": FORBIDDEN},  # a plain message, the address masked
        kwargs=lambda w: {"token": w.for_stranger.token},
        why="sent-to-another-address",
    ),
    Case(
        "invitation_join",
        "POST",
        joining(FORBIDDEN),
        kwargs=lambda w: {"token": w.for_stranger.token},
        why="sent-to-another-address",
    ),
    Case(
        "invitation_join",
        "GET",
        everyone(NOT_FOUND),
        kwargs=lambda w: {"token": "not-a-real-token"},
        why="wrong-token",
    ),
    # --- Edits ----------------------------------------------------------------------
    Case("home", "GET", CURRENT_TEAM_PAGE),
    Case(
        "edit_create",
        "POST",
        editors(WROTE) | {"outsider": WROTE},  # acts on the outsider's own current team
        data=lambda w: {"model": "gpt-image-1", "prompt": "Add a hat", "images": upload()},
    ),
    Case("edit_options", "GET", everyone(READ) | {"anonymous": LOGIN}),
    Case("usage", "GET", CURRENT_TEAM_PAGE),
    # Staff only: everyone else is sent to the admin's sign-in (tests/test_staff_spend.py).
    Case("staff_spend", "GET", everyone(Outcome(302))),
    Case(
        "gallery_updates",
        "GET",
        CURRENT_TEAM_PAGE,
        data=lambda w: {"pending": f"{w.edit.pk}:running"},
    ),
    Case("edit_detail", "GET", members(Outcome(200, shows_team=True)), kwargs=edit_kwargs),
    # The pushed updates (server-sent events), checked like the pages they update: the
    # current team's gallery, one edit, one batch. Past the checks the test client (WSGI)
    # gets 204, "poll instead"; tests/test_event_stream.py streams under ASGI.
    Case("events", "GET", everyone(Outcome(204)) | {"anonymous": LOGIN}),  # outsiders: their own
    Case("events", "GET", members(Outcome(204)), data=lambda w: {"edit": w.edit.pk}, why="edit"),
    Case("events", "GET", members(Outcome(204)), data=lambda w: {"batch": w.batch.pk}, why="batch"),
    # Retrying follows the delete rule: editors their own edits, owners anyone's.
    # (the editor's own edit has succeeded: allowed, but there is nothing to retry)
    Case("edit_retry", "POST", editors(REFUSED), kwargs=edit_kwargs, why="editors-own"),
    Case("edit_retry", "POST", owners(WROTE), kwargs=owners_edit_kwargs, why="someone-elses"),
    # Cancelling too (neither edit is queued: allowed, but there is nothing to cancel).
    Case("edit_cancel", "POST", editors(REFUSED), kwargs=edit_kwargs, why="editors-own"),
    Case("edit_cancel", "POST", owners(REFUSED), kwargs=owners_edit_kwargs, why="someone-elses"),
    # A preference of one's own, whatever one's team or role.
    Case(
        "edit_more_options",
        "POST",
        everyone(Outcome(302, changes=None)) | {"anonymous": LOGIN},
        data=lambda w: {"open": "1"},
    ),
    Case("edit_delete", "GET", editors(READ), kwargs=edit_kwargs, why="editors-own"),
    Case("edit_delete", "POST", editors(WROTE), kwargs=edit_kwargs, why="editors-own"),
    Case("edit_delete", "POST", owners(WROTE), kwargs=owners_edit_kwargs, why="someone-elses"),
    # The service's callback is public by design: the per-edit token in the URL is the
    # only proof. Without the right token nobody gets anything, signed in or not.
    Case(
        "edit_callback",
        "POST",
        everyone(NOT_FOUND),
        kwargs=lambda w: {"pk": w.edit.pk, "token": "not-the-callback-token"},
        data={"id": "task-1", "task_id": "task-1"},
        why="wrong-token",
    ),
    Case("edit_download_all", "GET", members(), kwargs=edit_kwargs),
    Case("edit_star", "POST", members(WROTE), kwargs=edit_kwargs, why="a-personal-bookmark"),
    # Picking chooses among the results for the team: editors and owners, on anyone's
    # edit (tests/test_variants.py has the owner's and the editor's both ways).
    Case(
        "edit_pick",
        "POST",
        editors(WROTE),
        kwargs=edit_kwargs,
        data={"position": 0},
        why="a-choice-for-the-team",
    ),
    Case(
        "edits_download_selected",
        "GET",
        members() | {"outsider": Outcome(302)},
        data=lambda w: {"ids": [w.edit.pk]},
        why="outsiders-get-nothing-of-this-team",
    ),
    Case("edit_mask", "GET", members(), kwargs=edit_kwargs),
    # A batch follows its edits' rules: every member looks and downloads; retrying and
    # deleting are for editors on their own batches and owners on any.
    Case("batch_detail", "GET", members(Outcome(200, shows_team=True)), kwargs=batch_kwargs),
    Case("batch_download", "GET", members(), kwargs=batch_kwargs),
    Case("batch_retry", "POST", editors(WROTE), kwargs=batch_kwargs),
    Case("batch_delete", "GET", editors(READ), kwargs=batch_kwargs),
    Case("batch_delete", "POST", editors(WROTE), kwargs=batch_kwargs),
    Case("edit_source", "GET", members(), kwargs=result_kwargs),
    Case("edit_result", "GET", members(), kwargs=result_kwargs),
    Case("edit_result_download", "GET", members(), kwargs=result_kwargs),
    Case("edit_result_thumbnail", "GET", members(), kwargs=result_kwargs),
]


def app_url_names() -> set[str]:
    """Every URL pattern of the app, by name (or route when unnamed), from the resolver."""

    def walk(patterns, prefix: str = ""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace in EXCLUDED_NAMESPACES:
                    continue
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield pattern.name or prefix + str(pattern.pattern)

    return set(walk(get_resolver().url_patterns))


def test_every_url_pattern_has_a_row():
    covered = {case.name for case in CASES}
    missing = app_url_names() - covered
    assert not missing, f"URL patterns with no row in the authorization table: {missing}"
    stale = covered - app_url_names()
    assert not stale, f"Rows for URL patterns that no longer exist: {stale}"


def test_every_row_says_what_each_actor_gets():
    for case in CASES:
        assert set(case.outcomes) == set(ACTORS), case.id


@pytest.fixture
def world() -> World:
    team, owner, editor, viewer = make_studio(owner="owner", editor="editor", viewer="viewer")
    users = {"outsider": make_user("outsider"), "viewer": viewer, "editor": editor, "owner": owner}
    use_team(users["outsider"], personal_team(users["outsider"]))
    edit = make_edit(team, users["editor"], prompt=SECRET, status=Status.SUCCEEDED, results=1)
    edit.mask.save("mask.png", ContentFile(image_bytes(mode="RGBA")), save=True)
    Edit.objects.filter(pk=edit.pk).update(  # what the service reported, for the usage page
        usage={"input_tokens": 800, "output_tokens": 1400}, cost_usd="0.064", finished_at=now()
    )
    owners_edit = make_edit(team, users["owner"], prompt="Owner's try", status=Status.FAILED)
    invitation = make_invitation(team, users["owner"], role=Role.VIEWER)
    for_outsider = make_invitation(team, users["owner"], email="OUTSIDER@Example.com")
    for_stranger = make_invitation(team, users["owner"], email="stranger@example.com")
    memberships = {m.user.username: m for m in team.memberships.select_related("user")}
    batch = Batch.objects.create(team=team, created_by=users["editor"], prompt=SECRET)
    for status, results in ((Status.SUCCEEDED, 1), (Status.FAILED, 0)):
        one = make_edit(team, users["editor"], prompt=SECRET, status=status, results=results)
        Edit.objects.filter(pk=one.pk).update(batch=batch)
    return World(
        team, users, edit, owners_edit, invitation, for_outsider, for_stranger, memberships, batch
    )


def snapshot() -> tuple:
    """Everything a request could change that matters for authorization."""
    return (
        sorted(Edit.objects.values_list("pk", "team_id", "status")),
        sorted(Membership.objects.values_list("team_id", "user_id", "role")),
        sorted(Invitation.objects.values_list("pk", "used_at", "revoked_at")),
        sorted(Team.objects.values_list("pk", "name", "monthly_budget_usd")),
        sorted(Profile.objects.values_list("user_id", "current_team_id")),
        get_user_model().objects.count(),
        sorted(Star.objects.values_list("edit_id", "user_id")),
        sorted(Batch.objects.values_list("pk", flat=True)),
        sorted(Edit.objects.values_list("pk", "picked_result_id")),
    )


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return ""
    return response.content.decode(errors="replace")


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_each_actor_gets_exactly_what_their_role_allows(client, world, case, actor):
    expected: Outcome = case.outcomes[actor]
    if actor != "anonymous":
        client.force_login(world.users[actor])
    url = reverse(case.name, kwargs=case.kwargs(world))
    before = snapshot()
    if case.method == "GET":
        response = client.get(url, case.data_for(world))
    else:
        response = client.post(url, case.data_for(world))
    after = snapshot()

    assert response.status_code == expected.status, (case.id, actor, body_of(response)[:500])
    if expected.to_login:
        assert response.url.startswith(reverse("login")), response.url
    if case.method == "GET" or expected.changes is False:
        assert after == before, f"{case.id} for {actor} changed the database"
    elif expected.changes:
        assert after != before, f"{case.id} for {actor} changed nothing"
    if expected.shows_team is not None:
        assert (SECRET in body_of(response)) is expected.shows_team
