"""Study tools in a real browser (Debian's Chromium through Playwright): review by keyboard
(Space shows the answer in place, 1-4 grade and the next card swaps in), and the timeline
drawn as SVG from Carrel's own files, with no console error, CSP violation or foreign
request along the way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from research.models import Flashcard, ReviewLog
from research.study.generators import flashcards, timelines
from tests.research.study.test_generation import document, study_project

pytestmark = [pytest.mark.browser]


def test_cards_are_reviewed_with_the_keyboard_and_each_grade_schedules_the_card(
    signed_in_page: Page, user, page_log, screenshot
) -> None:
    page = signed_in_page
    project = study_project(user)
    glacier = document(project, "Glacial erosion")
    first = flashcards.flashcard_create(
        project=project,
        kind="basic",
        front="What carves U-shaped valleys?",
        back="Glaciers.",
        document=glacier,
        pages=[1],
    )
    second = flashcards.flashcard_create(
        project=project, kind="cloze", front="Moraines are ridges of {{c1::till}}.", back=""
    )
    earlier = timezone.now() - timedelta(minutes=2)
    Flashcard.objects.filter(pk=first.pk).update(due=earlier)
    Flashcard.objects.filter(pk=second.pk).update(due=earlier + timedelta(minutes=1))

    page.goto(f"/research/{project.pk}/review/")
    expect(page.get_by_test_id("review-front")).to_have_text("What carves U-shaped valleys?")
    expect(page.get_by_test_id("review-back")).to_be_hidden()
    expect(page.get_by_test_id("tab-due")).to_have_text("2")
    page.keyboard.press(" ")  # shows the answer without loading a page
    expect(page.get_by_test_id("review-back")).to_have_text("Glaciers.")
    expect(page.get_by_test_id("grade-3")).to_be_focused()
    screenshot(page, "study-review-answer")
    pages_before = [url for url in page_log.requests if url.endswith("/review/")]

    page.keyboard.press("3")  # Good
    expect(page.get_by_test_id("review-front")).to_have_text("Moraines are ridges of [\u2026].")
    expect(page.get_by_test_id("due-now")).to_have_text("1 card due")
    expect(page.get_by_test_id("tab-due")).to_have_text("1")  # the tab follows, out of band
    log = ReviewLog.objects.get()
    assert (log.card_id, log.rating) == (first.pk, 3)
    assert log.duration_ms is not None and log.duration_ms > 0  # measured by review.js
    assert [url for url in page_log.requests if url.endswith("/review/")] == pages_before

    page.keyboard.press(" ")
    expect(page.locator("mark.cloze")).to_have_text("till")
    page.keyboard.press("1")  # Again
    expect(page.get_by_role("heading", name="Nothing to review now")).to_be_visible()
    expect(page.get_by_test_id("next-due")).to_contain_text("The next card is due in")
    assert sorted(ReviewLog.objects.values_list("rating", flat=True)) == [1, 3]
    screenshot(page, "study-review-done")


def test_the_timeline_draws_its_events_and_each_mark_leads_to_its_event(
    signed_in_page: Page, user, screenshot
) -> None:
    page = signed_in_page
    project = study_project(user)
    history = document(project, "Observatory history")
    for title, start, end in (
        ("Sky survey", timelines.When(1990), timelines.When(1995)),
        ("Observatory founded", timelines.When(1998), None),
        ("Storm damages the dome", timelines.When(2005, 6, 14), None),
    ):
        timelines.event_save(
            project=project,
            event=None,
            title=title,
            description="",
            start=start,
            end=end,
            precision="day" if start.day else "year",
            tags=[],
            document_id=history.pk,
            pages=[1],
        )
    page.goto(f"/research/{project.pk}/timeline/")
    marks = page.get_by_test_id("timeline-mark")
    expect(marks).to_have_count(3)
    box = page.locator("svg.timeline").bounding_box()
    assert box is not None and box["width"] > 600
    screenshot(page, "study-timeline")
    marks.filter(has_text="Storm damages the dome").click()
    assert page.url.endswith("#event-" + str(project.timeline_events.get(start_day=14).pk))
    event = page.locator(":target")
    expect(event).to_contain_text("14 Jun 2005")
    event.get_by_role("link", name="Observatory history, p. 1").click()
    expect(page.get_by_test_id("page-body")).to_be_visible()
