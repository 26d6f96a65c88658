"""Nothing leaves the machine, and pages run without console errors or CSP violations."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PAGES = ["/", "/status/", "/ui/", "/ui/?note=hello&grade=good"]


def visit_everything(page: Page) -> None:
    for path in PAGES:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        page.wait_for_function("() => window.htmx !== undefined")


def test_no_request_leaves_the_live_server(signed_in_page: Page, page_log, live_server):
    visit_everything(signed_in_page)
    # An htmx request, as the status page's poll makes every 10 seconds.
    signed_in_page.goto("/status/")
    with signed_in_page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        signed_in_page.evaluate(
            "() => htmx.ajax('GET', '/status/', {target: '#status-panel', swap: 'outerHTML'})"
        )

    server = urlsplit(live_server.url)
    assert server.hostname == "127.0.0.1"
    hosts = {urlsplit(url).netloc for url in page_log.requests}
    assert hosts == {server.netloc}, page_log.requests
    loaded = {urlsplit(url).path for url in page_log.requests}
    assert {
        "/static/css/carrel.css",
        "/static/js/carrel.js",
        "/static/vendor/htmx/htmx-2.0.11.min.js",
    } <= loaded
    assert page_log.foreign_requests == []


def test_a_request_to_another_host_is_blocked_and_reported(page: Page, page_log):
    page_log.expect_problems()  # the aborted navigation is logged by the browser
    with pytest.raises(PlaywrightError, match="ERR_BLOCKED_BY_CLIENT"):
        page.goto("http://example.com/")  # navigations are outside the CSP's reach

    assert page_log.foreign_requests == ["http://example.com/"]
    page_log.foreign_requests.clear()  # seen and handled: let the teardown check pass


def test_pages_run_without_console_errors_or_csp_violations(signed_in_page: Page, page_log):
    visit_everything(signed_in_page)
    signed_in_page.goto("/status/")
    signed_in_page.evaluate(
        "() => htmx.ajax('GET', '/status/', {target: '#status-panel', swap: 'outerHTML'})"
    )
    expect(signed_in_page.get_by_test_id("backend")).to_have_text("scripted")
    signed_in_page.wait_for_load_state("networkidle")

    assert page_log.problems() == []
    # htmx's own indicator <style> stays out of the page (CSP would refuse it).
    assert signed_in_page.locator("head style").count() == 0


def test_the_watch_catches_a_csp_violation_when_one_happens(page: Page, page_log):
    page_log.expect_problems()
    page.goto("/accounts/login/")
    page.evaluate("() => document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(200)

    assert any("style-src" in text for text in page_log.csp_violations), page_log.csp_violations


def test_a_failed_htmx_request_tells_the_person_what_to_do(signed_in_page: Page, page_log):
    signed_in_page.goto("/status/")
    signed_in_page.evaluate(
        "() => htmx.ajax('GET', '/no-such-page/', {target: '#status-panel', swap: 'outerHTML'})"
    )

    problem = signed_in_page.locator("#flash [data-htmx-problem]")
    expect(problem).to_contain_text("no longer exists (404). Reload the page")
    page_log.expect_problems()  # the browser logs the 404 itself
    assert any("404" in text for text in page_log.console_errors)
