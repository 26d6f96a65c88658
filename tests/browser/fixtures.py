"""Real-browser fixtures: Debian's Chromium, driven by Playwright, against the live server.

Chromium comes from Debian (`apt-get install chromium`), never from `playwright install` (that
downloads a browser from the internet). Every page opened here is watched: a request to any host
but the live server is aborted and recorded, and console errors, uncaught page errors and CSP
violations are recorded; a test fails at teardown if any happened, unless it says it expects them
(`page_log.expect_problems()`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Route,
    sync_playwright,
)

# The live server listens on the loopback address itself, so "no request leaves 127.0.0.1"
# is literally what the request log checks. Set before pytest-django starts the live server.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CARREL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}
PASSWORD = "correct horse 42"  # the `user` fixture's password (tests/conftest.py)

# Reports CSP violations to the test through a binding; init scripts are not subject to CSP.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.carrelReportCsp(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@dataclass
class PageLog:
    """What the browser did during one test, across every page the test opened."""

    origin: str
    requests: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    problems_expected: bool = False

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in {"data", "blob", "about"}:
            return True  # never leaves the browser
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    def problems(self) -> list[str]:
        return [
            *(f"console error: {text}" for text in self.console_errors),
            *(f"page error: {text}" for text in self.page_errors),
            *(f"CSP violation: {text}" for text in self.csp_violations),
        ]

    def expect_problems(self) -> None:
        """For a test that provokes errors on purpose: skip the teardown check for them."""
        self.problems_expected = True


@dataclass
class _SharedPlaywright:
    playwright: Playwright | None = None
    patch: pytest.MonkeyPatch | None = None
    users: int = 0


_shared = _SharedPlaywright()


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Playwright]:
    """One Playwright for the whole run. A test module outside tests/browser that imports
    this fixture gets its own copy of it (still session-scoped), and a second
    sync_playwright() in the same thread fails, so every copy shares the one started first;
    the last to finish stops it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: run `apt-get install -y chromium` "
            "(or set CARREL_CHROMIUM). Do not run `playwright install`."
        )
    if _shared.playwright is None:
        # Playwright's sync API leaves an asyncio loop marked as running in this thread for
        # as long as it is up, which trips Django's guard against ORM calls from async code.
        # The test's own ORM calls (creating users, flushing the database) are plain
        # synchronous code, so the guard is off exactly while Playwright runs.
        _shared.patch = pytest.MonkeyPatch()
        _shared.patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        _shared.playwright = sync_playwright().start()
    _shared.users += 1
    try:
        yield _shared.playwright
    finally:
        _shared.users -= 1
        if not _shared.users:
            _shared.playwright.stop()
            assert _shared.patch is not None
            _shared.patch.undo()
            _shared.playwright = _shared.patch = None


@pytest.fixture(scope="session")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    browser = playwright_session.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def page_log(live_server) -> PageLog:
    return PageLog(origin=live_server.url)


@pytest.fixture
def open_page(browser: Browser, page_log: PageLog) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh browser context: open_page(viewport=TABLET, color_scheme="dark",
    javascript=False). Every context is watched (see the module docstring)."""
    contexts: list[BrowserContext] = []

    def watch(page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                page_log.console_errors.append(f"{message.text} ({page.url})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: page_log.page_errors.append(f"{error} ({page.url})"))

    def guard(route: Route, request: Request) -> None:
        if page_log.is_local(request.url):
            route.continue_()
        else:
            page_log.foreign_requests.append(request.url)
            route.abort("blockedbyclient")

    def open_(
        *,
        viewport: dict[str, int] | None = None,
        color_scheme: str = "light",
        javascript: bool = True,
    ) -> Page:
        context = browser.new_context(
            viewport=viewport or DESKTOP,  # type: ignore[arg-type]
            color_scheme=color_scheme,  # type: ignore[arg-type]
            java_script_enabled=javascript,
            base_url=page_log.origin,
            reduced_motion="reduce",  # steady screenshots
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        context.on("request", lambda request: page_log.requests.append(request.url))
        context.route("**/*", guard)
        context.expose_binding(
            "carrelReportCsp", lambda _source, text: page_log.csp_violations.append(text)
        )
        context.add_init_script(CSP_LISTENER)
        context.on("page", watch)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()
    assert not page_log.foreign_requests, f"requests left the server: {page_log.foreign_requests}"
    if not page_log.problems_expected:
        assert not page_log.problems(), "\n".join(page_log.problems())


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    """A desktop-sized page (1280x800), light theme, signed out."""
    return open_page()


@pytest.fixture
def tablet_page(open_page: Callable[..., Page]) -> Page:
    """A tablet-sized page (820x1180, portrait), light theme, signed out."""
    return open_page(viewport=TABLET)


def sign_in(page: Page, *, username: str, password: str = PASSWORD) -> None:
    """Sign in through the real login form and wait for the home page."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{urlsplit(page.url).scheme}://{urlsplit(page.url).netloc}/")


@pytest.fixture
def signed_in_page(page: Page, user) -> Page:
    """A desktop page signed in as the `user` fixture (ada) through the real login form."""
    sign_in(page, username=user.get_username())
    return page


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """screenshot(page, "home-light") saves test-artifacts/screenshots/home-light.png, full page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    return take
