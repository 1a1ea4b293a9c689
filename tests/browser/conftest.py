"""Browser tests run the real stack: gunicorn and `manage.py worker` as subprocesses on
a temporary SQLite file, the API simulator on 127.0.0.1, and Debian's Chromium driven
by Playwright. Nothing is mocked: what passes here is what a person would see."""

import os
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from editor.simulator.server import Simulator

from ..processes import CHROMIUM, CHROMIUM_ARGS, PASSWORD, ProcessStack

__all__ = [
    "LANGUAGES",
    "LOOKS",
    "PASSWORD",
    "console_errors",
    "new_person_page",
    "sign_in",
    "start_edit",
]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


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


class ConsoleWatch:
    """Every console error and uncaught script error of every page the browser opens.

    The `browser` fixture hands out a WatchedBrowser, so each context it makes and each
    page in it (popups included) is watched from its start; `_no_console_errors` fails
    the test at teardown on anything found meanwhile."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.contexts: list = []  # every context made, in order (the test closes its own)
        self._pages: set = set()

    def watch_context(self, context) -> None:
        if context in self.contexts:
            return
        self.contexts.append(context)
        context.on("page", self.watch_page)
        for page in context.pages:
            self.watch_page(page)

    def flush(self) -> None:
        """Takes in the events the open pages sent so far: a round trip to each."""
        for context in self.contexts:
            for page in context.pages:
                with suppress(PlaywrightError):  # closing meanwhile
                    page.evaluate("0")

    @contextmanager
    def expecting(self, text: str):
        """The block causes a console error containing `text` on purpose: it must, and
        only those errors are let through; any other still fails the test."""
        start = len(self.errors)
        yield
        self.flush()
        during = self.errors[start:]
        if not any(text in error for error in during):
            pytest.fail(f"Expected a console error containing {text!r}; none came.")
        self.errors[start:] = [error for error in during if text not in error]

    def watch_page(self, page) -> None:
        if page in self._pages:
            return
        self._pages.add(page)
        page.on("console", lambda msg: self._console(page, msg))
        page.on("pageerror", lambda exc: self.errors.append(f"page error on {page.url}: {exc}"))

    def _console(self, page, msg) -> None:
        if msg.type != "error":
            return
        where = msg.location.get("url") or page.url
        line = msg.location.get("lineNumber")
        self.errors.append(f"console error on {page.url} ({where}:{line}): {msg.text}")


class WatchedBrowser:
    """The session's Chromium, with every new context and page under the ConsoleWatch."""

    def __init__(self, browser, watch: ConsoleWatch) -> None:
        self._browser = browser
        self.console_watch = watch

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        self.console_watch.watch_context(context)
        return context

    def new_page(self, **options):
        page = self._browser.new_page(**options)
        self.console_watch.watch_page(page)
        self.console_watch.watch_context(page.context)
        return page

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/ensure-chromium installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield WatchedBrowser(browser, ConsoleWatch())
        browser.close()


@pytest.fixture
def console_watch(browser) -> ConsoleWatch:
    """For a test that causes a console error on purpose: `with console_watch.expecting(
    "status of 410"):` around the one step, with a comment why."""
    return browser.console_watch


@pytest.fixture(autouse=True)
def _no_console_errors(request):
    """Fails the browser test that caused a console error or an uncaught script error on
    any page. Errors while a module's fixtures set up count for the first test that uses
    them; the contexts a test leaves open are closed after it, so their polling cannot
    blame the next test."""
    if "browser" not in request.fixturenames:
        yield
        return
    watch: ConsoleWatch = request.getfixturevalue("browser").console_watch
    first_context = len(watch.contexts)
    yield
    watch.flush()
    for context in watch.contexts[first_context:]:
        context.close()  # nothing if the test closed it
    del watch.contexts[first_context:]
    found, watch.errors = watch.errors, []
    if found:
        pytest.fail("Browser console errors:\n" + "\n".join(found), pytrace=False)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# The interface languages, each chosen the way a browser does (Accept-Language, from the
# context's locale), with the <html lang> Django answers: LocaleMiddleware maps zh-CN to
# zh-hans.
LANGUAGES = {"en-US": "en", "zh-CN": "zh-hans"}
# Every colour scheme in every language, for the accessibility checks.
LOOKS = [
    pytest.param(scheme, locale, id=f"{scheme}-{lang}")
    for scheme in ("light", "dark")
    for locale, lang in LANGUAGES.items()
]


def sign_in(page, stack: ProcessStack, username: str) -> None:
    """Signs in from the sign-in page, by the fields' names: the same in every language."""
    page.goto(stack.url + "/accounts/login/")
    form = page.locator("main form", has=page.locator("input[name=password]"))
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(stack.url + "/")


def console_errors(page) -> list[str]:
    """The errors `page` reports from now on: a policy violation or a script error. (Every
    page is watched anyway, by `_no_console_errors`; this is for asserting mid-test.)"""
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
    card says it succeeded. By the fields' names: the same in every language."""
    form = page.locator("#edit-form")
    form.locator("input[name=images]").set_input_files([str(photo)])
    form.locator("textarea[name=prompt]").fill(prompt)
    open_more_options(page)
    form.locator("select[name=quality]").select_option("low")
    form.locator("button[type=submit]").click()
    page.locator(".edit-card", has_text=prompt).locator(".status-badge-succeeded").wait_for(
        timeout=30_000
    )
