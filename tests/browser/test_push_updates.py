"""Pushed updates: an open gallery learns that an edit changed from its event stream, not
from a timer. While the service works (6 s here), the page sends an update request only
right after an event, never on the 2-second poll; the result still shows on its card."""

import time

import pytest
from PIL import Image

from editor.simulator.server import Simulator

from ..processes import ProcessStack
from .conftest import sign_in

pytestmark = pytest.mark.browser

LATENCY = 6.0


@pytest.fixture(scope="module")
def push_stack(tmp_path_factory):
    sim = Simulator(host="127.0.0.1", port=0, token="sk-test", latency=LATENCY).start()
    stack = ProcessStack(
        tmp_path_factory.mktemp("push-stack"), sim.base_url, RETOUCH_DELIVERY="sync"
    )
    stack.start_web()
    stack.start_worker(threads=2)
    yield stack
    stack.stop()
    sim.stop()


def test_events_drive_the_gallery_without_polling(push_stack, browser, tmp_path, artifacts):
    push_stack.create_user("pia")
    photo = tmp_path / "dune.png"
    Image.new("RGB", (256, 256), (200, 170, 90)).save(photo, "PNG")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    started = time.monotonic()
    updates: list[float] = []
    page.on(
        "request",
        lambda request: (
            updates.append(time.monotonic() - started) if "/edits/updates/" in request.url else None
        ),
    )
    sign_in(page, push_stack, "pia")
    page.wait_for_function("() => document.documentElement.hasAttribute('data-live')")
    page.evaluate(
        """() => { window.pushed = [];
        document.body.addEventListener('htmx:sseMessage',
          () => window.pushed.push(performance.now())); }"""
    )
    offset = time.monotonic() - started - page.evaluate("performance.now()") / 1000

    form = page.locator("#edit-form")
    form.locator("input[name=images]").set_input_files([str(photo)])
    form.locator("textarea[name=prompt]").fill("Make it a desert at dawn")
    form.locator("button[type=submit]").click()
    card = page.locator(".edit-card", has_text="Make it a desert at dawn")
    card.locator(".status-badge-succeeded").wait_for(timeout=LATENCY * 3000)
    card.locator("img").first.wait_for()
    page.screenshot(path=str(artifacts / "push-gallery-done.png"))

    pushed = [offset + ms / 1000 for ms in page.evaluate("window.pushed")]
    assert pushed, "no event arrived over the stream"
    # The edit ran ~6 s: a 2-second poll would have asked about twice in that time. Every
    # update request instead follows an event closely.
    assert updates, "the card was never updated"
    for moment in updates:
        assert any(0 <= moment - event < 0.75 for event in pushed), (moment, pushed, updates)
    assert page.evaluate("document.documentElement.hasAttribute('data-live')")
    page.close()
