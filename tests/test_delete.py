"""Deleting an edit: confirmed first, allowed by can_change_edit, and its files leave
storage only once the deletion is committed."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from editor.edits.models import Edit, ResultImage, SourceImage, Status
from editor.teams.models import Activity, Membership

from .factories import Role, image_bytes, make_edit, make_user, use_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def other(studio):
    """A second editor of the studio."""
    eve = make_user("eve")
    Membership.objects.create(team=studio.team, user=eve, role=Role.EDITOR)
    use_team(eve, studio.team)
    return eve


def finished_edit(team, user, **kwargs) -> Edit:
    edit = make_edit(team, user, status=Status.SUCCEEDED, sources=2, results=2, **kwargs)
    edit.mask.save("mask.png", ContentFile(image_bytes(mode="RGBA")), save=True)
    return edit


def stored_names(edit: Edit) -> list[str]:
    names = [s.file.name for s in edit.sources.all()] + [edit.mask.name]
    for result in edit.results.all():
        names += [result.file.name, result.thumbnail.name]
    return names


def test_confirmation_page_asks_first_and_deletes_nothing(client, studio):
    team, _, editor, _ = studio
    edit = finished_edit(team, editor, prompt="Make the sky stormy")
    client.force_login(editor)
    page = client.get(reverse("edit_delete", args=[edit.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Delete this edit?" in html and "Make the sky stormy" in html
    assert "This cannot be undone." in html
    assert Edit.objects.filter(pk=edit.pk).exists()


def test_deleting_removes_rows_and_every_file_only_after_commit(
    client, studio, django_capture_on_commit_callbacks
):
    team, _, editor, _ = studio
    edit = finished_edit(team, editor)
    names = stored_names(edit)
    assert len(names) == 7 and all(default_storage.exists(n) for n in names)
    client.force_login(editor)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("edit_delete", args=[edit.pk]))
        assert response.status_code == 302
        assert not Edit.objects.filter(pk=edit.pk).exists()
        assert not SourceImage.objects.filter(edit_id=edit.pk).exists()
        assert not ResultImage.objects.filter(edit_id=edit.pk).exists()
        # Not committed yet: the files are still there.
        assert all(default_storage.exists(n) for n in names)
    for callback in callbacks:
        callback()
    assert not any(default_storage.exists(n) for n in names)


def test_a_rolled_back_deletion_keeps_the_files(studio, django_capture_on_commit_callbacks):
    from django.db import transaction

    from editor.edits.services import delete_edit

    team, owner, editor, _ = studio
    edit = finished_edit(team, editor)
    names = stored_names(edit)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        delete_edit(edit, by=owner)
        raise RuntimeError("something after the delete failed")
    assert callbacks == []
    assert Edit.objects.filter(pk=edit.pk).exists()
    assert all(default_storage.exists(n) for n in names)


def test_deleting_from_a_gallery_card_with_htmx_removes_just_that_card(client, studio):
    team, _, editor, _ = studio
    edit = finished_edit(team, editor, prompt="Calm the sea")
    client.force_login(editor)
    response = client.post(
        reverse("edit_delete", args=[edit.pk]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=f"edit-{edit.pk}",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="edit-{edit.pk}"' not in html
    assert 'id="announcer" hx-swap-oob="true"' in html and "Deleted “Calm the sea”." in html
    assert not Edit.objects.filter(pk=edit.pk).exists()


def test_cards_offer_delete_to_whoever_may_delete_them(client, studio, other):
    team, owner, editor, _ = studio
    mine = finished_edit(team, editor)
    theirs = finished_edit(team, other)
    running = make_edit(team, editor, status=Status.RUNNING)
    url = lambda edit: reverse("edit_delete", args=[edit.pk])  # noqa: E731
    client.force_login(editor)
    html = client.get("/").content.decode()
    assert f'action="{url(mine)}"' in html
    assert 'hx-confirm="Delete' in html
    assert f'action="{url(theirs)}"' not in html
    assert f'action="{url(running)}"' not in html
    client.force_login(owner)
    html = client.get("/").content.decode()
    assert f'action="{url(mine)}"' in html and f'action="{url(theirs)}"' in html


def test_an_editor_cannot_delete_someone_elses_edit(client, studio, other):
    team, _, editor, _ = studio
    theirs = finished_edit(team, other)
    client.force_login(editor)
    assert client.get(reverse("edit_delete", args=[theirs.pk])).status_code == 403
    assert client.post(reverse("edit_delete", args=[theirs.pk])).status_code == 403
    assert Edit.objects.filter(pk=theirs.pk).exists()


def test_a_running_edit_is_not_deleted(client, studio):
    team, _, editor, _ = studio
    edit = make_edit(team, editor, status=Status.RUNNING)
    client.force_login(editor)
    page = client.get(reverse("edit_delete", args=[edit.pk])).content.decode()
    assert "being made right now" in page and "Delete edit</button>" not in page
    response = client.post(reverse("edit_delete", args=[edit.pk]), follow=True)
    assert "You can delete it once it has finished." in response.content.decode()
    assert Edit.objects.filter(pk=edit.pk).exists()


def test_detail_page_links_to_the_confirmation_for_those_allowed(client, studio, other):
    team, _, editor, _ = studio
    edit = finished_edit(team, editor)
    client.force_login(editor)
    link = reverse("edit_delete", args=[edit.pk])
    assert link in client.get(reverse("edit_detail", args=[edit.pk])).content.decode()
    client.force_login(other)
    assert link not in client.get(reverse("edit_detail", args=[edit.pk])).content.decode()


def test_deletion_is_logged_with_who_and_what(client, studio):
    team, owner, editor, _ = studio
    edit = finished_edit(team, editor, prompt="Add a rainbow")
    client.force_login(owner)
    client.post(reverse("edit_delete", args=[edit.pk]))
    entry = Activity.objects.for_team(team).get(verb=Activity.Verb.EDIT_DELETED)
    assert (entry.actor_name, entry.summary) == ("olga", "Add a rainbow")
