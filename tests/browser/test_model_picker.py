"""A person picks gpt-image-2, tries its sizes (a 2K landscape preset, then a custom size
off the grid), is told the nearest size that works before anything is uploaded, fixes it
and gets the result."""

import pytest
from PIL import Image

from .conftest import new_person_page, open_more_options

pytestmark = pytest.mark.browser


def test_pick_gpt_image_2_choose_sizes_fix_an_off_grid_custom_size_and_edit(
    stack, browser, browser_simulator, tmp_path, artifacts
):
    browser_simulator.reset()
    photo = tmp_path / "street.png"
    Image.new("RGB", (640, 400), (60, 90, 160)).save(photo, "PNG")
    page, errors = new_person_page(browser, stack, "gina", viewport={"width": 1280, "height": 1100})
    form = page.locator("#edit-form")
    page.get_by_label("Photos", exact=True).set_input_files([str(photo)])
    page.get_by_label("What should change?").fill("Make it a rainy evening")

    # A model that takes a mask first: its painter is there; gpt-image-2's is not.
    picker = form.get_by_label("Model", exact=True)
    picker.select_option("gpt-image-1")
    form.get_by_text("Options for GPT Image 1").wait_for(state="attached")
    open_more_options(page)
    assert form.get_by_text("Limit the change to an area (mask)").is_visible()
    picker.focus()
    picker.press("Home")  # by keyboard: the first option, the recommended gpt-image-2
    form.get_by_text("Options for GPT Image 2").wait_for()
    assert form.get_by_text("Limit the change to an area (mask)").count() == 0
    assert form.get_by_text("GPT Image 2 changes the whole photo: it takes no mask").is_visible()
    # The picker keeps the focus through the swap, and its description is read with it.
    assert page.evaluate("document.activeElement.id") == "id_model"
    assert "sharp results up to 4K" in form.locator("#model-about").inner_text()
    assert picker.locator("option:checked").inner_text() == "GPT Image 2 — Best quality"

    size = form.get_by_label("Size", exact=True)
    width, height = form.get_by_label("Width"), form.get_by_label("Height")
    size.select_option(label="Landscape · 2048 × 1536")
    assert size.locator("option:checked").evaluate("o => o.parentElement.label") == "2K"
    assert not width.is_visible() and not height.is_visible()

    # Custom size: width and height appear, starting from the preset chosen before.
    size.select_option(label="Custom size…")
    width.wait_for()
    assert (width.input_value(), height.input_value()) == ("2048", "1536")
    width.fill("2000")
    height.fill("1000")
    check = form.locator("#size-check")
    check.get_by_text("the nearest it can make is 2000x1008").wait_for()
    assert check.get_attribute("role") == "status"
    assert browser_simulator.edit_requests == []
    # caret="initial": hiding the caret leaves style="" on every input, which htmx would
    # copy when it swaps the form (a CSP violation of the test's own making).
    page.screenshot(
        path=str(artifacts / "model-picker-size-suggestion.png"), full_page=True, caret="initial"
    )

    # Started anyway, the form refuses it next to the field and keeps the photo.
    form.get_by_role("button", name="Start edit").click()
    refusal = form.locator("#size-check .errorlist")
    refusal.get_by_text("the nearest it can make is 2000x1008").wait_for()
    assert page.locator(".edit-card").count() == 0
    assert browser_simulator.edit_requests == []
    page.locator(".preview").first.wait_for()  # restored once htmx settles
    assert page.locator(".preview").count() == 1
    assert form.get_by_label("Width").input_value() == "2000"

    form.get_by_label("Height").fill("1008")
    form.locator("#size-check").get_by_text("2000 × 1008 works (1K).").wait_for()
    page.screenshot(
        path=str(artifacts / "model-picker-size-fixed.png"), full_page=True, caret="initial"
    )
    form.get_by_role("button", name="Start edit").click()
    card = page.locator(".edit-card", has_text="Make it a rainy evening")
    card.locator(".status-badge-succeeded").wait_for(timeout=30_000)
    card.locator("img").wait_for()
    page.screenshot(path=str(artifacts / "model-picker-finished.png"), full_page=True)

    sent = browser_simulator.edit_requests[-1]
    assert sent.fields["model"] == ["gpt-image-2"]
    assert sent.fields["size"] == ["2000x1008"]
    assert [f["field"] for f in sent.files] == ["image[]"]
    assert errors == []
    page.close()
