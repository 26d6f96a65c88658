# ruff: noqa: F811  (pytest fixtures imported from tests/browser share names with arguments)
"""Research Q&A in a real browser (Debian's Chromium through Playwright): a real worker
answers, the answer streams into the page over SSE, citations open the cited page, a
follow-up streams under it, a running answer is cancelled and retried, and no console
error, CSP violation or foreign request happens along the way."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from research.models import Question
from tests.fakes.ollama_server import FakeOllama
from tests.research.qa.test_views import make_project
from tests.research.qa.test_worker import NoModelHere, slow_model  # noqa: F401
from workspace.runtime import use_runtime

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_an_answer_streams_in_cites_its_page_and_a_follow_up_streams_below(
    signed_in_page: Page, user, screenshot, celery_worker_factory
) -> None:
    page = signed_in_page
    project = make_project(user)
    celery_worker_factory(queues="model")  # CARREL_BACKEND=scripted: echoes the question
    with use_runtime(NoModelHere()):
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


def test_a_running_answer_is_cancelled_from_the_page_and_retried(
    signed_in_page: Page, user, screenshot, celery_worker_factory, slow_model: FakeOllama
) -> None:
    page = signed_in_page
    project = make_project(user)
    celery_worker_factory(
        queues="model", env={"CARREL_BACKEND": "ollama", "OLLAMA_HOST": slow_model.url}
    )
    page.goto(f"/research/{project.pk}/ask/")
    page.wait_for_load_state("load")
    page.get_by_label("Your question").fill("How do glaciers carve valleys?")
    page.get_by_role("button", name="Ask").click()

    stream = page.get_by_test_id("answer-stream")
    expect(stream).to_contain_text("word3")  # tokens arrive while the model writes
    screenshot(page, "qa-writing")
    page.get_by_test_id("cancel").click()
    error = page.get_by_test_id("question-error")
    expect(error).to_contain_text("You cancelled this question")
    expect(page.get_by_test_id("answer-stream")).to_have_count(0)
    screenshot(page, "qa-cancelled")
    question = Question.objects.get()
    assert question.error_code == Question.ErrorCode.CANCELLED

    slow_model.reply, slow_model.chunk_delay = "Ice grinds the bedrock.", 0.0
    page.get_by_test_id("retry").click()
    expect(page.get_by_test_id("answer")).to_contain_text("Ice grinds the bedrock.")
    question.refresh_from_db()
    assert (question.status, question.attempt) == (Question.Status.DONE, 2)
