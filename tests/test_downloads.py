"""Downloads: exact bytes, meaningful names, a streamed zip of all results."""

import io
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from editor.edits.models import ResultImage, Status

from .factories import image_bytes, make_edit, personal_team, succeeded_edit

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def finished(alice):
    return succeeded_edit(alice, prompt="Put these items in a gift basket!", sources=2, results=3)


def stored(fieldfile) -> bytes:
    with fieldfile.open("rb") as f:
        return f.read()


def test_result_download_is_an_attachment_with_a_meaningful_name(alice_client, finished):
    result = finished.results.get(position=1)
    response = alice_client.get(reverse("edit_result_download", args=[finished.pk, 1]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    today = timezone.localdate(finished.created_at).isoformat()
    name = f"{today}-put-these-items-in-a-gift-basket-2.png"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert body(response) == stored(result.file)


def test_result_view_is_inline(alice_client, finished):
    response = alice_client.get(reverse("edit_result", args=[finished.pk, 0]))
    assert response["Content-Disposition"].startswith("inline")
    assert body(response) == stored(finished.results.get(position=0).file)


def test_sources_and_thumbnails_are_served_with_their_types(alice_client, finished):
    source = alice_client.get(reverse("edit_source", args=[finished.pk, 1]))
    assert source["Content-Type"] == "image/png"
    assert body(source) == stored(finished.sources.get(position=1).file)
    thumb = alice_client.get(reverse("edit_result_thumbnail", args=[finished.pk, 0]))
    assert thumb["Content-Type"] == "image/webp"
    assert body(thumb)[:4] == b"RIFF"


def without_thumbnail(result: ResultImage, data: bytes) -> ResultImage:
    """The result as the worker leaves it: its file, and no thumbnail yet."""
    result.thumbnail.delete(save=False)
    result.file.delete(save=False)
    result.file.save("0.png", ContentFile(data), save=False)
    result.save()
    return result


def thumbnail_files(result: ResultImage) -> list[str]:
    storage = result.thumbnail.storage
    folder = result.thumbnail.field.generate_filename(result, "x.webp").rsplit("/", 1)[0]
    return storage.listdir(folder)[1] if storage.exists(folder) else []


def test_a_thumbnail_is_made_when_first_asked_for_and_then_kept(alice_client, finished):
    result = without_thumbnail(finished.results.get(position=0), image_bytes((1536, 1024)))
    url = reverse("edit_result_thumbnail", args=[finished.pk, 0])
    others = len(thumbnail_files(result))  # the other results' thumbnails

    first = alice_client.get(url)
    assert first["Content-Type"] == "image/webp"
    made = body(first)
    thumb = Image.open(io.BytesIO(made))
    assert thumb.format == "WEBP" and thumb.size == (640, 427)  # shrunk, shape kept
    result.refresh_from_db()
    assert result.thumbnail and stored(result.thumbnail) == made

    assert body(alice_client.get(url)) == made
    assert len(thumbnail_files(result)) == others + 1


def test_two_requests_making_the_same_thumbnail_keep_one(alice_client, finished):
    result = without_thumbnail(finished.results.get(position=0), image_bytes((800, 800)))
    others = len(thumbnail_files(result))
    first, second = ResultImage.objects.get(pk=result.pk), ResultImage.objects.get(pk=result.pk)
    assert first.ensure_thumbnail() and second.ensure_thumbnail()
    assert first.thumbnail.name == second.thumbnail.name
    assert ResultImage.objects.get(pk=result.pk).thumbnail.name == first.thumbnail.name
    assert len(thumbnail_files(result)) == others + 1


def test_a_result_that_does_not_decode_is_shown_as_it_is(alice_client, finished):
    damaged = image_bytes((300, 300))[:200]
    result = without_thumbnail(finished.results.get(position=0), damaged)
    response = alice_client.get(reverse("edit_result_thumbnail", args=[finished.pk, 0]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert body(response) == damaged
    result.refresh_from_db()
    assert not result.thumbnail


def test_all_results_download_as_one_streamed_zip(alice_client, finished):
    response = alice_client.get(reverse("edit_download_all", args=[finished.pk]))
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    stem = finished.download_stem()
    assert response["Content-Disposition"] == f'attachment; filename="{stem}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.testzip() is None
    assert archive.namelist() == [f"{stem}-{n}.png" for n in (1, 2, 3)]
    for result in finished.results.all():
        assert archive.read(f"{stem}-{result.position + 1}.png") == stored(result.file)


def test_missing_positions_are_404(alice_client, finished):
    assert (
        alice_client.get(reverse("edit_result_download", args=[finished.pk, 9])).status_code == 404
    )
    assert alice_client.get(reverse("edit_source", args=[finished.pk, 9])).status_code == 404


def test_zip_of_an_edit_without_results_is_404(alice_client, alice):
    edit = make_edit(personal_team(alice), alice, status=Status.FAILED)
    assert alice_client.get(reverse("edit_download_all", args=[edit.pk])).status_code == 404
