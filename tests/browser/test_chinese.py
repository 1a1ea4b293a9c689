"""The Chinese interface (issue 15), at 1280 px and 375 px: a browser that asks for
Chinese (Accept-Language zh-CN) gets zh-hans pages; the header's language switch turns
them to English and back, and the choice is the person's (Profile.language): it comes
back after signing out and in again, whatever the browser asks for. No page is wider than
a phone in Chinese either.

These check the language by <html lang> and the switch's value, not by wording: the
Chinese wording is checked once its catalogue is compiled."""

import re

import pytest
from PIL import Image

from .conftest import sign_in, start_edit

pytestmark = pytest.mark.browser

WIDE = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def lang(page) -> str:
    return page.evaluate("document.documentElement.lang")


def switch_language(page, code: str) -> None:
    """The header's switch, as a person uses it: pick, then press its button."""
    switcher = page.locator("form.language-switcher")
    switcher.locator("select#language-switch").select_option(code)
    switcher.locator("button[type=submit]").click()
    page.wait_for_function("code => document.documentElement.lang === code", arg=code)


def sign_out(page) -> None:
    page.locator("form[action$='/accounts/logout/'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))


def profile_language(stack, username: str) -> str:
    rows = stack.query(
        "SELECT p.language FROM teams_profile p JOIN auth_user u ON u.id = p.user_id"
        " WHERE u.username = ?",
        username,
    )
    return rows[0]["language"] if rows else ""


def test_chinese_from_the_browser_switched_to_english_and_back_and_remembered(
    stack, browser, artifacts
):
    stack.create_user("lin")
    context = browser.new_context(locale="zh-CN", **WIDE)
    page = context.new_page()
    page.goto(stack.url + "/accounts/login/")
    assert lang(page) == "zh-hans"
    switch = page.locator("select#language-switch")
    assert switch.input_value() == "zh-hans"
    page.screenshot(path=str(artifacts / "zh-login-1280.png"), full_page=True)

    sign_in(page, stack, "lin")
    assert lang(page) == "zh-hans" and switch.input_value() == "zh-hans"
    page.screenshot(path=str(artifacts / "zh-home-1280.png"), full_page=True)

    switch_language(page, "en")
    assert page.url == stack.url + "/"  # back where the switch was used
    assert switch.input_value() == "en"
    assert profile_language(stack, "lin") == "en"
    page.screenshot(path=str(artifacts / "zh-switched-to-english-1280.png"), full_page=True)

    # Signed out, with the language cookie gone too: the browser asks for Chinese again,
    # and gets it until the person signs in, whose choice is English.
    sign_out(page)
    context.clear_cookies()
    page.goto(stack.url + "/accounts/login/")
    assert lang(page) == "zh-hans"
    sign_in(page, stack, "lin")
    assert lang(page) == "en" and switch.input_value() == "en"

    switch_language(page, "zh-hans")
    assert switch.input_value() == "zh-hans"
    assert profile_language(stack, "lin") == "zh-hans"
    sign_out(page)
    context.close()

    # On another device whose browser asks for English: Chinese once signed in.
    elsewhere = browser.new_context(locale="en-US", **WIDE)
    page = elsewhere.new_page()
    page.goto(stack.url + "/accounts/login/")
    assert lang(page) == "en"
    sign_in(page, stack, "lin")
    assert lang(page) == "zh-hans"
    assert page.locator("select#language-switch").input_value() == "zh-hans"
    elsewhere.close()


def test_no_chinese_page_is_wider_than_a_phone(stack, browser, tmp_path, artifacts):
    stack.create_user("mei")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (320, 240), (200, 120, 40)).save(photo)
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    page.goto(stack.url + "/accounts/login/")
    assert lang(page) == "zh-hans"
    assert page.evaluate(OVERFLOW) <= 0, "login"
    page.screenshot(path=str(artifacts / "zh-login-375.png"), full_page=True)
    sign_in(page, stack, "mei")
    start_edit(page, photo, "Warm evening light")  # a card, a detail page, a usage row
    page.reload()
    assert lang(page) == "zh-hans"
    assert page.evaluate(OVERFLOW) <= 0, "home"
    page.screenshot(path=str(artifacts / "zh-home-375.png"), full_page=True)

    page.locator(".edit-card a.card-link").first.click()
    page.wait_for_url(re.compile(r"/edits/\d+/$"))
    assert page.evaluate(OVERFLOW) <= 0, "detail"
    page.screenshot(path=str(artifacts / "zh-detail-375.png"), full_page=True)

    nav = page.locator("nav.team-nav")
    for name in ("usage", "members", "invitations", "activity", "teams/new"):
        nav.locator(f"a[href$='/{name}/']").click()
        page.wait_for_url(re.compile(f"/{name}/$"))
        assert lang(page) == "zh-hans", name
        assert page.evaluate(OVERFLOW) <= 0, name
        page.screenshot(
            path=str(artifacts / f"zh-{name.replace('/', '-')}-375.png"), full_page=True
        )
    context.close()


def test_the_chinese_usage_tables_fit_or_scroll_in_their_box_at_1280(
    stack, browser, tmp_path, artifacts
):
    stack.create_user("ping")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (320, 240), (40, 160, 120)).save(photo)
    context = browser.new_context(locale="zh-CN", **WIDE)
    page = context.new_page()
    sign_in(page, stack, "ping")
    start_edit(page, photo, "A quiet green garden")
    page.goto(stack.url + "/usage/")
    assert lang(page) == "zh-hans"
    assert page.evaluate(OVERFLOW) <= 0
    tables = page.locator("main table")
    assert tables.count() > 0
    for table in tables.all():
        # Each table inside the page, or inside a box of its own that scrolls.
        assert table.evaluate(
            """t => {
                const box = t.closest('.table-scroll') || t;
                return box.getBoundingClientRect().right <= document.documentElement.clientWidth;
            }"""
        )
    page.screenshot(path=str(artifacts / "zh-usage-1280.png"), full_page=True)
    context.close()
