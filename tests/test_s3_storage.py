"""Media in an S3-compatible bucket (MEDIA_STORAGE_BACKEND=s3, editor/edits/media.py),
against a real S3 server on 127.0.0.1: moto's server mode, started once for the run
(tests/s3_server.py), a fresh bucket for each test.

The edit loop, downloads, zips, thumbnails, previews, batches, callbacks and deletion
run against the bucket with nothing written under MEDIA_ROOT (every test checks the
local media folders stay empty). Large files go up in parts and come back streamed.
With RETOUCH_MEDIA_REDIRECT, downloads and thumbnails redirect to a presigned URL and
the bucket stays private.

Faults: a bucket that cannot be reached (a port nobody listens on) and one that refuses
writes (a second moto server with its IAM checks on, whose user is denied s3:PutObject).

What moto does not check, and so these tests cannot: a presigned URL's signature and
its expiry (moto serves a tampered or expired one); they check the URL asks for a short
expiry and that a GET without any signature is refused.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from editor.edits import delivery, media
from editor.edits.models import Edit, HeldResult, LedgerEntry, PreviewImage, Status
from editor.edits.reconcile import reconcile
from editor.edits.services import store_results
from editor.edits.tasks import run_edit
from editor.settings import _bucket_origins
from editor.teams.models import Activity
from editor.upstream import EditResult
from editor.upstream.schema import ResultImage as Answered

from .factories import HTMX, image_bytes, make_edit, make_user, personal_team, post_edit, upload
from .queue import run_queue
from .s3_server import S3Server, unreachable_options

pytestmark = pytest.mark.django_db

S3_BACKEND = "editor.edits.media.S3MediaStorage"


@pytest.fixture(scope="session")
def s3():
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def locked_s3():
    """A second server whose IAM checks are on: `read_only_keys` may not write objects."""
    server = S3Server(locked=True).start()
    yield server
    server.stop()


def use_storage(settings, options: dict) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": S3_BACKEND, "OPTIONS": options},
    }


@pytest.fixture(autouse=True)
def nothing_local(_private_media, settings, tmp_path):
    """MEDIA_ROOT and the per-test folder conftest points the local storage at: both must
    stay empty, whatever the test does with the bucket."""
    settings.MEDIA_ROOT = tmp_path / "media-root"
    settings.MEDIA_ROOT.mkdir()
    yield
    written = [p for folder in (settings.MEDIA_ROOT, tmp_path / "media") for p in files(folder)]
    assert written == [], f"written to local disk: {written}"


def files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture
def bucket(s3, settings) -> str:
    name = s3.new_bucket()
    use_storage(settings, s3.storage_options(name))
    return name


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def zip_of(response) -> zipfile.ZipFile:
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(body(response)))


# --- The app on a bucket --------------------------------------------------------------------


def test_an_edit_is_stored_sent_and_shown_from_the_bucket(bucket, s3, upstream, alice_client):
    photo = image_bytes((96, 80), (10, 120, 200))
    assert post_edit(alice_client, [upload("p.png", photo)], htmx=False).status_code == 302

    assert run_queue() == [("run_edit", "succeeded")]

    edit = Edit.objects.get()
    source, result = edit.sources.get(), edit.results.get()
    assert s3.keys_in(bucket) == sorted([source.file.name, result.file.name, result.thumbnail.name])
    assert s3.object(bucket, source.file.name) == photo
    assert upstream.edit_requests[-1].files[0]["size"] == len(photo)  # read from the bucket
    download = alice_client.get(reverse("edit_result_download", args=[edit.pk, 0]))
    assert download["Content-Disposition"].startswith("attachment;")
    assert body(download) == s3.object(bucket, result.file.name)
    assert download["Content-Length"] == str(result.size_bytes)
    shown = alice_client.get(reverse("edit_source", args=[edit.pk, 0]))
    assert body(shown) == photo and shown["Content-Disposition"].startswith("inline;")


def test_a_stored_result_has_its_thumbnail_in_the_bucket(bucket, s3, alice):
    edit = make_edit(personal_team(alice), alice, sources=0, status=Status.RUNNING)
    answer = Answered(data=image_bytes((900, 600), (30, 90, 160)), content_type="image/png")
    assert store_results(edit, EditResult(images=[answer]))
    result = edit.results.get()
    assert result.thumbnail.name.startswith("thumbnails/")
    with Image.open(io.BytesIO(s3.object(bucket, result.thumbnail.name))) as thumb:
        assert thumb.size == (640, 427)


def test_a_result_without_thumbnail_gets_one_drawn_from_the_bucket_and_kept_there(
    bucket, s3, alice, alice_client
):
    edit = make_edit(personal_team(alice), alice, sources=0, status=Status.RUNNING)
    answer = Answered(data=image_bytes((900, 600), (30, 90, 160)), content_type="image/png")
    assert store_results(edit, EditResult(images=[answer]))
    # As one whose thumbnail could not be made while it was stored (no decode slot).
    edit.results.update(thumbnail="")
    result = edit.results.get()

    response = alice_client.get(reverse("edit_result_thumbnail", args=[edit.pk, 0]))

    assert response["Content-Type"] == "image/webp"
    result.refresh_from_db()
    assert result.thumbnail.name.startswith("thumbnails/")
    drawn = body(response)
    assert drawn == s3.object(bucket, result.thumbnail.name)
    with Image.open(io.BytesIO(drawn)) as thumb:
        assert thumb.size == (640, 427)


def test_zips_of_one_edit_and_of_several_stream_from_the_bucket(bucket, s3, alice, alice_client):
    first = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, results=2)
    second = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, results=1)

    one = zip_of(alice_client.get(reverse("edit_download_all", args=[first.pk]), {"all": "1"}))
    several = zip_of(
        alice_client.get(reverse("edits_download_selected"), {"ids": [first.pk, second.pk]})
    )

    stored = [r.file.name for r in first.results.all()]
    assert [one.read(name) for name in one.namelist()] == [s3.object(bucket, n) for n in stored]
    assert len(several.namelist()) == 4 and several.namelist()[-1] == "manifest.csv"
    manifest = csv.DictReader(io.StringIO(several.read("manifest.csv").decode("utf-8-sig")))
    assert {int(row["edit_id"]) for row in manifest} == {first.pk, second.pk}


def test_a_streamed_edit_shows_previews_and_stores_only_its_result_in_the_bucket(
    bucket, s3, upstream, owner, settings
):
    settings.RETOUCH_PARTIAL_IMAGES = 2
    edit = make_edit(personal_team(owner), owner)

    assert run_edit.call(edit.pk) == "succeeded"

    edit.refresh_from_db()
    assert edit.usage["partial_images"] == 2
    assert not PreviewImage.objects.exists()  # kept in the database, gone once final
    result = edit.results.get()
    assert s3.keys_in(bucket) == sorted(
        [edit.sources.get().file.name, result.file.name, result.thumbnail.name]
    )


def test_a_batch_is_stored_zipped_and_deleted_in_the_bucket(
    bucket, s3, upstream, alice, alice_client, django_capture_on_commit_callbacks
):
    photos = [upload(f"shot-{i}.png", image_bytes((64, 64), (40 * i, 90, 10))) for i in range(2)]
    data = {"model": "gpt-image-1", "prompt": "White background", "images": photos}
    response = alice_client.post(reverse("edit_create"), data | {"apply_to": "each"}, **HTMX)
    assert response.status_code == 200
    assert [outcome for _, outcome in run_queue()] == ["succeeded", "succeeded"]
    batch = Edit.objects.first().batch

    archive = zip_of(alice_client.get(reverse("batch_download", args=[batch.pk])))
    assert len(archive.namelist()) == 3
    assert len(s3.keys_in(bucket)) == 6  # two photos, two results, two thumbnails

    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("batch_delete", args=[batch.pk]))
    assert not Edit.objects.exists()
    assert s3.keys_in(bucket) == []


def test_deleting_an_edit_removes_its_objects_from_the_bucket(
    bucket, s3, alice, alice_client, django_capture_on_commit_callbacks
):
    gone = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, results=2)
    kept = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, results=1)
    kept_keys = [r.file.name for r in kept.results.all()] + [kept.sources.get().file.name]
    kept_keys += [r.thumbnail.name for r in kept.results.all()]
    assert len(s3.keys_in(bucket)) == 2 + 3 * 2  # two photos, three results with thumbnails

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("edit_delete", args=[gone.pk]))

    assert response.status_code == 302
    assert s3.keys_in(bucket) == sorted(kept_keys)
    assert Edit.objects.get() == kept


def test_a_callback_is_spooled_in_the_bucket_and_removed_once_read(
    bucket, s3, callbacks, owner, client
):
    edit = make_edit(personal_team(owner), owner)
    assert run_edit.call(edit.pk) == "submitted"
    assert callbacks.wait_for_callbacks(1, timeout=10)
    hook = urlsplit(callbacks.callbacks[0]["url"]).path
    payload = callbacks.callbacks[0]["payload"]

    assert client.post(hook, payload, content_type="application/json").status_code == 202
    assert any(key.startswith("callbacks/") for key in s3.keys_in(bucket))
    assert run_queue() == [("finish_callback", "succeeded")]

    assert not any(key.startswith("callbacks/") for key in s3.keys_in(bucket))
    assert Edit.objects.get().status == Status.SUCCEEDED


def test_a_large_result_goes_up_in_parts_and_comes_back_streamed(bucket, s3, alice, alice_client):
    noise = Image.effect_noise((3000, 2000), 60).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=0)
    large = out.getvalue()
    assert len(large) > 16 * media.MB  # more than two of the storage's 8 MB parts
    edit = make_edit(personal_team(alice), alice, sources=0, status=Status.RUNNING)

    assert store_results(edit, EditResult(images=[Answered(data=large, content_type="image/png")]))

    result = edit.results.get()
    head = s3.client().head_object(Bucket=bucket, Key=result.file.name)
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
    with media.open_stream(result.file) as stream:
        assert isinstance(stream, media.ObjectStream) and stream.size == len(large)
    response = alice_client.get(reverse("edit_result_download", args=[edit.pk, 0]))
    assert response.block_size == media.CHUNK
    assert body(response) == large


# --- Redirects to presigned URLs ------------------------------------------------------------


@pytest.fixture
def redirects(settings):
    settings.RETOUCH_MEDIA_REDIRECT = True


def test_a_download_redirects_to_a_presigned_url_valid_for_minutes(
    bucket, s3, redirects, alice, alice_client
):
    edit = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, results=1)
    result = edit.results.get()

    response = alice_client.get(reverse("edit_result_download", args=[edit.pk, 0]))

    assert response.status_code == 302
    assert response["Cache-Control"] == "private, max-age=150"
    url = response["Location"]
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == [str(media.REDIRECT_SECONDS)]
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == s3.object(bucket, result.file.name)
    assert fetched.headers["Content-Disposition"] == (
        f'attachment; filename="{result.download_name()}"'
    )
    assert fetched.headers["Content-Type"] == "image/png"


def test_the_bucket_stays_private_a_get_without_signature_is_refused(
    bucket, s3, redirects, alice, alice_client
):
    edit = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, results=1)
    response = alice_client.get(reverse("edit_result_thumbnail", args=[edit.pk, 0]))
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["response-content-type"] == ["image/webp"]
    unsigned = response["Location"].split("?")[0]
    assert unsigned.startswith(s3.endpoint)

    assert requests.get(unsigned, timeout=10).status_code == 403


def test_another_teams_download_is_404_not_a_redirect(bucket, redirects, alice, client):
    edit = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, results=1)
    client.force_login(make_user("mallory"))

    for name in ("edit_result_download", "edit_result_thumbnail", "edit_result"):
        assert client.get(reverse(name, args=[edit.pk, 0])).status_code == 404


def test_redirects_need_a_bucket_files_on_disk_are_streamed(settings, redirects, alice, client):
    settings.STORAGES = {  # back on the local folder, this one test only
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(settings.MEDIA_ROOT.parent / "disk")},
        },
    }
    edit = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, results=1)
    client.force_login(alice)

    response = client.get(reverse("edit_result_download", args=[edit.pk, 0]))

    assert response.status_code == 200 and body(response)


def test_pages_may_show_images_from_the_buckets_address_only():
    assert _bucket_origins({"bucket_name": "m", "endpoint_url": "https://s3.example.com:9000"}) == [
        "https://s3.example.com:9000",
        "https://m.s3.example.com:9000",
    ]
    assert _bucket_origins({"bucket_name": "m", "region_name": "eu-west-1"}) == [
        "https://m.s3.amazonaws.com",
        "https://m.s3.eu-west-1.amazonaws.com",
    ]
    assert _bucket_origins({"custom_domain": "media.example.com"}) == ["https://media.example.com"]


# --- Faults: a bucket unreachable or refusing writes -----------------------------------------


@pytest.fixture(params=["unreachable", "refusing writes"])
def broken_bucket(request, settings, s3, locked_s3) -> tuple[S3Server, str]:
    """A bucket the app cannot write to, and the server that has it."""
    if request.param == "unreachable":
        name = s3.new_bucket()
        use_storage(settings, unreachable_options(name))
        return s3, name
    name = locked_s3.new_bucket()
    use_storage(settings, locked_s3.storage_options(name, locked_s3.read_only_keys))
    return locked_s3, name


def assert_nothing_stored(broken_bucket) -> None:
    server, name = broken_bucket
    assert not Edit.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert not Activity.objects.filter(verb=Activity.Verb.EDIT_CREATED).exists()
    assert server.keys_in(name) == []


def test_the_form_says_the_storage_is_unavailable_and_stores_nothing(broken_bucket, alice_client):
    response = post_edit(alice_client, htmx=False)

    assert response.status_code == 503
    assert "file storage is unavailable" in response.content.decode()
    assert response["Retry-After"] == str(media.RETRY_AFTER_SECONDS)
    assert_nothing_stored(broken_bucket)
    # With htmx, the same words in the form (htmx swaps only 2xx answers).
    again = post_edit(alice_client)
    assert again.status_code == 200 and "file storage is unavailable" in again.content.decode()
    assert_nothing_stored(broken_bucket)


def test_a_batch_is_refused_whole_when_the_storage_is_unavailable(broken_bucket, alice_client):
    photos = [upload(f"shot-{i}.png") for i in range(3)]
    data = {"model": "gpt-image-1", "prompt": "x", "images": photos, "apply_to": "each"}

    response = alice_client.post(reverse("edit_create"), data)

    assert response.status_code == 503
    assert_nothing_stored(broken_bucket)


def test_editing_an_earlier_result_says_the_storage_is_unavailable_when_it_cannot_be_read(
    bucket, s3, settings, alice, alice_client
):
    earlier = make_edit(personal_team(alice), alice, status=Status.SUCCEEDED, results=1)
    stored = s3.keys_in(bucket)
    use_storage(settings, unreachable_options(bucket))
    fields = {"parent": earlier.pk, "parent_result": 0}

    response = post_edit(alice_client, [], prompt="Now in winter", htmx=False, **fields)

    assert response.status_code == 503
    assert "file storage is unavailable" in response.content.decode()
    assert list(Edit.objects.all()) == [earlier]
    assert s3.keys_in(bucket) == stored


def test_a_finishing_edit_holds_its_result_while_the_bucket_refuses_writes_and_stores_it_later(
    locked_s3, settings, upstream, owner
):
    bucket = locked_s3.new_bucket()
    writable = locked_s3.storage_options(bucket)
    use_storage(settings, writable)
    edit = make_edit(personal_team(owner), owner)  # its photo is in the bucket
    use_storage(settings, locked_s3.storage_options(bucket, locked_s3.read_only_keys))

    assert run_edit.call(edit.pk) == "held"

    edit.refresh_from_db()
    assert edit.status == Status.RUNNING
    assert (edit.lease_token, edit.lease_expires_at) == ("", None)
    held = edit.held_results.get()
    kept = bytes(held.data)
    assert Image.open(io.BytesIO(kept)).size == (1024, 1024)
    assert not edit.results.exists()
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.COST).exists()

    # Still refused, long past the deadline: kept, not failed, never sent again.
    settings.RETOUCH_EDIT_DEADLINE_SECONDS = 60
    Edit.objects.filter(pk=edit.pk).update(started_at=timezone.now() - timedelta(hours=1))
    assert reconcile() == {"held_held": 1}
    edit.refresh_from_db()
    assert edit.status == Status.RUNNING and edit.held_results.count() == 1
    assert len(upstream.edit_requests) == 1

    use_storage(settings, writable)  # the bucket takes writes again
    assert reconcile() == {"held_succeeded": 1}

    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED and edit.trace_id
    result = edit.results.get()
    assert locked_s3.object(bucket, result.file.name) == kept
    assert result.thumbnail
    assert not HeldResult.objects.exists()
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.COST, edit_id=edit.pk).exists()
    assert reconcile() == {}
    assert len(upstream.edit_requests) == 1


def test_a_finishing_generation_keeps_its_result_while_the_bucket_is_unreachable(
    bucket, s3, settings, upstream, owner
):
    reachable = settings.STORAGES["default"]["OPTIONS"]
    edit = make_edit(personal_team(owner), owner, sources=0)
    Edit.objects.filter(pk=edit.pk).update(kind=Edit.Kind.GENERATION)
    use_storage(settings, unreachable_options(bucket))

    assert run_edit.call(edit.pk) == "held"
    assert reconcile() == {"held_held": 1}

    # Two reconcilers at once: only one of them takes it.
    first, second = Edit.objects.get(pk=edit.pk), Edit.objects.get(pk=edit.pk)
    assert first.claim_held(60) and not second.claim_held(60)
    first.release_lease()

    use_storage(settings, reachable)
    assert reconcile() == {"held_succeeded": 1}
    edit.refresh_from_db()
    assert edit.status == Status.SUCCEEDED
    assert s3.keys_in(bucket) == sorted(
        [edit.results.get().file.name, edit.results.get().thumbnail.name]
    )


def test_a_held_result_that_cannot_be_stored_for_another_reason_fails_the_edit_once(
    bucket, settings, upstream, owner, monkeypatch
):
    reachable = settings.STORAGES["default"]["OPTIONS"]
    edit = make_edit(personal_team(owner), owner, sources=0)
    Edit.objects.filter(pk=edit.pk).update(kind=Edit.Kind.GENERATION)
    use_storage(settings, unreachable_options(bucket))
    assert run_edit.call(edit.pk) == "held"
    use_storage(settings, reachable)

    def broken(edit, result):
        raise ValueError("a bug, not the storage")

    monkeypatch.setattr(delivery, "store_results", broken)
    assert reconcile() == {"held_failed": 1}

    edit.refresh_from_db()
    assert edit.status == Status.FAILED and edit.error_code == "store_failed"
    assert not HeldResult.objects.exists()
    assert reconcile() == {}


def test_a_callback_the_storage_cannot_take_is_refused_with_503_for_the_gateway_to_resend(
    bucket, settings, callbacks, owner, client
):
    edit = make_edit(personal_team(owner), owner, sources=0)
    Edit.objects.filter(pk=edit.pk).update(kind=Edit.Kind.GENERATION)
    assert run_edit.call(edit.pk) == "submitted"
    assert callbacks.wait_for_callbacks(1, timeout=10)
    hook = urlsplit(callbacks.callbacks[0]["url"]).path
    use_storage(settings, unreachable_options(bucket))

    response = client.post(hook, callbacks.callbacks[0]["payload"], content_type="application/json")

    assert response.status_code == 503
    assert run_queue() == []
    edit.refresh_from_db()
    assert edit.status == Status.RUNNING and edit.task_id
