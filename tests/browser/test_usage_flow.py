"""Usage and budget in a real browser: an edit's estimated cost shows on the Usage page,
an owner's budget below it pauses new edits with a message next to the form (htmx), and
both pages have no serious accessibility problems in light and dark mode, in English and
in Chinese. The steps go by addresses and field names, the same in both languages; the
English wording is checked in English (the Chinese wording once its catalogue is
compiled)."""

import json

import pytest
from PIL import Image

from .conftest import LANGUAGES, LOOKS, sign_in, start_edit
from .test_accessibility import AXE, serious_violations

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("scheme", "locale"), LOOKS)
def test_budget_reached_pauses_edits_and_usage_shows_why(
    stack, browser, tmp_path, scheme, locale, artifacts
):
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run scripts/ensure-test-tools")
    lang = LANGUAGES[locale]
    english = lang == "en"
    username = f"penny-{scheme}-{lang}"
    stack.create_user(username)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (120, 90), (30, 90, 160)).save(photo)
    context = browser.new_context(
        color_scheme=scheme, locale=locale, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    sign_in(page, stack, username)
    assert page.evaluate("document.documentElement.lang") == lang
    start_edit(page, photo, "Paint the sky orange")

    nav = page.locator("nav.team-nav")
    nav.locator("a[href$='/members/']").click()
    page.locator("form#budget input[name=monthly_budget_usd]").fill("0.01")
    page.locator("form#budget button[type=submit]").click()
    page.locator("#messages .message").first.wait_for()
    if english:
        assert "is now $0.01" in page.locator("#messages").inner_text()
    found = {"members": serious_violations(page)}

    nav.locator("a[href$='/usage/']").click()
    page.locator("main .alert-error[role=alert]").wait_for()
    if english:
        assert page.get_by_text("Budget reached.").is_visible()
        assert "of the $0.01 monthly budget used" in page.locator("#budget-text").inner_text()
    assert "0.01" in page.locator("#budget-text").inner_text()
    assert page.get_by_role("cell", name="Paint the sky orange").count() == 1
    found["usage"] = serious_violations(page)
    page.screenshot(path=str(artifacts / f"usage-{scheme}-{lang}.png"), full_page=True)

    nav.locator("a[href='/']").click()
    form = page.locator("#edit-form")
    form.locator("input[name=images]").set_input_files([str(photo)])
    form.locator("textarea[name=prompt]").fill("One edit too many")
    form.locator("button[type=submit]").click()
    alert = page.locator("#edit-form .form-errors")
    alert.wait_for()
    assert alert.get_attribute("role") == "alert"
    if english:
        assert "Your team has used its $0.01 budget for" in alert.inner_text()
    assert page.locator(".edit-card", has_text="One edit too many").count() == 0
    context.close()
    problems = {name: v for name, v in found.items() if v}
    assert problems == {}, json.dumps(problems, indent=2)
