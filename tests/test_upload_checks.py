"""Uploads are judged from their headers before any data is read, and the data that must
be read is read a few decodes at a time per process (editor/edits/imaging.py)."""

import io
import os
import struct
import threading
import time
import zlib

import pytest
from django.utils.datastructures import MultiValueDict
from PIL import Image

from editor.edits import imaging
from editor.edits.forms import EditForm
from editor.edits.models import Edit

from .factories import image_bytes, post_edit, upload


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG whose header says width x height RGB pixels, with one row of data:
    a few dozen bytes that would need width x height x 3 bytes once decoded."""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(b"\0" * (1 + 3 * min(width, 64))))
        + _chunk(b"IEND", b"")
    )


def noise(fmt: str, side: int = 200) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, fmt)
    return out.getvalue()


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The format of every image whose data (past its header) was read, in order: the
    real imaging.read_data, counted."""
    seen: list[str] = []
    real = imaging.read_data

    def counted(image, **kwargs):
        seen.append(image.format)
        return real(image, **kwargs)

    monkeypatch.setattr(imaging, "read_data", counted)
    return seen


def refused(response, message: str) -> bool:
    return message in response.content.decode() and not Edit.objects.exists()


@pytest.mark.django_db
def test_a_png_whose_header_claims_60000_by_60000_is_refused_without_reading_its_data(
    alice_client, reads
):
    bomb = png_claiming(60_000, 60_000)  # 10.8 GB once decoded
    assert len(bomb) < 200
    started = time.monotonic()
    response = post_edit(alice_client, [upload("huge.png", bomb)])
    assert refused(response, "“huge.png” has too many pixels to process safely.")
    assert reads == []
    assert time.monotonic() - started < 5


@pytest.mark.django_db
def test_a_header_over_the_pixel_limit_is_refused_in_words_without_reading_its_data(
    alice_client, reads
):
    response = post_edit(alice_client, [upload("wide.png", png_claiming(8000, 8000))])
    assert refused(
        response,
        "“wide.png” is 8000×8000 pixels, more than Retouch can process (50 megapixels at most).",
    )
    assert reads == []


@pytest.mark.django_db
def test_pillows_decompression_bomb_guard_caps_a_higher_pixel_setting(
    alice_client, reads, settings
):
    settings.RETOUCH_MAX_PIXELS = 500_000_000
    guard = Image.MAX_IMAGE_PIXELS
    response = post_edit(alice_client, [upload("big.png", png_claiming(10_000, 10_000))])
    assert refused(
        response,
        f"is 10000×10000 pixels, more than Retouch can process "
        f"({guard / 1_000_000:.0f} megapixels at most).",
    )
    assert reads == []


@pytest.mark.django_db
def test_a_file_that_is_not_an_image_is_refused_without_reading_its_data(alice_client, reads):
    fake = upload("notes.png", b"Dear team, the photos follow. " * 40, "image/png")
    assert refused(
        post_edit(alice_client, [fake]),
        "“notes.png” is not an image Retouch can read. Use PNG, JPEG or WebP.",
    )
    assert reads == []


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_a_truncated_image_is_refused_in_plain_words(alice_client, fmt):
    data = noise(fmt)
    broken = upload(f"broken.{fmt.lower()}", data[: len(data) // 2], f"image/{fmt.lower()}")
    assert refused(
        post_edit(alice_client, [broken]),
        f"“broken.{fmt.lower()}” is damaged or incomplete and could not be opened.",
    )


@pytest.mark.django_db
def test_a_png_with_a_corrupted_chunk_is_refused_in_plain_words(alice_client):
    data = bytearray(noise("PNG"))
    data[len(data) // 2] ^= 0xFF  # inside the image data: its CRC no longer matches
    assert refused(
        post_edit(alice_client, [upload("flipped.png", bytes(data))]),
        "“flipped.png” is damaged or incomplete and could not be opened.",
    )


@pytest.mark.django_db
def test_a_form_refused_for_a_cheap_reason_reads_no_photo_data(alice_client, reads):
    photos = [upload(f"{i}.jpg", image_bytes(fmt="JPEG"), "image/jpeg") for i in range(17)]
    assert refused(post_edit(alice_client, photos), "you added 17")
    assert refused(post_edit(alice_client, photos[:2], prompt=" "), "Describe what should")
    assert reads == []


@pytest.mark.django_db
def test_accepted_photos_are_read_once_each_and_webp_only_from_its_header(alice_client, reads):
    photos = [
        upload("a.png"),
        upload("b.jpg", image_bytes(fmt="JPEG"), "image/jpeg"),
        upload("c.webp", image_bytes(fmt="WEBP"), "image/webp"),
    ]
    assert post_edit(alice_client, photos).status_code == 200
    assert Edit.objects.count() == 1
    assert reads == ["PNG", "JPEG"]


def _form_with(files: list) -> EditForm:
    return EditForm(
        {"model": "gpt-image-1", "prompt": "Add a hat"}, MultiValueDict({"images": files})
    )


@pytest.mark.parametrize("slots", [1, 2])
def test_at_most_decode_slots_images_are_read_at_once_in_a_process(monkeypatch, slots):
    monkeypatch.setattr(imaging, "_decode_slots", threading.BoundedSemaphore(slots))
    inside = 0
    most = 0
    calls = 0
    lock = threading.Lock()
    real = imaging.read_data

    def watched(image, **kwargs):
        nonlocal inside, most, calls
        with lock:
            inside += 1
            calls += 1
            most = max(most, inside)
        try:
            time.sleep(0.05)  # long enough for every other thread to arrive
            return real(image, **kwargs)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(imaging, "read_data", watched)
    jpeg = noise("JPEG", 64)
    forms = [_form_with([upload(f"{i}.jpg", jpeg, "image/jpeg")]) for i in range(6)]
    valid: list[bool] = []
    threads = [threading.Thread(target=lambda f=f: valid.append(f.is_valid())) for f in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert valid == [True] * 6
    assert calls == 6
    assert most == slots


@pytest.mark.django_db
def test_a_photo_that_waits_too_long_for_a_decode_slot_is_refused_as_busy(
    alice_client, monkeypatch
):
    monkeypatch.setattr(imaging, "DECODE_WAIT_SECONDS", 0.05)
    assert imaging._decode_slots.acquire(timeout=5)  # another upload holds every slot
    try:
        response = post_edit(alice_client, [upload("a.jpg", image_bytes(fmt="JPEG"))])
    finally:
        imaging._decode_slots.release()
    assert refused(response, "Retouch is busy checking other photos and could not check")


@pytest.mark.django_db
def test_a_mask_is_decoded_whole_only_after_everything_else_passed(alice_client, reads):
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 8, 8))
    out = io.BytesIO()
    mask.save(out, "PNG")
    response = post_edit(alice_client, [upload()], prompt=" ", mask=upload("m.png", out.getvalue()))
    assert refused(response, "Describe what should")
    assert reads == []
    response = post_edit(alice_client, [upload()], mask=upload("m.png", out.getvalue()))
    assert response.status_code == 200 and Edit.objects.count() == 1
    assert reads == ["PNG", "PNG"]  # the photo verified, then the mask decoded


def test_a_phone_photo_saved_as_mpo_is_accepted_as_a_jpeg(alice_client):
    first, second = Image.new("RGB", (96, 64), (200, 60, 40)), Image.new("RGB", (96, 64))
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    response = post_edit(alice_client, [upload("phone.jpg", out.getvalue(), "image/jpeg")])
    assert response.status_code == 200
    source = Edit.objects.get().sources.get()
    assert (source.content_type, source.width, source.height) == ("image/jpeg", 96, 64)
