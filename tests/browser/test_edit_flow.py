"""A person signs in, drops two photos, asks for a change and gets the result in the
gallery without reloading the page; then opens it and downloads it."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from .conftest import open_more_options, sign_in

pytestmark = pytest.mark.browser


def write_png(path, color) -> None:
    Image.new("RGB", (320, 240), color).save(path, "PNG")


def test_upload_two_photos_edit_and_download(
    stack, browser, browser_simulator, tmp_path, artifacts
):
    stack.create_user("alice")
    browser_simulator.reset()
    first, second = tmp_path / "apples.png", tmp_path / "pears.png"
    write_png(first, (200, 40, 40))
    write_png(second, (40, 160, 40))

    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, stack, "alice")
    assert page.get_by_text("No edits yet").is_visible()

    page.get_by_label("Photos", exact=True).set_input_files([str(first), str(second)])
    expect(page.locator(".preview")).to_have_count(2)  # upload.js reads each file first
    # A remove button per preview, named for the photo it removes.
    assert page.get_by_role("button", name="Remove apples.png").is_visible()
    page.get_by_label("What should change?").fill("Put these items in a gift basket")
    open_more_options(page)
    page.get_by_label("Quality").select_option("low")
    page.evaluate("window.__noReload = 'still here'")
    page.get_by_role("button", name="Start edit").click()

    card = page.locator(".edit-card").first
    card.locator(".status-badge").wait_for()
    assert "gift basket" in card.inner_text()
    # The new card is pending first and then turns into the result, by polling alone.
    card.locator(".status-badge-succeeded").wait_for(timeout=30_000)
    card.locator("img").wait_for()
    assert page.evaluate("window.__noReload") == "still here"
    assert page.get_by_text("No edits yet").count() == 0
    # The form was reset for the next edit.
    assert page.get_by_label("What should change?").input_value() == ""
    page.screenshot(path=str(artifacts / "gallery-after-edit.png"), full_page=True)

    sent = browser_simulator.edit_requests[-1]
    assert [f["field"] for f in sent.files] == ["image[]", "image[]"]
    assert [f["filename"] for f in sent.files] == ["apples.png", "pears.png"]
    assert sent.fields["quality"] == ["low"]

    card.locator("a.card-link").click()
    page.wait_for_url(re.compile(r".*/edits/\d+/$"))
    assert page.get_by_role("heading", name="Put these items in a gift basket").is_visible()
    page.get_by_text("Technical details").click()  # the ids are folded under it
    assert page.locator("#trace-id").inner_text().strip()
    page.screenshot(path=str(artifacts / "detail.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download", exact=True).first.click()
    download = download_info.value
    assert re.fullmatch(
        r"\d{4}-\d{2}-\d{2}-put-these-items-in-a-gift-basket-1\.png", download.suggested_filename
    )
    data = download.path().read_bytes()
    inline = page.request.get(
        stack.url + page.locator("img.compare-after").first.get_attribute("src")
    )
    assert data == inline.body()
    assert Image.open(io.BytesIO(data)).format == "PNG"
    context.close()


def test_validation_errors_show_next_to_the_field_and_keep_the_photos(stack, browser, tmp_path):
    stack.create_user("bert")
    photo = tmp_path / "photo.png"
    write_png(photo, (10, 10, 200))
    page = browser.new_page()
    sign_in(page, stack, "bert")
    page.get_by_label("Photos", exact=True).set_input_files([str(photo)])
    page.get_by_role("button", name="Start edit").click()
    page.get_by_text("Describe what should change in the photos.").wait_for()
    # The chosen photo survived the re-rendered form (restored once htmx settles).
    page.locator(".preview").first.wait_for()
    assert page.locator(".preview").count() == 1
    assert page.locator(".edit-card").count() == 0
    page.close()


def test_home_works_at_375px_and_every_control_has_a_label(stack, browser, artifacts):
    stack.create_user("carl")
    page = browser.new_page(viewport={"width": 375, "height": 800})
    sign_in(page, stack, "carl")
    page.screenshot(path=str(artifacts / "home-375px.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 375
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter(el => el.type !== 'hidden')
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.textContent.trim())
            .map(el => el.outerHTML)"""
    )
    assert unlabeled == []
    page.screenshot(path=str(artifacts / "home-375px.png"), full_page=True)
    page.close()
