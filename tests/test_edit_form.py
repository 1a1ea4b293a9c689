"""The edit form refuses bad input in plain words, before anything is stored or sent."""

import io
import os
import re

import pytest
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult
from PIL import Image

from editor.edits.models import Edit, SourceImage, Status

from .factories import HTMX, image_bytes, make_user, post_edit, upload

pytestmark = pytest.mark.django_db


def assert_refused(response, message: str):
    assert response.status_code in (200, 400)
    assert message in response.content.decode()
    assert Edit.objects.count() == 0
    assert SourceImage.objects.count() == 0


def test_valid_submission_queues_an_edit_and_answers_with_its_card(
    alice_client, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_edit(
            alice_client,
            [upload("a.png"), upload("b.jpg", image_bytes(fmt="JPEG"), "image/jpeg")],
            size="1024x1024",
            quality="low",
            n="2",
        )
    assert response.status_code == 200
    edit = Edit.objects.get()
    assert edit.status == Status.QUEUED
    assert edit.created_by == alice
    assert edit.team.memberships.get().user == alice
    assert edit.params == {
        "n": 2,
        "size": "1024x1024",
        "quality": "low",
        "background": "auto",
        "output_format": "png",
    }
    assert [s.original_name for s in edit.sources.all()] == ["a.png", "b.jpg"]
    assert [s.content_type for s in edit.sources.all()] == ["image/png", "image/jpeg"]
    html = response.content.decode()
    assert f'id="edit-{edit.pk}"' in html
    assert "data-pending" in html
    assert 'id="edit-form"' in html and 'hx-swap-oob="true"' in html
    task = DBTaskResult.objects.get()
    assert task.task_path == "editor.edits.tasks.run_edit"
    assert task.args_kwargs["args"] == [edit.pk]


def test_a_blank_form_drawn_once_still_carries_each_persons_own_csrf_token(alice_client):
    alice_client.get("/")  # draws the blank form, which is then reused
    bob = Client(enforce_csrf_checks=True)
    bob.force_login(make_user("bob"))
    html = bob.get("/").content.decode()
    form = html[html.index('<form id="edit-form"') :]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = {"model": "gpt-image-1", "prompt": "Make it snow", "images": [upload()]}
    response = bob.post(reverse("edit_create"), {**data, "csrfmiddlewaretoken": token}, **HTMX)
    assert response.status_code == 200
    assert Edit.objects.get().created_by.username == "bob"


def test_without_javascript_a_valid_submission_redirects_home(alice_client):
    response = post_edit(alice_client, [upload()], htmx=False)
    assert response.status_code == 302
    assert Edit.objects.count() == 1


def test_empty_prompt_is_refused(alice_client):
    assert_refused(post_edit(alice_client, [upload()], prompt="  "), "Describe what should change")


def test_no_photo_is_not_refused_but_creates_from_the_prompt(alice_client):
    # tests/test_generations.py: the rest of it.
    assert post_edit(alice_client, []).status_code == 200
    assert Edit.objects.get().is_generation


def test_a_file_that_is_not_an_image_is_refused(alice_client):
    fake = upload("invoice.png", b"%PDF-1.7 not an image at all", "image/png")
    assert_refused(post_edit(alice_client, [fake]), "is not an image Retouch can read")


def test_a_truncated_image_is_refused(alice_client):
    noisy = io.BytesIO()
    Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3)).save(noisy, "PNG")
    broken = upload("broken.png", noisy.getvalue()[: len(noisy.getvalue()) // 2])
    assert_refused(post_edit(alice_client, [broken]), "damaged or incomplete")


def test_an_unsupported_format_is_refused(alice_client):
    gif = upload("anim.gif", image_bytes(fmt="GIF"), "image/gif")
    assert_refused(post_edit(alice_client, [gif]), "is a GIF image. Use PNG, JPEG or WebP.")


def test_a_file_over_the_size_limit_is_refused(alice_client, settings):
    settings.RETOUCH_MAX_UPLOAD_MB = 1
    noisy = io.BytesIO()
    Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3)).save(noisy, "PNG")
    assert noisy.tell() > 1024 * 1024
    assert_refused(
        post_edit(alice_client, [upload("big.png", noisy.getvalue())]), "the limit is 1.0"
    )


def test_too_many_pixels_is_refused(alice_client, settings):
    settings.RETOUCH_MAX_PIXELS = 100 * 100
    big = upload("wide.png", image_bytes((200, 120)))
    assert_refused(post_edit(alice_client, [big]), "200×120 pixels")


def test_a_decompression_bomb_is_refused_without_decoding_it(alice_client):
    # 12,000 × 12,000 one-bit pixels compress to a few kilobytes but would need
    # hundreds of megabytes once decoded.
    out = io.BytesIO()
    Image.new("1", (12000, 12000)).save(out, "PNG")
    assert out.tell() < 200_000
    bomb = upload("bomb.png", out.getvalue())
    assert_refused(post_edit(alice_client, [bomb]), "pixels")


@pytest.fixture
def at_openai(settings):
    """dall-e-2 is offered where OpenAI serves it (the tests' default is the gateway)."""
    settings.RETOUCH_SERVICE = "openai"


def test_dall_e_2_takes_exactly_one_photo(alice_client, at_openai):
    response = post_edit(alice_client, [upload("a.png"), upload("b.png")], model="dall-e-2")
    assert_refused(response, "DALL·E 2 edits exactly one photo; you added 2: keep one")


def test_dall_e_2_needs_a_square_png(alice_client, at_openai):
    response = post_edit(alice_client, [upload("a.png", image_bytes((80, 40)))], model="dall-e-2")
    assert_refused(response, "square PNG")


def test_gpt_image_1_takes_at_most_sixteen_photos(alice_client):
    response = post_edit(alice_client, [upload(f"{i}.png") for i in range(17)])
    assert_refused(response, "you added 17")


def test_transparent_background_needs_png_or_webp(alice_client):
    response = post_edit(alice_client, [upload()], background="transparent", output_format="jpeg")
    assert "transparent" in response.content.decode().lower()
    assert Edit.objects.count() == 0


def test_errors_are_rendered_into_the_form_for_htmx(alice_client):
    response = post_edit(alice_client, [], prompt="")
    assert response["HX-Retarget"] == "#edit-form"
    assert response["HX-Reswap"] == "outerHTML"
    html = response.content.decode()
    assert html.lstrip().startswith("<form")
    assert "data-has-errors" in html


def test_viewers_cannot_start_edits(client):
    from editor.teams.models import Membership, Role

    viewer = make_user("vic")
    Membership.objects.filter(user=viewer).update(role=Role.VIEWER)
    client.force_login(viewer)
    assert b'id="edit-form"' not in client.get("/").content
    post_edit(client, [upload()])
    assert Edit.objects.count() == 0


def test_model_options_show_only_that_models_fields(alice_client, at_openai):
    dalle = alice_client.get(reverse("edit_options"), {"model": "dall-e-2"}).content.decode()
    gpt = alice_client.get(reverse("edit_options"), {"model": "gpt-image-1"}).content.decode()
    assert 'name="size"' in dalle and 'name="background"' not in dalle
    assert "256x256" in dalle
    assert 'name="background"' in gpt and 'name="input_fidelity"' in gpt


def mask_png(size=(64, 64), *, hole=True, mode="RGBA") -> bytes:
    image = Image.new(mode, size, (0, 0, 0, 255) if mode == "RGBA" else 0)
    if hole and mode == "RGBA":
        for x in range(10, 20):
            for y in range(10, 20):
                image.putpixel((x, y), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_a_painted_mask_is_stored_with_the_edit(alice_client):
    response = post_edit(alice_client, [upload()], mask=upload("mask.png", mask_png()))
    assert response.status_code == 200
    edit = Edit.objects.get()
    with edit.mask.open("rb") as f:
        assert Image.open(f).size == (64, 64)


def test_an_edit_that_cannot_be_stored_leaves_no_files_rows_or_task(
    alice_client, monkeypatch, settings
):
    from editor.teams.models import Activity

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Activity.objects, "record", broken)  # fails inside the transaction
    with pytest.raises(RuntimeError):
        post_edit(alice_client, [upload(), upload("b.png")], mask=upload("mask.png", mask_png()))
    assert Edit.objects.count() == SourceImage.objects.count() == 0
    assert DBTaskResult.objects.count() == 0
    media = settings.STORAGES["default"]["OPTIONS"]["location"]
    assert [files for _, _, files in os.walk(media) if files] == []


def test_a_mask_without_transparency_is_refused(alice_client):
    flat = upload("mask.png", mask_png(mode="L", hole=False))
    assert_refused(post_edit(alice_client, [upload()], mask=flat), "The mask has no transparency")


def test_a_mask_with_nothing_transparent_is_refused(alice_client):
    opaque = upload("mask.png", mask_png(hole=False))
    assert_refused(post_edit(alice_client, [upload()], mask=opaque), "no fully transparent area")


def test_a_mask_of_another_size_is_refused(alice_client):
    small = upload("mask.png", mask_png((32, 32)))
    assert_refused(
        post_edit(alice_client, [upload()], mask=small),
        "The mask is 32×32 pixels; it must be the same size as the first photo (64×64).",
    )


def test_a_mask_that_is_not_a_png_is_refused(alice_client):
    jpeg = upload("mask.jpg", image_bytes(fmt="JPEG"), "image/jpeg")
    assert_refused(post_edit(alice_client, [upload()], mask=jpeg), "The mask must be a PNG image.")
