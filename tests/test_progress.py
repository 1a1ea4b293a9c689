"""Progress you can feel, and a calm form (issue 15): a pending card's elapsed time and
the model's usual one, Cancel while queued, the thumbnail made when an edit finishes,
and "More options" remembered per person."""

import pytest
from django.urls import reverse

from editor.edits.delivery import finish
from editor.edits.models import Edit, Status
from editor.teams.models import Profile
from editor.upstream import MODELS, EditResult
from editor.upstream.schema import ResultImage as Answered

from .factories import image_bytes, make_edit

pytestmark = pytest.mark.django_db


def signed_in(client, user):
    client.force_login(user)
    return client


def test_a_pending_card_shows_the_time_so_far_and_the_models_usual_time(client, studio):
    make_edit(studio.team, studio.editor, model="gpt-image-1")
    body = signed_in(client, studio.editor).get(reverse("home")).content.decode()
    assert "data-elapsed" in body and "so far" in body
    usual = MODELS["gpt-image-1"].typical_seconds
    assert f"usually about {usual} s" in body or f"usually about {usual // 60} min" in body


def test_every_model_has_a_typical_duration():
    assert all(model.typical_seconds >= 1 for model in MODELS.values())


def test_an_editor_cancels_their_own_queued_edit_with_a_plain_message(client, studio):
    edit = make_edit(studio.team, studio.editor)
    response = signed_in(client, studio.editor).post(
        reverse("edit_cancel", args=[edit.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    edit.refresh_from_db()
    assert edit.status == Status.FAILED
    assert edit.error_code == "cancelled"
    assert edit.error_message == "Cancelled by ed."
    assert edit.attempts == 0  # nothing was sent
    assert "Cancelled by ed." in response.content.decode()


def test_an_owner_cancels_anyones_queued_edit(client, studio):
    edit = make_edit(studio.team, studio.editor)
    signed_in(client, studio.owner).post(reverse("edit_cancel", args=[edit.pk]))
    assert Edit.objects.get(pk=edit.pk).error_message == "Cancelled by olga."


def test_an_editor_may_not_cancel_someone_elses_edit(client, studio):
    edit = make_edit(studio.team, studio.owner)
    response = signed_in(client, studio.editor).post(reverse("edit_cancel", args=[edit.pk]))
    assert response.status_code == 403
    assert Edit.objects.get(pk=edit.pk).status == Status.QUEUED


def test_a_running_edit_is_not_cancelled(client, studio):
    edit = make_edit(studio.team, studio.editor, status=Status.RUNNING)
    response = signed_in(client, studio.editor).post(reverse("edit_cancel", args=[edit.pk]))
    assert response.status_code == 302
    assert Edit.objects.get(pk=edit.pk).status == Status.RUNNING


def test_cancel_shows_only_on_queued_cards_the_person_may_change(client, studio):
    queued = make_edit(studio.team, studio.editor)
    make_edit(studio.team, studio.editor, status=Status.RUNNING)
    body = signed_in(client, studio.editor).get(reverse("home")).content.decode()
    assert body.count(reverse("edit_cancel", args=[queued.pk])) == 2  # action and hx-post
    assert body.count("/cancel/") == 2
    viewer_body = signed_in(client, studio.viewer).get(reverse("home")).content.decode()
    assert "/cancel/" not in viewer_body


def test_more_options_is_closed_until_the_person_opens_it_and_then_remembered(client, studio):
    client = signed_in(client, studio.editor)
    assert (
        'data-more-options data-remember="/edits/more-options/">'
        in client.get(reverse("home")).content.decode()
    )
    response = client.post(reverse("edit_more_options"), {"open": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert Profile.shows_more_options_for(studio.editor)
    assert (
        'data-remember="/edits/more-options/" open>' in client.get(reverse("home")).content.decode()
    )
    # A model change redraws that part the same way.
    options = client.get(reverse("edit_options"), {"model": "gpt-image-1"}).content.decode()
    assert 'data-remember="/edits/more-options/" open>' in options
    client.post(reverse("edit_more_options"), {"open": "0"})
    assert not Profile.shows_more_options_for(studio.editor)


def test_the_thumbnail_is_made_when_the_edit_finishes(studio):
    edit = make_edit(studio.team, studio.editor, status=Status.RUNNING)
    result = EditResult(images=[Answered(data=image_bytes((96, 96)), content_type="image/png")])
    assert finish(edit, result) == "succeeded"
    assert edit.results.get().thumbnail


def test_an_empty_gallery_keeps_its_empty_state_element_for_later_swaps(client, studio):
    body = signed_in(client, studio.editor).get(reverse("home")).content.decode()
    assert 'id="gallery-empty" class="empty-state">' in body
    make_edit(studio.team, studio.editor)
    body = client.get(reverse("home")).content.decode()
    assert 'id="gallery-empty" class="empty-state" hidden>' in body
