"""The Content-Security-Policy holds in a real browser: starting an edit, the gallery's
poll, the detail page's compare slider and the other pages run without a single
policy violation or console error."""

from pathlib import Path

import pytest
from PIL import Image

from .conftest import console_errors, open_more_options, sign_in, start_edit

pytestmark = pytest.mark.browser


def test_pages_and_actions_run_within_the_policy(stack, browser, tmp_path):
    stack.create_user("cspuser")
    photo = Path(tmp_path) / "wide.png"
    Image.new("RGB", (240, 120), (40, 90, 160)).save(photo)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = console_errors(page)

    response = page.goto(stack.url + "/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in policy and "unsafe" not in policy
    sign_in(page, stack, "cspuser")
    open_more_options(page)
    page.get_by_label("Size", exact=True).select_option("1536x1024")  # a landscape result
    start_edit(page, photo, "Make it stormy")  # the upload, the htmx post and the poll

    page.locator(".edit-card a.card-link").first.click()
    stage = page.locator("[data-compare]")
    stage.wait_for()
    box = stage.bounding_box()
    assert box["width"] / box["height"] == pytest.approx(1.5, rel=0.05)  # the result's shape
    page.locator("[data-compare-range]").fill("20")
    assert stage.evaluate("el => el.style.getPropertyValue('--split')") == "20%"

    for path in ("/usage/", "/"):
        page.goto(stack.url + path)
    page.locator("#gallery").wait_for()
    assert errors == []
    context.close()
