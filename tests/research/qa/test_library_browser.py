"""A library of many documents in a real browser (Debian's Chromium through Playwright), a
real worker answering with a model of an 8K window (the fake Ollama server): a look-up
question is answered from one prompt (route "lookup" in the context map); "summarize each
paper", with no summaries stored, goes to map-reduce and first shows its cost, with its
time from the speed time the first answer took measured, and the choice to run it or not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from research.models import Project, Question
from tests.fakes.ollama_server import FakeOllama
from tests.research.qa.test_views import add_document
from workspace.runtime.select import reset_runtime_cache

pytestmark = [pytest.mark.browser, pytest.mark.worker]

PAPERS = 32
TOPICS = ("glacier", "tide", "pollen", "basalt", "lichen", "monsoon", "coral", "dune")


def paper_pages(n: int) -> list[str]:
    topic = TOPICS[n % len(TOPICS)]
    return [
        f"Paper {n} studies the {topic} record of site {n}. "
        f"Observers measured the {topic} signal at station {n}-{page} every morning.\n\n"
        f"The {topic} readings at site {n} rose by {n + page} units over the season."
        for page in (1, 2, 3)
    ] * 4  # about 600 tokens a paper: 32 papers are far past an 8K window


def library(owner) -> Project:
    """Many small ready documents, made fast (pages, chunks and the index written directly),
    with no summaries: only map-reduce reads every one of them in full."""
    project = Project.objects.create(owner=owner, title="Field library")
    for n in range(PAPERS):
        add_document(project, f"Field paper {n}", paper_pages(n), target=120)
    project.documents.update(summary="")
    return project


@pytest.fixture
def small_window_model(settings) -> Iterator[FakeOllama]:
    """The fake Ollama server as the active backend with an 8K window, for the web process
    (which only reads its facts: the cost line's speed is the active model's) and the
    worker alike. It reports 0.4 ms a prompt token and 25 ms a generated one."""
    fake = FakeOllama()
    fake.add_model(settings.OLLAMA_MODEL)
    fake.reply = "Station 7-2 was read by the morning observers."
    fake.start()
    settings.CARREL_BACKEND, settings.OLLAMA_HOST, settings.CARREL_NUM_CTX = (
        "ollama",
        fake.url,
        8192,
    )
    reset_runtime_cache()
    try:
        yield fake
    finally:
        fake.stop()
        reset_runtime_cache()


def ask(page: Page, project: Project, question: str) -> None:
    page.goto(f"/research/{project.pk}/ask/")
    page.get_by_label("Your question").fill(question)
    page.get_by_role("button", name="Ask").click()


def test_a_lookup_takes_one_prompt_and_a_whole_library_question_shows_its_cost_first(
    signed_in_page: Page, user, screenshot, celery_worker_factory, small_window_model
) -> None:
    page = signed_in_page
    project = library(user)
    celery_worker_factory(queues="model", env={"CARREL_NUM_CTX": "8192"})
    ask(page, project, "Which observers measured the tide signal at station 9-2?")
    expect(page.get_by_test_id("answer")).to_contain_text("morning observers")
    lookup = Question.objects.get()
    assert lookup.context_map["route"] == "lookup"
    assert lookup.context_map["vague_note"] == "", "tide and 9 together name one paper"
    expect(page.get_by_test_id("vague-question")).to_have_count(0)
    page.get_by_test_id("context-map-link").click()
    expect(page.get_by_test_id("route")).to_contain_text("Route: lookup")
    screenshot(page, "library-lookup-context-map")

    ask(page, project, "Summarize each paper.")
    choice = page.get_by_test_id("route-choice")
    expect(choice).to_be_visible()
    whole = Question.objects.exclude(pk=lookup.pk).get()
    assert whole.status == Question.Status.CONFIRM
    assert whole.context_map["route"] == "map_reduce"
    cost = page.get_by_test_id("plan-cost")
    expect(cost).to_contain_text(f"Reads {PAPERS} documents in")
    expect(cost).to_contain_text("at the measured speed")  # the look-up's answer, timed
    expect(page.get_by_test_id("run-map-reduce")).to_be_visible()
    expect(page.get_by_test_id("one-prompt")).to_be_visible()
    screenshot(page, "library-whole-library-cost")
    page.get_by_test_id("context-map-link").last.click()
    expect(page.get_by_test_id("route")).to_contain_text("Route: map_reduce")

    # A look-up whose words are in every paper could be about any of them: the answer says so.
    ask(page, project, "What do the readings at the site show?")
    expect(page.get_by_test_id("answer")).to_contain_text("morning observers")
    expect(page.get_by_test_id("vague-question")).to_contain_text(
        f"could be about any of the {PAPERS} documents it was asked of: its words (“readings”"
    )
    screenshot(page, "library-vague-question")
