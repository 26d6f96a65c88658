"""A turn in a real browser: the narration streams in over SSE, the world pane follows."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from stories.projection import load_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_turn_streams_into_the_page_and_the_world_pane_shows_what_changed(
    signed_in_page: Page,
    campaign,
    script,
    screenshot,
    tasks_inline,
):
    script.add(
        "Ada shoulders her pack and walks up the hill to the market, where Bram is waiting.",
        [
            {"kind": "move", "entity": "Ada", "to": "Market"},
            {
                "kind": "transfer",
                "item": "Gold coin",
                "quantity": 9,
                "from_holder": "Ada",
                "to_holder": "Bram",
            },
            {"kind": "clock", "minutes": 20},
        ],
    )
    page = signed_in_page
    page.goto(campaign.get_absolute_url())
    expect(page.get_by_role("heading", name="The Lost Crown")).to_be_visible()
    page.get_by_label("What do you do?").fill("I walk up to the market.")
    page.get_by_role("button", name="Send").click()

    story = page.get_by_test_id("story")
    expect(story.get_by_text("where Bram is waiting")).to_be_visible()
    changes = story.get_by_test_id("changes")
    expect(changes.get_by_text("Ada moved from Harbor to Market")).to_be_visible()
    expect(changes.get_by_text("Ada holds 5 Gold coin, so cannot give 9.")).to_be_visible()
    # The world pane refreshed after the stream ended.
    world = page.locator("#world-panel")
    expect(world.get_by_test_id("clock")).to_have_text("Day 1, 00:20")
    expect(world.locator(".changed", has_text="Ada")).to_be_visible()
    expect(page.get_by_label("What do you do?")).to_have_value("")
    screenshot(page, "stories-campaign-after-turn")
    assert (
        load_state(campaign).entities[campaign.numbers["Ada"]].location
        == campaign.numbers["Market"]
    )


def test_without_javascript_a_turn_runs_on_submit(
    open_page, user, campaign, script, live_server, tasks_inline
):
    from tests.browser.fixtures import sign_in

    script.add("Ada waits by the water.", [{"kind": "clock", "minutes": 5}])
    page = open_page(javascript=False)
    sign_in(page, username=user.get_username())
    page.goto(campaign.get_absolute_url())
    page.get_by_label("What do you do?").fill("I wait.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Ada waits by the water.")).to_be_visible()
    expect(page.get_by_test_id("clock")).to_have_text("Day 1, 00:05")


def test_every_campaign_page_opens_cleanly(signed_in_page: Page, campaign, script, screenshot):
    """No console errors, no CSP violations (checked at teardown), and a screenshot of each."""
    from stories.turns import turn_play

    script.add(
        "Bram sells Ada a lantern.",
        [
            {"kind": "create", "entity_kind": "item", "name": "Lantern"},
            {"kind": "transfer", "item": "Lantern", "to_holder": "Ada"},
            {
                "kind": "relationship",
                "source": "Bram",
                "target": "Ada",
                "relation": "trusts",
                "delta": 20,
            },
        ],
    )
    member = campaign.members.select_related("user", "campaign").get(user=campaign.owner)
    turn = turn_play(campaign=campaign, member=member, action="I buy a lantern.")
    page = signed_in_page
    pk = campaign.pk
    for path, name, heading in [
        ("/stories/", "list", "Campaigns"),
        (f"/stories/{pk}/timeline/", "timeline", "Timeline"),
        (f"/stories/{pk}/state/?turn=0", "state-at", "The world as of turn 0"),
        (f"/stories/{pk}/turns/{turn.pk}/context/", "context-map", "What went into turn 1"),
        (f"/stories/{pk}/entities/{campaign.numbers['Ada']}/", "entity", "Ada"),
        (f"/stories/{pk}/entities/{campaign.numbers['Market']}/", "place", "Market"),
        (f"/stories/{pk}/entities/{campaign.numbers['Ada']}/edit/", "entity-edit", "Edit Ada"),
        (f"/stories/{pk}/settings/", "settings", "Settings & players"),
        (f"/stories/{pk}/proposals/", "proposals", "World documents"),
        (f"/stories/{pk}/map/", "map", "The world as of turn 1"),
        ("/stories/new/", "new", "New campaign"),
    ]:
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        screenshot(page, f"stories-{name}")


def test_a_check_is_rolled_before_the_narration_and_shown_on_its_turn(
    signed_in_page: Page, campaign, script, screenshot, tasks_inline
):
    check = {"who": "Ada", "what": "pick the lock", "dice": "1d20+3", "target": 15}
    script.add("Ada bends over the lock with her pins.", [], check=check)
    page = signed_in_page
    page.goto(campaign.get_absolute_url())
    page.get_by_label("What do you do?").fill("I pick the lock.")
    page.get_by_role("button", name="Send").click()
    story = page.get_by_test_id("story")
    expect(story.get_by_text("Ada bends over the lock with her pins.")).to_be_visible()
    shown = story.get_by_test_id("turn-check")
    expect(shown).to_contain_text("Ada checks pick the lock: 1d20")
    expect(shown).to_contain_text("against 15")
    from stories.models import Event

    payload = Event.objects.get(campaign=campaign, kind="check").payload
    expect(shown).to_contain_text("Success" if payload["success"] else "Failure")
    screenshot(page, "stories-turn-with-check")
