"""Painting a mask sends a PNG with transparency of the first photo's size; the
detail page compares before and after with a keyboard-operable slider."""

import io
import re

import pytest
from PIL import Image

from .conftest import new_person_page, open_more_options, sign_in, start_edit

pytestmark = pytest.mark.browser


def test_painted_mask_reaches_the_api_as_a_png_with_alpha_of_the_photos_size(
    stack, browser, browser_simulator, tmp_path, artifacts
):
    browser_simulator.reset()
    photo = tmp_path / "room.png"
    Image.new("RGB", (400, 300), (90, 120, 200)).save(photo)
    page, _ = new_person_page(browser, stack, "maya", viewport={"width": 1280, "height": 1000})
    page.get_by_label("Photos", exact=True).set_input_files([str(photo)])
    # The default (gpt-image-2) takes no mask: choose a model that does.
    page.locator("#edit-form").get_by_label("Model", exact=True).select_option("gpt-image-1")
    open_more_options(page)
    page.get_by_text("Limit the change to an area (mask)").click()
    canvas = page.get_by_label("Painting area over the first photo")
    canvas.wait_for()
    page.wait_for_function("document.querySelector('[data-mask-canvas]').width === 400")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    page.get_by_text("Mask ready").wait_for()
    page.screenshot(path=str(artifacts / "mask-painted.png"), full_page=True)
    page.get_by_label("What should change?").fill("Replace the sofa with a bookshelf")
    page.get_by_role("button", name="Start edit").click()
    page.locator(".edit-card .status-badge-succeeded").first.wait_for(timeout=30_000)

    sent = browser_simulator.edit_requests[-1]
    masks = [f for f in sent.files if f["field"] == "mask"]
    assert len(masks) == 1
    mask = masks[0]
    assert (mask["format"], mask["width"], mask["height"]) == ("PNG", 400, 300)
    assert mask["has_alpha"] is True

    page.locator(".edit-card a.card-link").first.click()
    page.wait_for_url(re.compile(r".*/edits/\d+/$"))
    stored = page.request.get(
        stack.url + page.locator("a[href$='/mask/'] img").get_attribute("src")
    )
    image = Image.open(io.BytesIO(stored.body())).convert("RGBA")
    alpha = image.getchannel("A")
    assert image.size == (400, 300)
    assert alpha.getpixel((180, 150)) == 0  # painted: may change
    assert alpha.getpixel((20, 20)) == 255  # untouched: stays
    page.close()


def test_compare_slider_moves_with_the_keyboard(
    stack, browser, browser_simulator, tmp_path, artifacts
):
    stack.create_user("kim")
    photo = tmp_path / "a.png"
    Image.new("RGB", (256, 256), (200, 200, 50)).save(photo)
    page = browser.new_page()
    sign_in(page, stack, "kim")
    start_edit(page, photo, "Make it night")
    page.locator(".edit-card a.card-link").first.click()
    slider = page.get_by_label("Slide to compare")
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    assert slider.input_value() == "60"
    split = page.locator("[data-compare]").evaluate("el => el.style.getPropertyValue('--split')")
    assert split == "60%"
    assert slider.get_attribute("aria-valuetext") == "60% original, 40% result"
    page.screenshot(path=str(artifacts / "compare.png"), full_page=True)
    page.close()
