# ruff: noqa: F811  (pytest fixtures imported from tests/browser share names with arguments)
"""Research Q&A in a real browser (Debian's Chromium through Playwright): the answer streams
into the page over SSE, citations open the cited page, a follow-up streams under it, and
no console error, CSP violation or foreign request happens along the way."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from research.models import Question
from tests.browser.conftest import (  # noqa: F401 (fixtures)
    browser,
    open_page,
    page,
    page_log,
    playwright_session,
    screenshot,
    signed_in_page,
)
from tests.research.qa.test_views import make_project
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime

pytestmark = [pytest.mark.browser]


def test_an_answer_streams_in_cites_its_page_and_a_follow_up_streams_below(
    signed_in_page: Page, user, screenshot
) -> None:
    page = signed_in_page
    project = make_project(user)
    with use_runtime(ScriptedRuntime.echo()):
        page.goto(f"/research/{project.pk}/ask/")
        page.get_by_label("Your question").fill("How do glaciers carve valleys?")
        screenshot(page, "qa-ask")
        page.get_by_role("button", name="Ask").click()

        answer = page.get_by_test_id("answer")
        expect(answer).to_contain_text("Scripted answer to: How do glaciers carve valleys?")
        expect(page.get_by_test_id("answer-stream")).to_have_count(0)
        question = Question.objects.get()
        assert question.status == Question.Status.DONE
        cite = answer.get_by_role("link", name="[Glacial erosion, p. 1]")
        expect(cite).to_be_visible()
        screenshot(page, "qa-answer")

        page.get_by_label("Your question").fill("And what feeds braided rivers?")
        page.get_by_role("button", name="Ask a follow-up").click()
        expect(page.get_by_test_id("answer")).to_have_count(2)
        expect(page.get_by_test_id("answer").nth(1)).to_contain_text("braided rivers")
        expect(page.get_by_label("Your question")).to_have_value("")

        page.get_by_test_id("context-map-link").first.click()
        expect(page.get_by_role("heading", name="What the model saw")).to_be_visible()
        expect(page.get_by_test_id("entries")).to_contain_text("Bee behaviour")
        screenshot(page, "qa-context-map")
        page.go_back()
        page.get_by_role("link", name="[Glacial erosion, p. 1]").first.click()
        expect(page.locator("mark.cited").first).to_be_visible()
