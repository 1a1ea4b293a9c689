"""Creating an image from a description: the edit form without a photo, end to end against
the simulator in both delivery modes (the request sent to images/generations as JSON, with
no image), the gallery and detail page saying "Created", "Edit this result" from a created
image, and the form's refusals."""

import json
import time
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from editor.edits.models import Edit, SourceImage, Status
from editor.edits.reconcile import reconcile
from editor.upstream import MODELS, add_models

from .factories import make_edit, personal_team, post_edit, upload
from .queue import assert_settled, run_queue

pytestmark = pytest.mark.django_db

PROMPT = "A lighthouse at dusk"


@pytest.fixture
def create(alice_client, django_capture_on_commit_callbacks):
    """Post the edit form with no photo, as the page does; returns the response."""

    def post(*, images=(), prompt=PROMPT, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            return post_edit(alice_client, list(images), prompt=prompt, **fields)

    return post


def created_edit(owner, **kwargs) -> Edit:
    edit = make_edit(personal_team(owner), owner, sources=0, **kwargs)
    Edit.objects.filter(pk=edit.pk).update(kind=Edit.Kind.GENERATION)
    edit.refresh_from_db()
    return edit


def assert_sent_as_a_generation(sim, **fields):
    """One generations request, JSON without any image or mask, and no edits request."""
    assert sim.edit_requests == []
    [sent] = sim.generation_requests
    assert sent.path.endswith("/images/generations")
    assert sent.headers["content-type"] == "application/json"
    assert sent.files == []
    assert not {"image", "image[]", "mask", "input_fidelity"} & set(sent.fields)
    for name, value in fields.items():
        assert sent.fields[name] == [value]
    return sent


# --- the form ----------------------------------------------------------------------------


def test_the_photo_field_says_photos_are_optional(alice_client):
    html = alice_client.get("/").content.decode()
    assert "Add photos to edit them, or leave empty to create a new image." in html


def test_no_photo_stores_a_generation_with_no_sources_and_a_created_card(upstream, create, alice):
    response = create(size="1536x1024", quality="low", input_fidelity="high")
    assert response.status_code == 200
    edit = Edit.objects.get()
    assert edit.is_generation and edit.kind == "generation"
    assert edit.created_by == alice and edit.status == Status.QUEUED
    assert SourceImage.objects.count() == 0
    # Input fidelity is about matching photos: a generation neither keeps nor sends it.
    assert "input_fidelity" not in edit.params
    assert edit.params["size"] == "1536x1024"
    assert "Created by alice" in response.content.decode()


def test_a_mask_without_a_photo_is_refused(upstream, create):
    mask = upload("mask.png")
    response = create(mask=mask)
    assert "A mask marks the part of a photo to change" in response.content.decode()
    assert Edit.objects.count() == 0 and upstream.requests == []


def test_a_model_that_cannot_generate_is_refused_in_one_sentence(upstream, create):
    name = "edits-only-test-model"
    add_models([replace(MODELS["gpt-image-1"], name=name, label="Edits Only", generates=False)])
    try:
        response = create(model=name)
        assert (
            "Edits Only only edits photos: add a photo, or choose a model that creates "
            "images from a description."
        ) in response.content.decode()
        assert Edit.objects.count() == 0
        # With a photo the same model is fine.
        create(model=name, images=[upload()])
        assert Edit.objects.get().kind == Edit.Kind.EDIT
    finally:
        del MODELS[name]
    assert upstream.requests == []


def test_a_generation_still_needs_a_prompt(upstream, create):
    response = create(prompt="  ")
    assert "Describe what should change" in response.content.decode()
    assert Edit.objects.count() == 0


def test_a_models_rules_apply_to_a_generation(upstream, create):
    response = create(model="gpt-image-2", size="1000x1000")
    assert "the nearest it can make is 1008x1008" in response.content.decode()
    assert Edit.objects.count() == 0 and upstream.requests == []


# --- end to end, synchronous delivery -----------------------------------------------------


def test_sync_a_generation_goes_to_images_generations_and_succeeds(upstream, create, alice):
    create(size="1536x1024", quality="low", output_format="webp")
    assert run_queue() == [("run_edit", "succeeded")]
    edit = Edit.objects.get()
    assert assert_settled([edit]) == {"succeeded": 1}
    edit.refresh_from_db()
    sent = assert_sent_as_a_generation(
        upstream, model="gpt-image-1", prompt=PROMPT, size="1536x1024", quality="low"
    )
    assert sent.fields["user"] == [f"retouch-user-{alice.pk}"]
    assert sent.headers["x-request-id"] == edit.request_id
    assert edit.trace_id and edit.task_id and edit.usage["total_tokens"] > 0
    assert edit.cost_usd is not None and edit.cost_usd > 0
    result = edit.results.get()
    assert (result.width, result.height, result.content_type) == (1536, 1024, "image/webp")


def test_several_results_of_gpt_image_2_come_as_links_and_are_kept(upstream, create):
    create(model="gpt-image-2", size="1024x1024", n="2")
    assert run_queue() == [("run_edit", "succeeded")]
    assert_sent_as_a_generation(upstream, n="2", response_format="url")
    assert Edit.objects.get().results.count() == 2


def test_nano_banana_sends_no_setting(upstream, create):
    create(model="nano-banana")
    assert run_queue() == [("run_edit", "succeeded")]
    sent = assert_sent_as_a_generation(upstream)
    assert set(sent.fields) == {"model", "prompt", "user"}


def test_a_failed_attempt_is_retried_and_then_succeeds(upstream, create, settings):
    settings.RETOUCH_MAX_ATTEMPTS = 3
    upstream.push_fault("http", status=500)
    create()
    assert [outcome for _, outcome in run_queue()] == ["retrying", "succeeded"]
    edit = Edit.objects.get()
    assert edit.attempts == 2 and edit.status == Status.SUCCEEDED
    assert len(upstream.generation_requests) == 2 and upstream.edit_requests == []


def test_a_refused_generation_fails_in_plain_words(upstream, create, settings):
    settings.RETOUCH_MAX_ATTEMPTS = 1
    upstream.push_fault("http", status=400, code="bad_request", message="bad prompt")
    create()
    assert run_queue() == [("run_edit", "failed")]
    edit = Edit.objects.get()
    assert edit.status == Status.FAILED and edit.error_message and edit.trace_id


def test_where_the_model_streams_previews_are_asked_for(upstream, create, settings):
    settings.RETOUCH_PARTIAL_IMAGES = 2
    create(size="1024x1024")
    assert run_queue() == [("run_edit", "succeeded")]
    sent = assert_sent_as_a_generation(upstream, stream="true", partial_images="2")
    assert sent.events[-1] == "image_generation.completed"
    edit = Edit.objects.get()
    assert edit.usage["partial_images"] == 2 and not edit.previews.exists()


# --- end to end, callback delivery ------------------------------------------------------


def test_callback_a_generation_is_submitted_and_finished_by_its_callback(callbacks, create, client):
    create()
    assert run_queue() == [("run_edit", "submitted")]
    edit = Edit.objects.get()
    sent = assert_sent_as_a_generation(callbacks)
    assert sent.fields["callback_url"] == [
        f"http://127.0.0.1:9/hooks/edits/{edit.pk}/{edit.callback_token}/"
    ]
    assert callbacks.wait_for_callbacks(1, timeout=10)
    callback = callbacks.callbacks[0]
    body = json.dumps(callback["payload"])
    path = urlsplit(callback["url"]).path
    assert client.post(path, body, content_type="application/json").status_code == 202
    assert run_queue() == [("finish_callback", "succeeded")]
    assert assert_settled([edit]) == {"succeeded": 1}
    edit.refresh_from_db()
    assert edit.task_id and edit.trace_id and edit.cost_usd is not None


def test_callback_a_lost_callback_is_finished_through_the_tasks_api(callbacks, create, settings):
    settings.RETOUCH_CALLBACK_GRACE_SECONDS = 0
    callbacks.push_fault("callback", mode="lost")
    create()
    assert run_queue() == [("run_edit", "submitted")]
    edit = Edit.objects.get()
    [task] = [t for t in callbacks.tasks if t["id"] == edit.task_id]
    assert task["type"] == "images"
    _wait_until_finished_upstream(callbacks)
    assert reconcile()["polled_succeeded"] == 1
    assert assert_settled([edit]) == {"succeeded": 1}
    assert len(callbacks.generation_requests) == 1 and callbacks.edit_requests == []


def _wait_until_finished_upstream(sim) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(t.get("response") for t in sim.tasks):
            return
        time.sleep(0.02)
    raise AssertionError("the simulator never finished the task")


# --- gallery, detail page, downloads, "Edit this result" ----------------------------------


def test_gallery_and_detail_say_created_for_a_generation_and_edited_for_an_edit(
    alice_client, alice
):
    created = created_edit(alice, prompt="A red bicycle", status=Status.SUCCEEDED, results=1)
    edited = make_edit(personal_team(alice), alice, prompt="Make the sky stormy")
    gallery = alice_client.get("/").content.decode()
    card = gallery[gallery.index(f'id="edit-{created.pk}"') :]
    assert "Created by alice" in card[: card.index("</li>")]
    card = gallery[gallery.index(f'id="edit-{edited.pk}"') :]
    assert "Edited by alice" in card[: card.index("</li>")]
    detail = alice_client.get(reverse("edit_detail", args=[created.pk])).content.decode()
    assert '<span class="edit-kind">Created</span> by alice' in detail
    assert "created from the description alone" in detail
    assert "Before and after" not in detail
    detail = alice_client.get(reverse("edit_detail", args=[edited.pk])).content.decode()
    assert '<span class="edit-kind">Edited</span> by alice' in detail


def test_a_created_image_downloads_like_any_result(alice_client, alice):
    created = created_edit(alice, status=Status.SUCCEEDED, results=1)
    response = alice_client.get(reverse("edit_result_download", args=[created.pk, 0]))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_edit_this_result_takes_a_created_image_onward(upstream, create, alice_client):
    create(size="1024x1024")
    run_queue()
    created = Edit.objects.get()
    page = alice_client.get("/", {"from": created.pk, "result": 0}).content.decode()
    assert f"Starting from result 1 of “{PROMPT}”" in page
    create(prompt="Add a boat", parent=str(created.pk), parent_result="0")
    follow_up = Edit.objects.exclude(pk=created.pk).get()
    assert follow_up.kind == Edit.Kind.EDIT and follow_up.parent == created
    assert follow_up.sources.count() == 1
    assert run_queue() == [("run_edit", "succeeded")]
    [sent] = upstream.edit_requests
    assert [f["field"] for f in sent.files] == ["image[]"]
    assert len(upstream.generation_requests) == 1  # only the first one
    detail = alice_client.get(reverse("edit_detail", args=[follow_up.pk])).content.decode()
    assert '<span class="edit-kind">Edited</span>' in detail and "Made from:" in detail
