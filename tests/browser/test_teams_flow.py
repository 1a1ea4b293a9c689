"""Teams in a real browser: an owner makes a team and an edit, invites a viewer with a
link; the viewer signs up through it and sees the team's gallery without an edit form.
Then the gallery's filters and deletion, which only htmx in a browser can show."""

import json
import re

import pytest
from PIL import Image

from .conftest import LANGUAGES, LOOKS, PASSWORD, sign_in, start_edit
from .test_accessibility import AXE, serious_violations

pytestmark = pytest.mark.browser

UNLABELED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter(el => el.type !== 'hidden')
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !el.textContent.trim())
    .map(el => el.outerHTML)"""


def test_owner_invites_a_viewer_who_joins_with_the_link_and_sees_the_team(
    stack, browser, console_watch, tmp_path, artifacts
):
    stack.create_user("owen")
    photo = tmp_path / "shoe.png"
    Image.new("RGB", (320, 240), (30, 90, 200)).save(photo)

    owner_context = browser.new_context(viewport={"width": 1280, "height": 900})
    owner_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.url)
    owner = owner_context.new_page()
    sign_in(owner, stack, "owen")
    owner.get_by_role("link", name="New team").click()
    owner.get_by_label("Team name").fill("Launch campaign")
    owner.get_by_role("button", name="Create team").click()
    owner.wait_for_url(stack.url + "/")
    assert owner.locator("#team-switch option:checked").inner_text() == "Launch campaign"
    start_edit(owner, photo, "Put the shoe on a beach")

    owner.get_by_role("link", name="Invitations").click()
    owner.get_by_label("Role").select_option("viewer")
    owner.get_by_role("button", name="Create invitation link").click()
    link = owner.locator(".invitation code").first.inner_text().strip()
    assert re.fullmatch(re.escape(stack.url) + r"/join/[\w-]{40,}/", link)
    owner.locator(".invitation").get_by_role("button", name=re.compile("^Copy link")).click()
    assert owner.evaluate("navigator.clipboard.readText()") == link
    owner.screenshot(path=str(artifacts / "teams-invitations.png"), full_page=True)

    guest_context = browser.new_context(viewport={"width": 1280, "height": 900})
    guest = guest_context.new_page()
    guest.goto(link)
    assert guest.get_by_text("owen invited you to join Launch campaign as viewer").is_visible()
    signup = guest.locator("#signup-form")
    signup.get_by_label("Username").fill("vera")
    signup.get_by_label("Password", exact=True).fill(PASSWORD)
    signup.get_by_label("Password confirmation").fill(PASSWORD)
    signup.get_by_role("button", name="Create account and join").click()
    guest.wait_for_url(stack.url + "/")
    assert guest.get_by_text("Welcome to Retouch and to “Launch campaign”!").is_visible()
    assert guest.locator(".edit-card", has_text="Put the shoe on a beach").is_visible()
    assert guest.locator(".site-nav .badge").inner_text() == "Viewer"
    # A viewer looks and downloads: no edit form, no delete buttons.
    assert guest.locator("#edit-form").count() == 0
    assert guest.get_by_role("button", name=re.compile("^Delete")).count() == 0
    guest.screenshot(path=str(artifacts / "teams-viewer-gallery.png"), full_page=True)

    # The link worked once: opening it again says so.
    other = browser.new_context().new_page()
    # A used link answers 410 Gone (editor/teams/views.py), and Chromium logs any 4xx
    # document as "Failed to load resource": expected here, and only here.
    with console_watch.expecting("the server responded with a status of 410 (Gone)"):
        other.goto(link)
    assert other.get_by_text("This invitation has already been used.").is_visible()
    other.context.close()

    owner.get_by_role("link", name="Members").click()
    assert owner.locator(".member-row", has_text="vera").is_visible()
    owner.screenshot(path=str(artifacts / "teams-members.png"), full_page=True)
    owner.get_by_role("link", name="Activity").click()
    assert owner.get_by_text("vera joined the team: as Viewer").is_visible()
    assert owner.get_by_text("owen started an edit: Put the shoe on a beach").is_visible()

    # The team pages work at 375 px with every control labelled.
    owner.set_viewport_size({"width": 375, "height": 800})
    for name in ("Members", "Invitations", "Activity", "Gallery"):
        owner.get_by_role("link", name=name, exact=True).click()
        owner.wait_for_load_state()
        assert owner.evaluate("document.documentElement.scrollWidth") <= 375, name
        assert owner.evaluate(UNLABELED_CONTROLS) == [], name
    owner.screenshot(path=str(artifacts / "teams-gallery-375px.png"), full_page=True)
    owner_context.close()
    guest_context.close()


def test_filters_push_a_shareable_url_and_delete_asks_first(stack, browser, tmp_path, artifacts):
    stack.create_user("fay")
    photo = tmp_path / "view.png"
    Image.new("RGB", (320, 240), (200, 160, 40)).save(photo)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, stack, "fay")
    start_edit(page, photo, "Make the sky stormy")
    start_edit(page, photo, "Calm the sea")
    page.evaluate("window.__noReload = 'still here'")

    # The page opened with an empty gallery, so its filters are folded into "Filter".
    page.locator("details.filter-fold > summary").click()
    page.get_by_label("Prompt contains").fill("sky")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*[?&]q=sky(&|$)"))
    page.locator(".edit-card", has_text="Calm the sea").wait_for(state="detached")
    assert page.locator(".edit-card").count() == 1
    assert page.evaluate("window.__noReload") == "still here"  # swapped, not reloaded
    page.screenshot(path=str(artifacts / "gallery-filtered.png"), full_page=True)

    shared = browser.new_page()
    sign_in(shared, stack, "fay")
    shared.goto(page.url)
    assert shared.locator(".edit-card").count() == 1
    assert shared.get_by_label("Prompt contains").input_value() == "sky"
    shared.close()

    dialogs = []

    def answer(dialog, accept):
        dialogs.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    card = page.locator(".edit-card", has_text="Make the sky stormy")
    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    card.get_by_role("button", name=re.compile("^Delete")).click()
    assert card.is_visible()  # "Cancel" kept it
    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    card.get_by_role("button", name=re.compile("^Delete")).click()
    card.wait_for(state="detached")
    assert all("This cannot be undone." in message for message in dialogs) and len(dialogs) == 2
    page.goto(stack.url + "/")
    assert page.locator(".edit-card").count() == 1
    assert page.locator(".edit-card", has_text="Calm the sea").is_visible()
    page.close()


@pytest.mark.parametrize(("scheme", "locale"), LOOKS)
def test_team_pages_have_no_serious_accessibility_violations(
    stack, browser, scheme, locale, artifacts
):
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run scripts/ensure-test-tools")
    lang = LANGUAGES[locale]
    username = f"axel-{scheme}-{lang}"
    stack.create_user(username)
    looks = {"color_scheme": scheme, "locale": locale}
    context = browser.new_context(**looks, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, stack, username)
    # By the links' addresses and the fields' names: the same in every language.
    nav = page.locator("nav.team-nav")
    nav.locator("a[href$='/invitations/']").click()
    page.locator("main form:has([name=role]) button[type=submit]").click()
    link = page.locator(".invitation code").first.inner_text().strip()
    found = {}
    for name in ("members", "invitations", "activity", "teams/new"):
        nav.locator(f"a[href$='/{name}/']").click()
        page.wait_for_url(re.compile(f"/{name}/$"))
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.lang") == lang, name
        found[name] = serious_violations(page)
    page.screenshot(path=str(artifacts / f"a11y-team-{scheme}-{lang}.png"), full_page=True)
    guest = browser.new_context(**looks).new_page()
    guest.goto(link)
    assert guest.evaluate("document.documentElement.lang") == lang
    found["join"] = serious_violations(guest)
    guest.screenshot(path=str(artifacts / f"a11y-join-{scheme}-{lang}.png"), full_page=True)
    guest.context.close()
    context.close()
    problems = {name: v for name, v in found.items() if v}
    assert problems == {}, json.dumps(problems, indent=2)
