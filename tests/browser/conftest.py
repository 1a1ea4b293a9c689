"""Browser tests run the real stack: gunicorn and `manage.py worker` as subprocesses on
a temporary SQLite file, the API simulator on 127.0.0.1, and Debian's Chromium driven
by Playwright. Nothing is mocked: what passes here is what a person would see."""

import os
from pathlib import Path

import pytest

from editor.simulator.server import Simulator

from ..processes import PASSWORD, ProcessStack

__all__ = ["PASSWORD", "console_errors", "new_person_page", "sign_in", "start_edit"]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_simulator():
    sim = Simulator(host="127.0.0.1", port=0, token="sk-test", latency=1.5).start()
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory, browser_simulator):
    """The app as `make run` starts it: gunicorn and `manage.py worker` subprocesses on
    a temporary SQLite file, pointed at the simulator."""
    stack = ProcessStack(tmp_path_factory.mktemp("stack"), browser_simulator.base_url)
    stack.start_web()
    stack.start_worker(threads=4)
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/ensure-chromium installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def sign_in(page, stack: ProcessStack, username: str) -> None:
    page.goto(stack.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(stack.url + "/")


def console_errors(page) -> list[str]:
    """The errors `page` reports from now on: a policy violation or a script error."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def new_person_page(browser, stack: ProcessStack, username: str, **page_options):
    """A person of the test's own (the stack is shared by the session), signed in on a new
    page; returns the page and the errors it reports from before the sign-in on."""
    stack.create_user(username)
    page = browser.new_page(**page_options)
    errors = console_errors(page)
    sign_in(page, stack, username)
    return page, errors


def open_more_options(page) -> None:
    """Unfold "More options" (sizes, quality, results, the mask), folded for newcomers and
    remembered per person, so it may be open already."""
    more = page.locator("details.more-options")
    if not more.evaluate("details => details.open"):
        more.locator("> summary").click()


def start_edit(page, photo: Path, prompt: str) -> None:
    """Start a low-quality edit of `photo` from the gallery's form, and wait until its
    card says it succeeded."""
    page.get_by_label("Photos", exact=True).set_input_files([str(photo)])
    page.get_by_label("What should change?").fill(prompt)
    open_more_options(page)
    page.get_by_label("Quality").select_option("low")
    page.get_by_role("button", name="Start edit").click()
    page.locator(".edit-card", has_text=prompt).locator(".status-badge-succeeded").wait_for(
        timeout=30_000
    )
