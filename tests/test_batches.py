"""Batches: "Apply to each photo separately" makes one edit per photo, grouped as a batch
with one card in the gallery, its progress in the gallery's single poll, and actions
on the whole batch (retry the failed ones, one zip, delete)."""

import csv
import io
import zipfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from editor.edits import services
from editor.edits.imaging import ImageFacts
from editor.edits.models import Batch, Edit, LedgerEntry, SourceImage, Status
from editor.teams.models import Activity

from .factories import HTMX, image_bytes, make_edit, make_user, upload

pytestmark = pytest.mark.django_db


def make_batch(team, user, statuses, prompt="Put it on a white background") -> Batch:
    """A batch whose edits are in `statuses` (a succeeded one has a result)."""
    batch = Batch.objects.create(team=team, created_by=user, prompt=prompt)
    for status in statuses:
        edit = make_edit(
            team, user, prompt=prompt, status=status, results=int(status == Status.SUCCEEDED)
        )
        Edit.objects.filter(pk=edit.pk).update(batch=batch)
    return batch


def photos(count: int, *, size=(64, 64)) -> list:
    return [upload(f"shot-{i + 1}.png", image_bytes(size, (10 * i, 80, 160))) for i in range(count)]


def post_batch(client, images, *, htmx=True, **fields):
    data = {
        "model": "gpt-image-1",
        "prompt": "Put it on a white background",
        "images": images,
        "apply_to": "each",
        **fields,
    }
    return client.post(reverse("edit_create"), data, **(HTMX if htmx else {}))


def create_batch_directly(studio, count: int, **extra) -> Batch:
    """`services.create_batch` as the view calls it, for the editor: `count` small PNGs."""
    return services.create_batch(
        membership=studio.team.memberships.get(user=studio.editor),
        model="gpt-image-1",
        prompt="x",
        params={},
        images=photos(count),
        facts=[ImageFacts("PNG", "image/png", 64, 64, False)] * count,
        **extra,
    )


def stored_files(tmp_path) -> list:
    media = tmp_path / "media"
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


@pytest.fixture
def ed_client(client, studio):
    client.force_login(studio.editor)
    return client


# --- Creating and grouping ---------------------------------------------------------------


def test_each_photo_becomes_an_edit_of_one_batch(ed_client, studio):
    response = post_batch(ed_client, photos(3), quality="low")

    assert response.status_code == 200
    batch = Batch.objects.get()
    edits = list(batch.edits.order_by("pk"))
    assert len(edits) == 3
    assert {e.prompt for e in edits} == {"Put it on a white background"}
    assert all(e.params.get("quality") == "low" for e in edits)
    assert [[s.original_name for s in e.sources.all()] for e in edits] == [
        ["shot-1.png"],
        ["shot-2.png"],
        ["shot-3.png"],
    ]
    assert (batch.team, batch.created_by) == (studio.team, studio.editor)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.STARTED).count() == 3
    body = response.content.decode()
    assert f'id="batch-{batch.pk}"' in body
    assert "0 of 3 done" in body


def test_together_stays_the_default_one_edit_with_all_photos(ed_client):
    response = ed_client.post(
        reverse("edit_create"),
        {"model": "gpt-image-1", "prompt": "A gift basket", "images": photos(2)},
        **HTMX,
    )

    assert response.status_code == 200
    edit = Edit.objects.get()
    assert edit.batch is None
    assert edit.sources.count() == 2
    assert not Batch.objects.exists()


def test_each_with_one_photo_is_a_plain_edit(ed_client):
    post_batch(ed_client, photos(1))

    assert Edit.objects.get().batch is None
    assert not Batch.objects.exists()


def test_each_is_fine_for_a_model_that_takes_several_photos(ed_client):
    """gpt-image-1 takes up to 16 photos in one request; each edit of a batch sends one."""
    response = post_batch(ed_client, photos(17), htmx=False)

    assert response.status_code == 302
    assert Batch.objects.get().edits.count() == 17
    assert set(SourceImage.objects.values_list("position", flat=True)) == {0}


def test_the_form_offers_together_or_each_with_an_example_each(ed_client):
    body = ed_client.get(reverse("home")).content.decode()

    assert 'name="apply_to" value="together"' in body
    assert 'name="apply_to" value="each"' in body
    assert "Combine them into one picture" in body
    assert "Apply to each photo separately" in body
    assert body.count('class="hint" id="apply-to-') == 2


def test_a_mask_applied_to_each_photo_must_fit_every_one(ed_client):
    mask = upload("mask.png", image_bytes((64, 64), (0, 0, 0, 0), mode="RGBA"))
    images = [*photos(1), upload("wide.png", image_bytes((96, 64)))]

    response = post_batch(ed_client, images, mask=mask)

    assert "same size as every photo" in response.content.decode()
    assert not Edit.objects.exists()


def test_each_edit_of_a_batch_gets_its_own_copy_of_the_mask(ed_client):
    mask = upload("mask.png", image_bytes((64, 64), (0, 0, 0, 0), mode="RGBA"))

    post_batch(ed_client, photos(2), mask=mask)

    first, second = Edit.objects.order_by("pk")
    assert first.mask and second.mask and first.mask.name != second.mask.name


# --- Bad input: refused whole, nothing stored ------------------------------------------


def test_mixed_valid_and_invalid_photos_name_each_bad_file_and_store_nothing(ed_client, tmp_path):
    bad_png = upload("notes.png", b"this is not a picture")
    truncated = upload("cut.jpg", image_bytes((64, 64), fmt="JPEG")[:200], "image/jpeg")
    images = [*photos(2), bad_png, truncated]

    response = post_batch(ed_client, images)

    body = response.content.decode()
    assert "notes.png" in body
    assert "cut.jpg" in body
    assert "shot-1.png" not in body
    assert not Edit.objects.exists() and not Batch.objects.exists()
    assert not SourceImage.objects.exists()
    assert stored_files(tmp_path) == []


def test_a_batch_over_the_limit_is_refused_saying_how_many_it_takes(ed_client, settings):
    settings.RETOUCH_MAX_BATCH = 3

    response = post_batch(ed_client, photos(5))

    assert "A batch takes at most 3 photos; you added 5: remove 2" in response.content.decode()
    assert not Edit.objects.exists()


def test_the_rate_limit_refuses_a_batch_whole_saying_how_many_would_fit(
    ed_client, studio, settings, tmp_path
):
    settings.RETOUCH_RATE_LIMIT = "5/hour"
    make_edit(studio.team, studio.editor)
    make_edit(studio.team, studio.editor)
    before = stored_files(tmp_path)

    response = post_batch(ed_client, photos(4), htmx=False)

    assert response.status_code == 429
    body = response.content.decode()
    assert "This batch would start 4 edits" in body
    assert "you can start only 3 more edits now" in body
    assert Edit.objects.count() == 2 and not Batch.objects.exists()
    assert LedgerEntry.objects.count() == 2
    assert stored_files(tmp_path) == before


def test_a_batch_that_fits_the_rate_limit_exactly_starts(ed_client, studio, settings):
    settings.RETOUCH_RATE_LIMIT = "5/hour"
    make_edit(studio.team, studio.editor)

    post_batch(ed_client, photos(4))

    assert Batch.objects.get().edits.count() == 4


def test_the_rate_limit_is_checked_again_with_the_rows(studio, settings):
    """Between the view's check and the rows, other starts may have used the room."""
    settings.RETOUCH_RATE_LIMIT = "3/hour"
    make_edit(studio.team, studio.editor)
    make_edit(studio.team, studio.editor)

    with pytest.raises(services.limits.LimitReached, match="only 1 more edit now"):
        create_batch_directly(studio, 2)
    assert not Batch.objects.exists()


def test_an_exhausted_budget_refuses_a_batch_before_anything_is_stored(ed_client, studio, tmp_path):
    studio.team.monthly_budget_usd = 1
    studio.team.save()
    LedgerEntry.objects.create(
        team=studio.team, user=studio.owner, kind=LedgerEntry.Kind.COST, cost_usd=2
    )

    response = post_batch(ed_client, photos(3), htmx=False)

    assert response.status_code == 402
    assert not Edit.objects.exists() and stored_files(tmp_path) == []


def test_nothing_is_left_behind_when_storing_the_rows_fails(studio, tmp_path, monkeypatch):
    queued = []

    def enqueue_then_fail(edit):
        queued.append(edit.pk)
        if len(queued) == 2:
            raise RuntimeError("the queue table is gone")

    monkeypatch.setattr(services, "enqueue_edit", enqueue_then_fail)

    with pytest.raises(RuntimeError):
        create_batch_directly(studio, 3, mask=upload("mask.png", image_bytes(mode="RGBA")))
    assert not Batch.objects.exists() and not Edit.objects.exists()
    assert not SourceImage.objects.exists() and not LedgerEntry.objects.exists()
    assert stored_files(tmp_path) == []


# --- The gallery -------------------------------------------------------------------------


def test_a_batch_has_one_card_in_the_gallery(ed_client, studio):
    batch = make_batch(studio.team, studio.editor, [Status.SUCCEEDED, Status.FAILED, "running"])
    single = make_edit(studio.team, studio.editor, prompt="Alone")

    body = ed_client.get(reverse("home")).content.decode()

    assert body.count(f'id="batch-{batch.pk}"') == 1
    assert f'id="edit-{single.pk}"' in body
    for edit in batch.edits.all():
        assert f'id="edit-{edit.pk}"' not in body
    assert "1 of 3 done, 1 failed" in body
    assert f'name="batch" value="{batch.pk}:0.1.1.1"' in body


def test_filters_and_search_find_batches_by_their_edits(ed_client, studio):
    batch = make_batch(studio.team, studio.editor, [Status.SUCCEEDED, Status.FAILED])
    make_edit(studio.team, studio.editor, prompt="Something else", status=Status.SUCCEEDED)
    card = f'id="batch-{batch.pk}"'

    def gallery(**query):
        return ed_client.get(reverse("home"), query).content.decode()

    assert card in gallery(q="white background")
    assert card in gallery(status="failed")
    assert card not in gallery(q="something else")
    assert card not in gallery(status="queued")


def test_the_batch_page_lists_its_edits_each_with_its_own_page(ed_client, studio):
    batch = make_batch(studio.team, studio.editor, [Status.SUCCEEDED, Status.FAILED])

    body = ed_client.get(reverse("batch_detail", args=[batch.pk])).content.decode()

    assert "1 of 2 done, 1 failed" in body
    for edit in batch.edits.all():
        assert reverse("edit_detail", args=[edit.pk]) in body


# --- Progress in the single poll -----------------------------------------------------------


def poll(client, batch, shown: str):
    return client.get(reverse("gallery_updates"), {"batch": f"{batch.pk}:{shown}"})


def test_the_poll_brings_a_batch_card_back_when_its_counts_change(ed_client, studio):
    batch = make_batch(studio.team, studio.editor, ["running", Status.SUCCEEDED])

    body = poll(ed_client, batch, "0.2.0.0").content.decode()

    assert f'id="batch-{batch.pk}"' in body and 'hx-swap-oob="true"' in body
    assert "1 of 2 done" in body
    assert poll(ed_client, batch, batch_token(batch)).content.decode().strip() == ""


def batch_token(batch) -> str:
    return Batch.objects.with_progress().get(pk=batch.pk).poll_token


def test_a_finished_batch_is_announced(ed_client, studio):
    batch = make_batch(studio.team, studio.editor, [Status.SUCCEEDED, Status.FAILED])

    body = poll(ed_client, batch, "0.1.1.0").content.decode()

    assert "1 of 2 done, 1 failed" in body and 'id="announcer"' in body
    assert 'name="batch"' not in body  # nothing left to poll for


def test_the_poll_costs_the_same_queries_whatever_the_batch_size(
    ed_client, studio, django_assert_num_queries
):
    small = make_batch(studio.team, studio.editor, ["running", Status.SUCCEEDED])
    statuses = ["running"] * 10 + [Status.SUCCEEDED] * 8 + [Status.FAILED] * 2
    large = make_batch(studio.team, studio.editor, statuses)
    poll(ed_client, small, "stale")  # the session and membership, once

    with CaptureQueriesContext(connection) as small_poll:
        assert "1 of 2 done" in poll(ed_client, small, "stale").content.decode()
    with django_assert_num_queries(len(small_poll.captured_queries)):
        assert "8 of 20 done, 2 failed" in poll(ed_client, large, "stale").content.decode()


def test_the_poll_ignores_other_teams_batches(client, studio):
    outsider = make_user("mallory")
    client.force_login(outsider)
    batch = make_batch(studio.team, studio.editor, ["running"])

    assert poll(client, batch, "stale").content.decode().strip() == ""


# --- Actions on the whole batch ------------------------------------------------------------


def test_retry_queues_every_failed_edit_again(ed_client, studio):
    batch = make_batch(studio.team, studio.editor, [Status.SUCCEEDED, Status.FAILED] * 2)

    response = ed_client.post(reverse("batch_retry", args=[batch.pk]), **HTMX)

    assert response.status_code == 200
    statuses = sorted(batch.edits.values_list("status", flat=True))
    assert statuses == ["queued", "queued", "succeeded", "succeeded"]
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RETRIED).count() == 2
    assert "2 of 4 done" in response.content.decode()


def test_retry_is_refused_whole_when_not_all_failed_edits_fit(ed_client, studio, settings):
    settings.RETOUCH_RATE_LIMIT = "4/hour"  # 3 starts made: room for 1, 2 failed
    batch = make_batch(studio.team, studio.editor, [Status.SUCCEEDED, Status.FAILED, "failed"])

    response = ed_client.post(reverse("batch_retry", args=[batch.pk]))

    assert response.status_code == 302
    assert sorted(batch.edits.values_list("status", flat=True)).count("failed") == 2
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("only 1 more edit now" in m for m in messages)


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 302), ("viewer", 403), ("other_editor", 403)]
)
def test_who_may_retry_or_delete_a_batch(client, studio, who, status):
    other = make_user("eve")
    studio.team.memberships.create(user=other, role="editor")
    users = {"owner": studio.owner, "viewer": studio.viewer, "other_editor": other}
    client.force_login(users[who])
    batch = make_batch(studio.team, studio.editor, [Status.FAILED])

    assert client.post(reverse("batch_retry", args=[batch.pk])).status_code == status
    assert client.post(reverse("batch_delete", args=[batch.pk])).status_code == status
    assert Batch.objects.filter(pk=batch.pk).exists() is (status != 302)


def test_download_zips_every_finished_result_with_a_manifest(client, studio):
    client.force_login(studio.viewer)  # looking and downloading is for every member
    batch = make_batch(
        studio.team, studio.editor, [Status.SUCCEEDED, Status.SUCCEEDED, Status.FAILED]
    )

    response = client.get(reverse("batch_download", args=[batch.pk]))

    assert response.status_code == 200
    assert "-batch.zip" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert len(names) == 3 and names[-1] == "manifest.csv"
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert [row["file_name"] for row in rows] == names[:2]
    done = batch.edits.filter(status=Status.SUCCEEDED)
    assert {int(row["edit_id"]) for row in rows} == set(done.values_list("pk", flat=True))


def test_download_of_a_batch_with_nothing_finished_is_404(ed_client, studio):
    batch = make_batch(studio.team, studio.editor, ["running"])

    assert ed_client.get(reverse("batch_download", args=[batch.pk])).status_code == 404


def test_delete_removes_the_batch_its_edits_and_their_files(
    ed_client, studio, tmp_path, django_capture_on_commit_callbacks
):
    batch = make_batch(studio.team, studio.editor, [Status.SUCCEEDED, Status.FAILED])
    keep = make_edit(studio.team, studio.editor, prompt="Not in the batch")
    kept_files = {keep.sources.get().file.path}
    url = reverse("batch_delete", args=[batch.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = ed_client.post(url, **HTMX | {"HTTP_HX_TARGET": f"batch-{batch.pk}"})

    assert response.status_code == 200 and "Deleted the batch" in response.content.decode()
    assert not Batch.objects.exists()
    assert list(Edit.objects.all()) == [keep]
    assert {str(p) for p in stored_files(tmp_path)} == kept_files
    assert Activity.objects.filter(verb=Activity.Verb.EDIT_DELETED).exists()


def test_a_batch_with_a_running_edit_cannot_be_deleted(ed_client, studio):
    batch = make_batch(studio.team, studio.editor, [Status.SUCCEEDED, "running"])

    response = ed_client.post(reverse("batch_delete", args=[batch.pk]))

    assert response.status_code == 302
    assert batch.edits.count() == 2
    page = ed_client.get(reverse("batch_delete", args=[batch.pk])).content.decode()
    assert "being made right now" in page


def test_other_teams_batches_are_404(client, studio):
    client.force_login(make_user("mallory"))
    batch = make_batch(studio.team, studio.editor, [Status.FAILED])

    for name in ("batch_detail", "batch_download", "batch_delete"):
        assert client.get(reverse(name, args=[batch.pk])).status_code == 404
    assert client.post(reverse("batch_retry", args=[batch.pk])).status_code == 404
