"""Usage and budget in a real browser: an edit's estimated cost shows on the Usage page,
an owner's budget below it pauses new edits with a message next to the form (htmx), and
both pages have no serious accessibility problems in light and dark mode."""

import json

import pytest
from PIL import Image

from .conftest import sign_in, start_edit
from .test_accessibility import AXE, serious_violations

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_budget_reached_pauses_edits_and_usage_shows_why(
    stack, browser, tmp_path, scheme, artifacts
):
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run scripts/ensure-test-tools")
    username = f"penny-{scheme}"
    stack.create_user(username)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (120, 90), (30, 90, 160)).save(photo)
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, stack, username)
    start_edit(page, photo, "Paint the sky orange")

    page.get_by_role("link", name="Members", exact=True).click()
    page.get_by_label("Monthly budget (US dollars)").fill("0.01")
    page.get_by_role("button", name="Save budget").click()
    page.get_by_text("is now $0.01").wait_for()
    found = {"members": serious_violations(page)}

    page.get_by_role("navigation", name="Team").get_by_role("link", name="Usage").click()
    page.get_by_text("Budget reached.").wait_for()
    assert "of the $0.01 monthly budget used" in page.locator("#budget-text").inner_text()
    assert page.get_by_role("cell", name="Paint the sky orange").count() == 1
    found["usage"] = serious_violations(page)
    page.screenshot(path=str(artifacts / f"usage-{scheme}.png"), full_page=True)

    page.get_by_role("link", name="Gallery", exact=True).click()
    page.get_by_label("Photos", exact=True).set_input_files([str(photo)])
    page.get_by_label("What should change?").fill("One edit too many")
    page.get_by_role("button", name="Start edit").click()
    alert = page.locator("#edit-form .form-errors")
    alert.wait_for()
    assert "Your team has used its $0.01 budget for" in alert.inner_text()
    assert page.locator(".edit-card", has_text="One edit too many").count() == 0
    context.close()
    problems = {name: v for name, v in found.items() if v}
    assert problems == {}, json.dumps(problems, indent=2)
