"""Small factory functions for tests: users with their teams, images, and edits."""

import io
from decimal import Decimal
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from editor.edits.models import Edit, LedgerEntry, ResultImage, SourceImage, Status
from editor.teams.models import Invitation, Membership, Profile, Role, Team

PASSWORD = "correct horse battery staple"
# What htmx sends with the edit form's post (its answer lands in the gallery).
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "gallery-items"}


def make_user(username: str = "alice", *, password: str = PASSWORD, **extra):
    return get_user_model().objects.create_user(
        username=username, password=password, email=f"{username}@example.com", **extra
    )


def make_team(name: str = "Studio", members: dict | None = None) -> Team:
    """A team with members given as {user: role}."""
    team = Team.objects.create(name=name)
    for user, role in (members or {}).items():
        Membership.objects.create(team=team, user=user, role=role)
    return team


class Studio(NamedTuple):
    """A shared team with one member of each role."""

    team: Team
    owner: object
    editor: object
    viewer: object


def make_studio(owner: str = "olga", editor: str = "ed", viewer: str = "vic") -> Studio:
    """The team "Studio" with an owner, an editor and a viewer, each working in it."""
    users = make_user(owner), make_user(editor), make_user(viewer)
    team = make_team(
        "Studio", dict(zip(users, (Role.OWNER, Role.EDITOR, Role.VIEWER), strict=True))
    )
    for user in users:
        use_team(user, team)
    return Studio(team, *users)


def personal_team(user) -> Team:
    return Team.objects.get(memberships__user=user, is_personal=True)


def use_team(user, team: Team) -> None:
    """Make `team` the user's current team, as the header's switcher would."""
    Profile.remember(user, team)


def make_invitation(team: Team, by, *, role: str = Role.EDITOR, days: int = 7, **extra):
    return Invitation.objects.create_for(team, by=by, role=role, days=days, **extra)


def image_bytes(
    size: tuple[int, int] = (64, 64),
    color=(200, 60, 40),
    *,
    fmt: str = "PNG",
    mode: str = "RGB",
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt)
    return out.getvalue()


def upload(name: str = "photo.png", data: bytes | None = None, content_type: str = "image/png"):
    return SimpleUploadedFile(name, data if data is not None else image_bytes(), content_type)


def post_edit(
    client, images: list | None = None, *, prompt: str = "Add a hat", htmx=True, **fields
):
    """Submit the edit form as the page does (through htmx unless `htmx=False`), with one
    photo unless `images` says otherwise."""
    images = [upload()] if images is None else images
    data = {"model": "gpt-image-1", "prompt": prompt, "images": images, **fields}
    return client.post(reverse("edit_create"), data, **(HTMX if htmx else {}))


def make_edit(
    team: Team,
    user,
    *,
    prompt: str = "Make the sky stormy",
    status: str = Status.QUEUED,
    sources: int = 1,
    results: int = 0,
    model: str = "gpt-image-1",
    params: dict | None = None,
) -> Edit:
    edit = Edit.objects.create(
        team=team,
        created_by=user,
        prompt=prompt,
        status=status,
        model=model,
        params=params if params is not None else {"size": "1024x1024"},
    )
    # Started through the app, it would have been counted for the rate limit.
    LedgerEntry.objects.create(
        team=team, user=user, edit=edit, kind=LedgerEntry.Kind.STARTED, created_at=edit.created_at
    )
    for position in range(sources):
        data = image_bytes((64, 64), (20 * position, 100, 200))
        source = SourceImage(
            edit=edit,
            position=position,
            original_name=f"photo-{position}.png",
            content_type="image/png",
            width=64,
            height=64,
            size_bytes=len(data),
        )
        source.file.save(f"{position}.png", ContentFile(data), save=False)
        source.save()
    for position in range(results):
        data = image_bytes((96, 96), (10, 200, 40 * position))
        result = ResultImage(
            edit=edit,
            position=position,
            content_type="image/png",
            width=96,
            height=96,
            size_bytes=len(data),
        )
        result.file.save(f"{position}.png", ContentFile(data), save=False)
        result.thumbnail.save(f"{position}.webp", ContentFile(image_bytes(fmt="WEBP")), save=False)
        result.save()
    return edit


def succeeded_edit(user, **fields) -> Edit:
    """A finished edit by `user` in their personal team."""
    return make_edit(personal_team(user), user, status=Status.SUCCEEDED, **fields)


def make_priced_edit(
    team: Team,
    user,
    cost: str,
    *,
    usage: dict | None = None,
    finished_at=None,
    **extra,
) -> Edit:
    """A succeeded edit with the usage the service reported and its estimated cost,
    finished at `finished_at` (now by default); no image files unless asked for."""
    extra.setdefault("sources", 0)
    edit = make_edit(team, user, status=Status.SUCCEEDED, **extra)
    edit.usage = usage if usage is not None else {"input_tokens": 100, "output_tokens": 200}
    edit.cost_usd = Decimal(cost)
    edit.finished_at = finished_at or timezone.now()
    edit.save(update_fields=["usage", "cost_usd", "finished_at"])
    # Finished through the app, its cost would have been counted for the budget.
    LedgerEntry.objects.create(
        team=team,
        user=user,
        edit=edit,
        kind=LedgerEntry.Kind.COST,
        cost_usd=edit.cost_usd,
        created_at=edit.finished_at,
    )
    return edit


__all__ = [
    "HTMX",
    "PASSWORD",
    "Role",
    "Studio",
    "image_bytes",
    "make_edit",
    "make_invitation",
    "make_priced_edit",
    "make_studio",
    "make_team",
    "make_user",
    "personal_team",
    "post_edit",
    "succeeded_edit",
    "upload",
    "use_team",
]
