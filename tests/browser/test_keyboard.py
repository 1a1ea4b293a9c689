"""The edit form by keyboard, and the browser's own early checks: focus on the first
error, Ctrl+Enter to send, a mask marked without a pointer, and a file that is no
image refused before any upload, in the server's words."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from .conftest import LANGUAGES, new_person_page, open_more_options

pytestmark = pytest.mark.browser

WIDE = {"width": 1280, "height": 1000}


def photo_file(tmp_path, size=(400, 300)):
    path = tmp_path / "room.png"
    Image.new("RGB", size, (90, 120, 200)).save(path)
    return path


def test_focus_goes_to_the_first_error_and_ctrl_enter_sends_the_form(
    stack, browser, tmp_path, artifacts
):
    page, errors = new_person_page(browser, stack, "kira", viewport=WIDE)
    page.get_by_label("Photos", exact=True).set_input_files([str(photo_file(tmp_path))])
    page.get_by_role("button", name="Start edit").click()  # no words: refused
    prompt = page.get_by_label("What should change?")
    expect(prompt).to_be_focused()
    assert prompt.get_attribute("aria-invalid") == "true"
    page.screenshot(path=str(artifacts / "keyboard-first-error.png"), full_page=True)

    prompt.fill("Make the wall green")
    prompt.press("Control+Enter")
    card = page.locator(".edit-card", has_text="Make the wall green")
    card.wait_for(timeout=15_000)
    assert errors == []
    page.close()


def test_a_mask_marked_with_the_keyboard_is_sent_with_the_edit(
    stack, browser, browser_simulator, tmp_path, artifacts
):
    browser_simulator.reset()
    page, errors = new_person_page(browser, stack, "lior", viewport=WIDE)
    page.get_by_label("Photos", exact=True).set_input_files([str(photo_file(tmp_path))])
    page.locator("#edit-form").get_by_label("Model", exact=True).select_option("gpt-image-1")
    open_more_options(page)
    page.get_by_text("Limit the change to an area (mask)").click()
    canvas = page.get_by_label("Painting area over the first photo")
    canvas.wait_for()
    page.wait_for_function("document.querySelector('[data-mask-canvas]').width === 400")
    assert "arrow keys" in page.locator("#mask-keys-help").inner_text()
    assert canvas.get_attribute("aria-describedby") == "mask-keys-help"
    canvas.focus()
    page.get_by_text("Enter marks it").wait_for()
    for key in ("ArrowLeft", "ArrowLeft", "Shift+ArrowRight", "Shift+ArrowDown"):
        canvas.press(key)
    page.screenshot(path=str(artifacts / "keyboard-mask-rectangle.png"), full_page=True)
    canvas.press("Enter")
    page.get_by_text("Mask ready").wait_for()
    page.get_by_label("What should change?").fill("Replace the sofa with a bookshelf")
    page.get_by_role("button", name="Start edit").click()
    page.locator(".edit-card .status-badge-succeeded").first.wait_for(timeout=30_000)

    masks = [f for f in browser_simulator.edit_requests[-1].files if f["field"] == "mask"]
    assert len(masks) == 1
    assert (masks[0]["format"], masks[0]["width"], masks[0]["height"]) == ("PNG", 400, 300)
    page.locator(".edit-card a.card-link").first.click()
    page.wait_for_url(re.compile(r".*/edits/\d+/$"))
    stored = page.request.get(
        stack.url + page.locator("a[href$='/mask/'] img").get_attribute("src")
    )
    alpha = Image.open(io.BytesIO(stored.body())).convert("RGBA").getchannel("A")
    # The third in the middle, moved left by two twentieths, made a twentieth wider and
    # taller: x 93–247, y 100–215. Inside may change; the corners stay.
    assert alpha.getpixel((150, 150)) == 0
    assert alpha.getpixel((20, 20)) == 255
    assert alpha.getpixel((380, 280)) == 255
    assert errors == []
    page.close()


def test_a_file_that_is_no_image_is_refused_before_upload_in_the_servers_words(
    stack, browser, tmp_path, artifacts
):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    page, errors = new_person_page(browser, stack, "noor", viewport=WIDE)
    uploads = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" else None)
    page.get_by_label("Photos", exact=True).set_input_files([str(notes)])
    alert = page.locator("[data-refused-files]")
    alert.wait_for()
    assert alert.inner_text().strip() == (
        "“notes.txt” is not an image Retouch can read. Use PNG, JPEG or WebP."
    )
    assert alert.get_attribute("role") == "alert"
    assert page.evaluate("document.querySelector('input[name=images]').files.length") == 0
    assert uploads == []
    page.screenshot(path=str(artifacts / "keyboard-refused-file.png"), full_page=True)
    # A photo afterwards clears the message.
    page.get_by_label("Photos", exact=True).set_input_files([str(photo_file(tmp_path))])
    alert.wait_for(state="detached")
    assert errors == []
    page.close()


@pytest.mark.parametrize("locale", LANGUAGES)
def test_a_photo_below_the_models_minimum_is_refused_before_upload_in_the_servers_words(
    stack, browser, tmp_path, artifacts, locale
):
    """The same words as the server's in either language: the script's message goes
    through the JavaScript catalogue (djangojs), the server's through Django's."""
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (40, 30), (200, 90, 60)).save(tiny)
    page, errors = new_person_page(
        browser, stack, f"tova-{LANGUAGES[locale]}", viewport=WIDE, locale=locale
    )
    refuse_a_photo_below_the_minimum(page, stack, tiny, photo_file(tmp_path), artifacts)
    assert errors == []
    page.close()


def refuse_a_photo_below_the_minimum(page, stack, tiny, photo, artifacts) -> None:
    # Each model in the picker says its shortest side (the catalogue's min_image_side,
    # which EditForm.clean_images checks) and its name for the message.
    said = page.locator("#edit-form select[name=model] option").evaluate_all(
        "os => os.map(o => [o.value, o.dataset.minSide, o.dataset.label])"
    )
    unsaid = [name for name, side, label in said if not side or not label]
    assert not unsaid, (
        "templates/edits/home.html: the model picker's options carry no data-min-side "
        f"and data-label for {', '.join(unsaid)}"
    )
    assert all(int(side) >= 64 for _, side, _ in said), said

    # The server's words first: with the page's minimums taken away, the photo goes up.
    form = page.locator("#edit-form")
    page.evaluate(
        "() => document.querySelectorAll('#id_model option').forEach(o => delete o.dataset.minSide)"
    )
    form.locator("input[name=images]").set_input_files([str(tiny)])
    expect(form.locator("[data-previews] li")).to_have_count(1)
    form.locator("textarea[name=prompt]").fill("Make it larger")
    form.locator("button[type=submit]").click()
    server = page.locator("#images-errors")
    server.wait_for()
    said_by_server = server.inner_text().strip()
    assert "40×30" in said_by_server, said_by_server

    # Then the browser's own check, on a fresh form: refused at once, nothing sent.
    page.goto(stack.url + "/")
    uploads = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" else None)
    form.locator("input[name=images]").set_input_files([str(tiny)])
    alert = page.locator("[data-refused-files]")
    alert.wait_for()
    assert alert.inner_text().strip() == said_by_server
    assert alert.get_attribute("role") == "alert"
    assert page.evaluate("document.querySelector('input[name=images]').files.length") == 0
    assert form.locator("[data-previews] li").count() == 0
    lang = page.evaluate("document.documentElement.lang")
    page.screenshot(
        path=str(artifacts / f"keyboard-refused-small-photo-{lang}.png"), full_page=True
    )
    # A photo large enough afterwards is taken, and the message goes.
    form.locator("input[name=images]").set_input_files([str(photo)])
    alert.wait_for(state="detached")
    expect(form.locator("[data-previews] li")).to_have_count(1)
    assert uploads == []
