"""A person chooses several photos, says the change applies to each of them, and watches
the batch's card fill in, one result at a time, without reloading the page."""

import re

import pytest
from PIL import Image

from .conftest import console_errors, open_more_options, sign_in

pytestmark = pytest.mark.browser

PROMPT = "Put each one on a plain white background"


def test_a_batch_fills_in_on_its_card(stack, browser, browser_simulator, tmp_path, artifacts):
    stack.create_user("bea")
    browser_simulator.reset()
    photos = []
    for index in range(8):
        path = tmp_path / f"product-{index + 1}.png"
        Image.new("RGB", (320, 240), (30 * index, 120, 200 - 20 * index)).save(path, "PNG")
        photos.append(str(path))

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = console_errors(page)
    sign_in(page, stack, "bea")

    choice = page.get_by_role("group", name="With several photos")
    photo_input = page.get_by_label("Photos", exact=True)
    photo_input.set_input_files(photos[:1])
    assert not choice.is_visible()  # one photo: nothing to ask
    photo_input.set_input_files(photos[1:])
    choice.wait_for()
    together = page.get_by_role("radio", name="Combine them into one picture")
    each = page.get_by_role("radio", name="Apply to each photo separately")
    assert together.is_checked()
    # By keyboard, as radio buttons go: focus the checked one, arrow to the next.
    together.focus()
    page.keyboard.press("ArrowDown")
    assert each.is_checked()
    assert "one result per photo" in page.locator("#apply-to-each-example").inner_text()
    page.get_by_label("What should change?").fill(PROMPT)
    open_more_options(page)
    page.get_by_label("Quality").select_option("low")
    page.get_by_role("button", name="Start edit").click()

    card = page.locator(".batch-card").first
    card.wait_for()
    assert PROMPT in card.inner_text()
    assert card.locator(".batch-cell").count() == 8
    # The results arrive through the gallery's poll, a cell at a time.
    card.locator(".batch-cell img").first.wait_for(timeout=30_000)
    assert re.search(r"\d of 8 done", card.locator(".batch-progress-text").inner_text())
    page.screenshot(path=str(artifacts / "batch-filling-in.png"), full_page=True)
    page.locator(".batch-card .batch-progress-text", has_text="8 of 8 done").wait_for(
        timeout=60_000
    )
    assert page.locator(".batch-card .batch-cell img").count() == 8
    assert page.locator(".batch-card").count() == 1  # one card, not eight
    assert page.get_by_role("link", name=re.compile("Download all")).is_visible()
    page.screenshot(path=str(artifacts / "batch-done.png"), full_page=True)

    # Each photo was sent as an edit of its own.
    sent = browser_simulator.edit_requests[-8:]
    assert sorted(r.files[0]["filename"] for r in sent) == sorted(
        f"product-{i + 1}.png" for i in range(8)
    )
    assert all(len(r.files) == 1 for r in sent)

    card.locator("a.card-link").click()
    page.wait_for_url(re.compile(r".*/batches/\d+/$"))
    assert page.locator(".edit-card").count() == 8
    assert page.get_by_text("8 of 8 done").first.is_visible()
    assert not problems, problems
    context.close()
