"""Turns in a real browser: a turn told elsewhere (a worker) is polled into the page, and a
stuck turn's Retry tells it again."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from stories.turns import turn_complete, turn_submit
from tests.stories.turns.test_stuck_turns import crashed_turn

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_turn_told_by_a_worker_is_polled_into_the_story_and_the_world_pane(
    signed_in_page: Page, campaign, owner_member, script
):
    script.add("Ada counts the gulls.", [{"kind": "clock", "minutes": 15}])
    turn = turn_submit(campaign=campaign, member=owner_member, action="I count the gulls.")
    page = signed_in_page
    page.goto(campaign.get_absolute_url())
    story = page.get_by_test_id("story")
    expect(story.get_by_text("Waiting to be narrated…")).to_be_visible()
    turn_complete(turn=turn)  # what the worker does
    expect(story.get_by_text("Ada counts the gulls.")).to_be_visible(timeout=10_000)
    expect(page.locator("#world-panel").get_by_test_id("clock")).to_have_text("Day 1, 00:15")


def test_retry_on_a_stuck_turn_tells_it_again(
    signed_in_page: Page, campaign, user, script, tasks_inline
):
    script.add("Ada reaches the market at last.", [])
    crashed_turn(campaign, user)
    page = signed_in_page
    page.goto(campaign.get_absolute_url())
    expect(page.get_by_text("This turn stopped", exact=True)).to_be_visible()
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_text("Ada reaches the market at last.")).to_be_visible()
    expect(page.get_by_text("This turn stopped", exact=True)).to_have_count(0)
