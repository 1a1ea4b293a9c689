"""A person starts an edit and, while the service works on it, sees a preview on its card
and on the detail page, marked "Preview"; the result then replaces it, all by polling.

The stack here has its own simulator, slower than the shared one (partial images at a
quarter and half of 10 s), so that the preview is on screen long enough to be seen."""

import re

import pytest
from PIL import Image

from editor.simulator.server import Simulator

from ..processes import ProcessStack
from .conftest import sign_in

pytestmark = pytest.mark.browser

LATENCY = 10.0


@pytest.fixture(scope="module")
def slow_simulator():
    sim = Simulator(host="127.0.0.1", port=0, token="sk-test", latency=LATENCY).start()
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory, slow_simulator):
    stack = ProcessStack(
        tmp_path_factory.mktemp("preview-stack"),
        slow_simulator.base_url,
        RETOUCH_DELIVERY="sync",
        RETOUCH_PARTIAL_IMAGES="2",
    )
    stack.start_web()
    stack.start_worker(threads=2)
    yield stack
    stack.stop()


def test_a_preview_shows_on_the_card_and_the_detail_page_before_the_result(
    slow_stack, slow_simulator, browser, tmp_path, artifacts
):
    slow_stack.create_user("paula")
    photo = tmp_path / "harbour.png"
    Image.new("RGB", (320, 240), (30, 90, 160)).save(photo, "PNG")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, slow_stack, "paula")

    page.get_by_label("Photos", exact=True).set_input_files([str(photo)])
    page.get_by_label("What should change?").fill("Paint the harbour at sunset")
    # A model the catalogue streams (gpt-image-2, the default, does not stream anywhere yet).
    form = page.locator("#edit-form")
    form.get_by_label("Model", exact=True).select_option("gpt-image-1")
    form.get_by_text("Options for GPT Image 1").wait_for(state="attached")
    page.get_by_role("button", name="Start edit").click()

    card = page.locator(".edit-card", has_text="Paint the harbour at sunset")
    preview = card.locator("img.live-preview-image")
    preview.wait_for(timeout=LATENCY * 1000)
    # The preview is there while the edit still runs, marked as one, and no result yet.
    assert card.locator(".status-badge-running").count() == 1
    assert card.locator(".live-preview-mark").inner_text() == "Preview"
    assert preview.get_attribute("src").startswith("data:image/webp;base64,")
    assert card.locator(".status-badge-succeeded").count() == 0
    page.screenshot(path=str(artifacts / "live-preview-card.png"), full_page=True)
    assert slow_simulator.edit_requests[-1].fields["stream"] == ["true"]

    card.locator("a.card-link").click()
    page.wait_for_url(re.compile(r".*/edits/\d+/$"))
    detail_preview = page.locator("#edit-status img.live-preview-image")
    if detail_preview.count():  # unless the result overtook the click
        assert page.locator("#edit-status .live-preview-mark").inner_text() == "Preview"
        page.screenshot(path=str(artifacts / "live-preview-detail.png"), full_page=True)

    # The result replaces the preview on the detail page, by its own poll.
    page.locator("#edit-status .status-badge-succeeded").wait_for(timeout=LATENCY * 2000)
    assert page.locator(".live-preview-image").count() == 0
    page.goto(slow_stack.url + "/")
    card.locator(".status-badge-succeeded").wait_for(timeout=10_000)
    assert card.locator(".live-preview-image").count() == 0
    assert card.locator(".thumb img").count() == 1
    page.screenshot(path=str(artifacts / "live-preview-final.png"), full_page=True)
    context.close()
