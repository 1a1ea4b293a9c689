"""A calm form and progress you can feel (issue 15), at 1280 px and 375 px: the options
folded under "More options" and remembered, the filters folded on a phone, a pending
card counting its time, the finished card's picture at once, the new card brought into
view on a phone, no page wider than a phone, and no console error anywhere."""

import re

import pytest
from PIL import Image

from .conftest import new_person_page

pytestmark = pytest.mark.browser

WIDE = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def photo(tmp_path, name="photo.png"):
    path = tmp_path / name
    Image.new("RGB", (320, 240), (40, 120, 200)).save(path, "PNG")
    return path


def test_more_options_is_folded_and_remembered(stack, browser, artifacts):
    page, errors = new_person_page(browser, stack, "calm_wide", **WIDE)
    more = page.locator("details.more-options")
    assert not more.evaluate("d => d.open")
    assert not page.get_by_label("Quality").is_visible()
    # The essentials are all there.
    for label in ("Photos", "What should change?"):
        assert page.get_by_label(label, exact=True).is_visible()
    assert page.locator("#id_model").is_visible() and page.locator("#model-about").is_visible()
    assert page.get_by_role("button", name="Start edit").is_visible()
    page.screenshot(path=artifacts / "calm-form-1280.png", full_page=True)
    with page.expect_response(re.compile("/edits/more-options/")):
        more.locator("summary").click()
    page.reload()
    assert page.locator("details.more-options").evaluate("d => d.open")
    # A model change redraws that part: still open.
    page.locator("#id_model").select_option("gpt-image-1")
    page.wait_for_function("() => !document.querySelector('#model-parts.htmx-request')")
    page.get_by_label("Quality").wait_for()
    assert page.locator("details.more-options").evaluate("d => d.open")
    # With no edits, the filters are one closed "Filter" control.
    assert not page.locator("details.filter-fold").evaluate("d => d.open")
    assert errors == []


def test_a_phone_sees_the_new_card_count_its_time_and_its_picture_at_once(
    stack, browser, tmp_path, artifacts
):
    page, errors = new_person_page(browser, stack, "calm_phone", **PHONE)
    assert page.evaluate(OVERFLOW) <= 0
    page.get_by_label("Photos", exact=True).set_input_files([str(photo(tmp_path))])
    page.get_by_label("What should change?").fill("A calm phone edit")
    page.get_by_role("button", name="Start edit").click()
    card = page.locator(".edit-card", has_text="A calm phone edit")
    card.wait_for()
    # Brought into view, and announced.
    page.wait_for_function(
        """() => { const c = document.querySelector('.edit-card');
                   const r = c.getBoundingClientRect();
                   return r.top >= 0 && r.top < window.innerHeight; }"""
    )
    assert "Edit started" in page.locator("#announcer").text_content()
    if card.locator("[data-elapsed]").count():
        assert re.fullmatch(r"\d+ s", card.locator("[data-elapsed]").text_content())
        assert "usually about" in card.locator(".card-progress").text_content()
        page.screenshot(path=artifacts / "calm-progress-375.png")
    card.locator(".status-badge-succeeded").wait_for(timeout=30_000)
    # The thumbnail was made when the edit finished: the picture is there at once.
    image = card.locator(".thumb img").first
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=2_000
    )
    page.screenshot(path=artifacts / "calm-done-375.png")
    # With edits, the filters stay folded on a phone; nothing is wider than the phone.
    page.reload()
    assert not page.locator("details.filter-fold").evaluate("d => d.open")
    assert page.evaluate(OVERFLOW) <= 0
    card.locator(".card-link").click()
    page.wait_for_url(re.compile(r"/edits/\d+/$"))
    assert page.evaluate(OVERFLOW) <= 0, "detail"
    for path in ("/usage/", "/teams/new/"):
        page.goto(stack.url + path)
        assert page.evaluate(OVERFLOW) <= 0, path
    assert errors == []


def test_the_wide_gallery_shows_its_filters_and_submits_without_console_errors(
    stack, browser, tmp_path, artifacts
):
    page, errors = new_person_page(browser, stack, "calm_console", **WIDE)
    for n in range(2):  # the second submit found no #gallery-empty before
        page.get_by_label("Photos", exact=True).set_input_files([str(photo(tmp_path))])
        page.get_by_label("What should change?").fill(f"Console check {n}")
        page.get_by_role("button", name="Start edit").click()
        page.locator(".edit-card", has_text=f"Console check {n}").wait_for()
    page.locator("#id_model").select_option("gpt-image-1")
    page.wait_for_function("() => !document.querySelector('#model-parts.htmx-request')")
    page.locator(".edit-card .status-badge-succeeded").nth(1).wait_for(timeout=30_000)
    page.reload()
    assert page.locator("details.filter-fold").evaluate("d => d.open")
    page.goto(stack.url + "/usage/")
    for box in page.locator(".table-scroll").all():
        assert box.evaluate(
            "b => b.getBoundingClientRect().right <= document.documentElement.clientWidth"
        )
    page.screenshot(path=artifacts / "calm-usage-1280.png", full_page=True)
    assert errors == []
