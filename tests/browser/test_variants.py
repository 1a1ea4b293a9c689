"""A person asks gpt-image-1 for two results, sees both as equals on the card and the
detail page, picks the second by keyboard, and the card then shows that one."""

import pytest
from PIL import Image

from .conftest import new_person_page, open_more_options

pytestmark = pytest.mark.browser

PROMPT = "Put the teapot on a wooden shelf"


def test_ask_for_two_results_pick_one_by_keyboard_and_the_card_shows_it(
    stack, browser, browser_simulator, tmp_path, artifacts
):
    browser_simulator.reset()
    photo = tmp_path / "teapot.png"
    Image.new("RGB", (400, 300), (180, 120, 60)).save(photo, "PNG")
    page, errors = new_person_page(
        browser, stack, "valerie", viewport={"width": 1280, "height": 1000}
    )

    form = page.locator("#edit-form")
    page.get_by_label("Photos", exact=True).set_input_files([str(photo)])
    page.get_by_label("What should change?").fill(PROMPT)
    form.get_by_label("Model", exact=True).select_option("gpt-image-1")
    form.get_by_text("Options for GPT Image 1").wait_for(state="attached")
    open_more_options(page)
    form.get_by_label("Quality").select_option("low")
    form.get_by_label("Number of results").fill("2")
    page.get_by_role("button", name="Start edit").click()

    card = page.locator(".edit-card", has_text=PROMPT)
    card.locator(".status-badge-succeeded").wait_for(timeout=30_000)
    # Two results and no pick: the card shows both, as equals.
    thumbs = card.locator(".variant-thumbs img")
    thumbs.nth(1).wait_for()
    assert thumbs.count() == 2
    assert card.get_by_text("2 results to choose from").is_visible()
    assert browser_simulator.edit_requests[-1].fields["n"] == ["2"]
    card.screenshot(path=str(artifacts / "variants-card-grid.png"))

    card.locator("a.card-link").click()
    page.wait_for_url(f"{stack.url}/edits/*/")
    grid = page.locator(".variant-grid")
    buttons = grid.get_by_role("button", name="Use this one")
    assert buttons.count() == 2
    assert [buttons.nth(i).get_attribute("aria-pressed") for i in range(2)] == ["false"] * 2
    assert grid.locator("img").nth(1).evaluate("img => img.complete && img.naturalWidth > 0")
    page.screenshot(path=str(artifacts / "variants-grid.png"), full_page=True)

    # By keyboard: focus the second result's button and press Space; htmx swaps the
    # page's body in place and the focus stays on the button.
    page.evaluate("window.__noReload = 'still here'")
    second = page.get_by_role("button", name="Use this one (result 2)")
    second.focus()
    page.keyboard.press("Space")
    page.get_by_text("Picked by valerie").wait_for()
    second = page.get_by_role("button", name="Use this one (result 2)")
    assert second.get_attribute("aria-pressed") == "true"
    first = page.get_by_role("button", name="Use this one (result 1)")
    assert first.get_attribute("aria-pressed") == "false"
    assert page.evaluate("document.activeElement.id") == "pick-1"
    assert page.evaluate("window.__noReload") == "still here"
    # htmx settles the swapped elements' classes a moment after the swap: wait for it.
    page.locator("#result-1.is-picked").wait_for()
    page.screenshot(path=str(artifacts / "variants-picked.png"), full_page=True)

    # The whole team sees the pick: the card now shows just that result.
    page.get_by_role("link", name="← Team gallery").click()
    card = page.locator(".edit-card", has_text=PROMPT)
    card.get_by_text("Picked 2 of 2 · valerie").wait_for()
    assert card.locator(".variant-thumbs").count() == 0
    assert card.locator(".thumb img").get_attribute("src").endswith("/results/1/thumbnail/")
    card.screenshot(path=str(artifacts / "variants-card-picked.png"))
    assert errors == []
    page.close()
