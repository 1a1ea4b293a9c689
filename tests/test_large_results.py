"""4K results (3840 x 2160): sized from their header alone, given a gallery thumbnail in
one decode as they are stored, and a damaged one handled as any other
(editor/edits/imaging.py). How long
each step takes is measured by benchmarks/large_results.py, not here."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from PIL import Image

from editor.edits import imaging
from editor.edits.delivery import STORE_FAILED_MESSAGE, finish
from editor.edits.models import Edit, ResultImage, Status
from editor.edits.services import store_results
from editor.upstream import EditResult
from editor.upstream.schema import ResultImage as Answered

from .factories import make_edit, personal_team

pytestmark = pytest.mark.django_db

SIZE = (3840, 2160)
RED, BLUE = (220, 30, 30), (30, 30, 220)


def two_halves(size: tuple[int, int] = SIZE) -> Image.Image:
    """Red on the left, blue on the right, with a gradient so it is not a flat fill."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    shade = Image.linear_gradient("L").resize(size).convert("RGB")
    return Image.blend(image, shade, 0.2)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def png_4k() -> bytes:
    return encoded(two_halves(), "PNG", compress_level=1)


@pytest.fixture
def slots(monkeypatch) -> list[str]:
    """One entry for every decode slot taken: the real imaging.decode_slot, counted."""
    taken: list[str] = []
    real = imaging.decode_slot

    def counted(name=None, wait=None):
        taken.append(name or "result")
        return real(name, wait)

    monkeypatch.setattr(imaging, "decode_slot", counted)
    return taken


def finished_with(user, data: bytes, content_type: str = "image/png") -> Edit:
    edit = make_edit(personal_team(user), user, sources=0)
    assert store_results(edit, EditResult(images=[Answered(data=data, content_type=content_type)]))
    return edit


def stored(fieldfile) -> bytes:
    with fieldfile.open("rb") as fh:
        return fh.read()


def test_a_4k_png_result_is_stored_byte_for_byte_with_its_size_and_thumbnail_in_one_decode(
    owner, png_4k, slots
):
    result = finished_with(owner, png_4k).results.get()
    assert (result.width, result.height) == SIZE
    assert result.size_bytes == len(png_4k)
    assert stored(result.file) == png_4k
    assert result.thumbnail  # made from the bytes in hand, before the commit
    assert slots == ["result"]


def test_a_4k_png_cut_short_is_stored_with_the_size_its_header_gives(owner, png_4k, slots):
    # Decoding it fails: only a header read can give its size, and no thumbnail is made.
    cut = png_4k[: len(png_4k) // 2]
    result = finished_with(owner, cut).results.get()
    assert (result.width, result.height) == SIZE
    assert stored(result.file) == cut
    assert not result.thumbnail


def test_a_4k_results_thumbnail_is_640_on_its_longer_side_and_made_in_one_decode(
    owner, png_4k, slots
):
    result = finished_with(owner, png_4k).results.get()
    assert result.ensure_thumbnail()
    assert slots == ["result"]
    with Image.open(io.BytesIO(stored(result.thumbnail))) as thumb:
        assert thumb.format == "WEBP"
        assert thumb.size == (640, 360)
        thumb = thumb.convert("RGB")
        assert thumb.getpixel((20, 180))[0] > 150 > thumb.getpixel((20, 180))[2]  # red left
        assert thumb.getpixel((620, 180))[2] > 150 > thumb.getpixel((620, 180))[0]  # blue right
    # Kept: the next look decodes nothing.
    assert ResultImage.objects.get(pk=result.pk).ensure_thumbnail()
    assert slots == ["result"]


def test_a_4k_jpeg_turned_by_its_exif_gets_an_upright_thumbnail(owner, slots):
    # Stored landscape, to be shown turned a quarter clockwise (orientation 6): the
    # thumbnail is decoded at a reduced scale, then turned, then shrunk.
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = encoded(two_halves(), "JPEG", quality=85, exif=exif.tobytes())
    result = finished_with(owner, jpeg, "image/jpeg").results.get()
    assert (result.width, result.height) == SIZE  # as stored, as the service reported
    assert result.ensure_thumbnail()
    assert slots == ["result"]
    with Image.open(io.BytesIO(stored(result.thumbnail))) as thumb:
        assert thumb.size == (360, 640)
        thumb = thumb.convert("RGB")
        assert thumb.getpixel((180, 20))[0] > 150 > thumb.getpixel((180, 20))[2]  # red on top
        assert thumb.getpixel((180, 620))[2] > 150 > thumb.getpixel((180, 620))[0]


def test_a_large_png_damaged_past_its_header_is_shown_as_it_is(alice_client, alice, png_4k):
    damaged = png_4k[: len(png_4k) // 2]
    edit = finished_with(alice, damaged)
    response = alice_client.get(reverse("edit_result_thumbnail", args=[edit.pk, 0]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == damaged
    assert not edit.results.get().thumbnail


def test_a_large_result_with_a_damaged_header_fails_the_edit_in_plain_words(owner, png_4k):
    damaged = png_4k[:16] + b"\0" * 64 + png_4k[80:]  # IHDR overwritten
    edit = make_edit(personal_team(owner), owner, sources=0)
    answer = EditResult(images=[Answered(data=damaged, content_type="image/png")])
    assert finish(edit, answer) == "failed"
    edit.refresh_from_db()
    assert edit.status == Status.FAILED
    assert (edit.error_code, edit.error_message) == ("store_failed", STORE_FAILED_MESSAGE)
    assert not edit.results.exists()
    media = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    assert not [path for path in media.rglob("*") if path.is_file()]
