"""Live previews: the worker stores each partial image the simulator streams as a small
preview while the edit runs (only under its lease), the card and the detail page show the
latest one through the poll, and the result replaces it; previews are deleted once the
edit is final. A stream that breaks mid-way is retried, and the previews of every attempt
count in the usage and the cost."""

from __future__ import annotations

import io
import re

import pytest
from django.urls import reverse
from PIL import Image

from editor.edits import delivery
from editor.edits.costs import estimate_cost
from editor.edits.models import Edit, PreviewImage, Status
from editor.edits.tasks import run_edit

from .factories import image_bytes, make_edit, personal_team
from .queue import run_queue

pytestmark = pytest.mark.django_db

PARTIAL = "image_edit.partial_image"
COMPLETED = "image_edit.completed"


@pytest.fixture(autouse=True)
def previews_on(settings):
    settings.RETOUCH_PARTIAL_IMAGES = 2
    settings.RETOUCH_MAX_ATTEMPTS = 1


def poll(client, *pending: str) -> str:
    response = client.get(
        reverse("gallery_updates"), {"pending": list(pending)}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    return response.content.decode()


class Watcher:
    """Wraps PreviewImage.store: after each preview is stored (in the worker's own thread
    and connection, so mid-edit), records what the simulator had sent by then and what
    the poll and the detail page answer at that moment."""

    def __init__(self, monkeypatch, sim, client, edit: Edit) -> None:
        self.sim, self.client, self.edit = sim, client, edit
        self.seen: list[dict] = []
        real = PreviewImage.store.__func__

        def store(cls, edit, index, image):
            stored = real(cls, edit, index, image)
            self.seen.append(self.snapshot(index, stored))
            return stored

        monkeypatch.setattr(PreviewImage, "store", classmethod(store))

    def snapshot(self, index: int, stored: PreviewImage | None) -> dict:
        count = len(self.seen) + 1
        pk = self.edit.pk
        before = "running" if count == 1 else f"running.{count - 1}"
        return {
            "index": index,
            "stored": stored,
            "events": list(self.sim.edit_requests[-1].events),
            "status": Edit.objects.get(pk=pk).status,
            "poll_new": poll(self.client, f"{pk}:{before}"),
            "poll_same": poll(self.client, f"{pk}:running.{count}"),
            "detail": self.client.get(reverse("edit_detail", args=[pk])).content.decode(),
        }


def queued(owner, **fields) -> Edit:
    return make_edit(personal_team(owner), owner, **fields)


def test_previews_are_stored_and_shown_before_the_result_which_replaces_them(
    upstream, owner, client, monkeypatch
):
    upstream.set_latency(0.8)
    client.force_login(owner)
    edit = queued(owner)
    watcher = Watcher(monkeypatch, upstream, client, edit)

    assert run_edit.call(edit.pk) == "succeeded"

    first, second = watcher.seen
    assert [first["index"], second["index"]] == [0, 1]
    for count, seen in enumerate(watcher.seen, start=1):
        # Stored while the edit runs, before the service has sent its result.
        assert seen["stored"] is not None and seen["status"] == Status.RUNNING
        assert COMPLETED not in seen["events"]
        # The poll brings the card back for the new preview, with the preview marked...
        card = seen["poll_new"]
        assert f'id="edit-{edit.pk}"' in card and 'hx-swap-oob="true"' in card
        assert 'class="live-preview-image" src="data:image/webp;base64,' in card
        assert ">Preview</span>" in card
        assert f'value="{edit.pk}:running.{count}" data-pending' in card
        assert "style=" not in card  # CSP: classes only
        # ... and not again once the page shows it.
        assert seen["poll_same"].strip() == ""
        assert "live-preview-image" in seen["detail"] and ">Preview</span>" in seen["detail"]
    assert upstream.edit_requests[-1].fields["stream"] == ["true"]
    assert upstream.edit_requests[-1].fields["partial_images"] == ["2"]

    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED
    assert not PreviewImage.objects.filter(edit=edit).exists()  # deleted with the result
    card = poll(client, f"{edit.pk}:running.2")
    assert "live-preview" not in card
    assert reverse("edit_result_thumbnail", args=[edit.pk, 0]) in card
    detail = client.get(reverse("edit_detail", args=[edit.pk])).content.decode()
    assert "live-preview" not in detail and reverse("edit_result", args=[edit.pk, 0]) in detail


def test_a_preview_is_a_small_webp(upstream, owner):
    edit = queued(owner, params={"size": "1536x1024"})
    stored: list[PreviewImage] = []
    real = PreviewImage.store.__func__

    def keep(cls, edit, index, image):
        stored.append(real(cls, edit, index, image))
        return stored[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PreviewImage, "store", classmethod(keep))
        assert run_edit.call(edit.pk) == "succeeded"
    preview = stored[0]
    with Image.open(io.BytesIO(bytes(preview.data))) as image:
        assert image.format == "WEBP"
        assert image.size == (384, 256) == (preview.width, preview.height)
    assert len(preview.data) < 30_000


def test_the_usage_counts_the_previews_and_the_cost_follows(upstream, owner):
    edit = queued(owner, model="gpt-image-1")
    assert run_edit.call(edit.pk) == "succeeded"
    edit.refresh_from_db()
    assert edit.usage["partial_images"] == 2
    # This attempt's previews are in the service's own output tokens.
    assert edit.usage["partial_image_tokens"] == 0
    plain = upstream.edit_requests[-1]
    assert plain.events == [PARTIAL, PARTIAL, COMPLETED]
    assert edit.cost_usd == estimate_cost(edit.model, edit.params, edit.usage, 1)


def test_a_stream_broken_mid_way_is_retried_and_every_preview_counts(upstream, owner, settings):
    settings.RETOUCH_MAX_ATTEMPTS = 3
    upstream.push_fault("disconnect", after_partials=1)
    edit = queued(owner, model="gpt-image-1")
    delivery.queue_attempt(edit.pk)

    ran = run_queue()

    assert [outcome for _, outcome in ran] == ["retrying", "succeeded"]
    edit.refresh_from_db()
    assert (edit.status, edit.attempts) == (Status.SUCCEEDED, 2)
    first, second = upstream.edit_requests
    assert first.events == [PARTIAL] and second.events == [PARTIAL, PARTIAL, COMPLETED]
    assert edit.usage["partial_images"] == 3
    assert edit.usage["partial_image_tokens"] == 100  # the broken attempt's preview
    without = {**edit.usage, "partial_image_tokens": 0}
    assert edit.cost_usd == estimate_cost(edit.model, edit.params, edit.usage, 1)
    assert edit.cost_usd > estimate_cost(edit.model, edit.params, without, 1)
    assert not PreviewImage.objects.filter(edit=edit).exists()


def test_previews_stay_while_the_edit_waits_for_another_attempt(upstream, owner, settings):
    settings.RETOUCH_MAX_ATTEMPTS = 3
    upstream.push_fault("http", status=500, after_partials=1)
    edit = queued(owner)
    assert run_edit.call(edit.pk) == "retrying"
    edit.refresh_from_db()
    assert edit.status == Status.QUEUED and edit.is_retrying
    assert edit.latest_preview is not None and edit.poll_token == "queued.1"


def test_previews_are_deleted_when_the_edit_fails(upstream, owner):
    upstream.push_fault("openai_error", after_partials=2, type="server_error")
    edit = queued(owner)
    assert run_edit.call(edit.pk) == "failed"
    edit.refresh_from_db()
    assert edit.status == Status.FAILED
    assert upstream.edit_requests[-1].events == [PARTIAL, PARTIAL, "error"]
    assert not PreviewImage.objects.filter(edit=edit).exists()


def test_no_preview_is_written_without_the_lease(owner):
    edit = queued(owner, status=Status.RUNNING)
    edit.lease_token = "not-the-current-one"
    png = image_bytes((64, 64))
    assert PreviewImage.store(edit, 0, png) is None
    Edit.objects.filter(pk=edit.pk).update(lease_token="not-the-current-one")
    assert PreviewImage.store(edit, 0, png) is not None
    Edit.objects.filter(pk=edit.pk).update(status=Status.SUCCEEDED)
    assert PreviewImage.store(edit, 1, png) is None
    assert PreviewImage.store(edit, 2, b"not an image") is None


@pytest.mark.parametrize(
    "setting, model, asked",
    [
        (None, "gpt-image-1", "2"),  # the default where the model streams
        (3, "gpt-image-1", "3"),
        (9, "gpt-image-1", "3"),
        (0, "gpt-image-1", None),
        (2, "dall-e-2", None),  # a model that does not stream
    ],
)
def test_partial_images_follow_the_setting_and_the_catalogue(
    upstream, owner, settings, setting, model, asked
):
    settings.RETOUCH_PARTIAL_IMAGES = setting
    params = {"size": "256x256"} if model == "dall-e-2" else {"size": "1024x1024"}
    edit = queued(owner, model=model, params=params)
    assert run_edit.call(edit.pk) == "succeeded"
    fields = upstream.edit_requests[-1].fields
    assert fields.get("partial_images") == (None if asked is None else [asked])
    assert ("stream" in fields) is (asked is not None)


def test_several_results_are_not_streamed(upstream, owner):
    edit = queued(owner, params={"n": 2, "size": "1024x1024"})
    assert run_edit.call(edit.pk) == "succeeded"
    assert "stream" not in upstream.edit_requests[-1].fields
    assert Edit.objects.get(pk=edit.pk).results.count() == 2


def test_callback_mode_is_unchanged(callbacks, owner):
    edit = queued(owner)
    assert run_edit.call(edit.pk) == "submitted"
    fields = callbacks.edit_requests[-1].fields
    assert "stream" not in fields and "partial_images" not in fields


def test_a_pending_card_without_previews_keeps_the_plain_token(client, owner):
    client.force_login(owner)
    edit = queued(owner, status=Status.RUNNING)
    html = client.get("/").content.decode()
    assert f'value="{edit.pk}:running" data-pending' in html
    assert "live-preview" not in html
    Edit.objects.filter(pk=edit.pk).update(lease_token="held")
    edit.refresh_from_db()
    PreviewImage.store(edit, 0, image_bytes((64, 64)))
    html = client.get("/").content.decode()
    assert f'value="{edit.pk}:running.1" data-pending' in html
    assert re.search(
        r'<img class="live-preview-image" src="data:image/webp;base64,[^"]+" alt="Preview 1 of: ',
        html,
    )
