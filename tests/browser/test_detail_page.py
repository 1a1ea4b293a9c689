"""The detail page puts the result first: the before/after comparison is the picture
itself, dragged anywhere on it or moved with the keyboard (the range input under it), and
an original of another shape lines up in the same box, letterboxed. At 1280 and 375 px."""

import io
import re

import pytest
from PIL import Image

from .conftest import new_person_page
from .test_accessibility import serious_violations

pytestmark = pytest.mark.browser

PROMPT = "Turn the tall garden photo into a wide evening scene"

# Each compare picture's element box and the box its pixels take inside it (object-fit).
FITTED_BOXES = """() => [...document.querySelectorAll('[data-compare] img')].map(img => {
    const box = img.getBoundingClientRect();
    const fit = getComputedStyle(img).objectFit;
    const scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
    const width = img.naturalWidth * scale, height = img.naturalHeight * scale;
    return {fit, box: [box.x, box.y, box.width, box.height],
            content: [box.x + (box.width - width) / 2, box.y + (box.height - height) / 2,
                      width, height]};
})"""


def post_edit(page, stack, photo: bytes, size: str) -> str:
    """Start an edit with gpt-image-1 at `size` through the form's plain POST (as without
    JavaScript), wait until it succeeded, and return its detail page's address."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        stack.url + "/edits/new/",
        multipart={
            "model": "gpt-image-1",
            "prompt": PROMPT,
            "quality": "low",
            "size": size,
            "csrfmiddlewaretoken": token,
            "images": {"name": "garden.png", "mimeType": "image/png", "buffer": photo},
        },
        headers={"Referer": stack.url + "/"},
        max_redirects=0,
    )
    assert response.status == 302, response.text()[:500]
    rows = stack.query("SELECT id FROM edits_edit ORDER BY id DESC LIMIT 1")
    pk = rows[0]["id"]
    stack.wait_for(
        lambda: (
            stack.query("SELECT status FROM edits_edit WHERE id = ?", pk)[0]["status"]
            == "succeeded"
        ),
        timeout=30,
        what="the edit to succeed",
    )
    return f"{stack.url}/edits/{pk}/"


def split_of(page) -> str:
    return page.locator("[data-compare]").evaluate("el => el.style.getPropertyValue('--split')")


@pytest.mark.parametrize("width", [1280, 375])
def test_result_first_compare_drags_on_the_picture_moves_by_keyboard_and_lines_up(
    stack, browser, browser_simulator, artifacts, width
):
    browser_simulator.reset()
    page, errors = new_person_page(
        browser, stack, f"dora{width}", viewport={"width": width, "height": 900}
    )
    portrait = io.BytesIO()
    Image.new("RGB", (300, 500), (40, 140, 90)).save(portrait, "PNG")
    url = post_edit(page, stack, portrait.getvalue(), "1536x1024")  # a landscape result

    page.goto(url)
    stage = page.locator("[data-compare]")
    page.wait_for_function(
        "[...document.querySelectorAll('[data-compare] img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    # Result first: the comparison, then Download and Edit this result, come before the
    # account of how it was made; the technical details are folded.
    hero = page.locator(".result-hero")
    assert hero.get_by_role("link", name="Download").is_visible()
    assert hero.get_by_role("link", name="Edit this result").is_visible()
    stage_box = stage.bounding_box()
    made_box = page.get_by_role("heading", name="How it was made").bounding_box()
    assert stage_box["y"] < made_box["y"]
    assert "About $" in page.locator(".made .cost").inner_text()
    details = page.locator("details.tech-details")
    assert details.get_attribute("open") is None
    assert not page.get_by_text("Task id").is_visible()

    # Same box: the stage has the result's shape (3:2), both pictures fill it with
    # object-fit: contain; the result covers it, the portrait original is letterboxed in
    # its middle at its own shape, not stretched.
    assert stage_box["width"] <= width
    assert abs(stage_box["width"] / stage_box["height"] - 1.5) < 0.02
    before, after = page.evaluate(FITTED_BOXES)
    assert before["fit"] == after["fit"] == "contain"
    assert all(abs(a - b) < 0.5 for a, b in zip(before["box"], after["box"], strict=True))
    bx, by, bw, bh = before["content"]
    ax, ay, aw, ah = after["content"]
    assert abs(aw - after["box"][2]) < 1.5 and abs(ah - after["box"][3]) < 1.5
    assert abs(bh - ah) < 1 and abs(bw / bh - 300 / 500) < 0.01
    assert abs((bx + bw / 2) - (ax + aw / 2)) < 1 and abs((by + bh / 2) - (ay + ah / 2)) < 1
    page.screenshot(path=str(artifacts / f"detail-{width}.png"), full_page=True)

    # Drag anywhere on the picture (here near its top, far from any handle).
    slider = page.get_by_label("Slide to compare")
    stage.scroll_into_view_if_needed()
    box = stage.bounding_box()
    y = box["y"] + box["height"] * 0.2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, y, steps=6)
    assert slider.input_value() in {"79", "80", "81"}
    page.mouse.move(box["x"] + box["width"] * 0.25, y, steps=6)
    page.mouse.up()
    assert slider.input_value() in {"24", "25", "26"}
    assert split_of(page) == slider.input_value() + "%"
    divider = page.locator(".compare-divider").bounding_box()
    assert abs(divider["x"] - (box["x"] + box["width"] * 0.25)) < box["width"] * 0.02
    page.screenshot(path=str(artifacts / f"detail-{width}-dragged.png"))

    # The keyboard: the slider under the picture (focused by the drag) moves the split.
    assert page.evaluate("document.activeElement.id") == "compare-range"
    page.keyboard.press("End")
    assert split_of(page) == "100%"
    page.keyboard.press("Home")
    assert split_of(page) == "0%"
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    assert slider.input_value() == "5" and split_of(page) == "5%"
    assert slider.get_attribute("aria-valuetext") == "5% original, 95% result"

    # The folded details open and hold the ids.
    details.locator("summary").click()
    assert page.get_by_text("Task id").is_visible()
    assert re.search(r"\btrace\b", details.inner_text(), re.I)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(artifacts / f"detail-{width}-details.png"), full_page=True)

    assert serious_violations(page) == []
    assert errors == []
    page.close()
