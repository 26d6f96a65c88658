"""The table in a real browser: a roll from the page's dice form and a check in a turn, a
short fight to 0 hit points under the campaign's rule, and the map of the world."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from stories.models import Event
from stories.projection import load_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _send(page: Page, action: str, narration: str) -> None:
    """Play a turn from the page and wait for its narration and the world pane after it."""
    page.get_by_label("What do you do?").fill(action)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("story").get_by_text(narration)).to_be_visible()
    expect(page.get_by_label("What do you do?")).to_have_value("")


def test_a_check_and_a_short_fight_are_played_from_the_page(
    signed_in_page: Page, campaign, cutthroat, script, tasks_inline, screenshot
):
    page = signed_in_page
    # The owner sets the campaign's rule: a character at 0 hit points dies.
    page.goto(f"/stories/{campaign.pk}/settings/")
    page.get_by_label("A character at 0 hit points is").select_option("dead")
    page.get_by_role("button", name="Save").nth(1).click()
    expect(page.get_by_text("Table rules saved.")).to_be_visible()

    # A roll from the page's dice form, shown in the rolls panel without a reload.
    page.goto(campaign.get_absolute_url())
    rolls = page.get_by_test_id("rolls")
    rolls.get_by_label("Dice").fill("1d20+3")
    rolls.get_by_label("For").fill("climbing the wall")
    rolls.get_by_role("button", name="Roll").click()
    expect(rolls.get_by_test_id("roll")).to_have_count(1)
    roll = Event.objects.get(campaign=campaign, kind="roll")
    expect(rolls.get_by_test_id("roll").first).to_have_text(
        f"Turn 0: Ada rolled {roll.payload['detail']} for climbing the wall"
    )

    # A check the dungeon master asks for before narrating, rolled by code, shown on the turn.
    script.add(
        "Ada kneels at the tower door and works the lock.",
        [],
        check={"who": "Ada", "what": "pick the lock", "dice": "1d20+5", "target": 12},
    )
    _send(page, "I pick the lock.", "works the lock")
    check = Event.objects.get(campaign=campaign, kind="check")
    shown = page.get_by_test_id("turn-check").last
    expect(shown).to_contain_text(f"Ada checks pick the lock: {check.payload['detail']}")
    expect(shown).to_contain_text("against 12")
    expect(shown).to_contain_text("Success" if check.payload["success"] else "Failure")

    # A fight: initiative, damage to 0 hit points (dead, by the rule), the next turn, the end.
    script.add(
        "A cutthroat steps out of the fog, knife drawn.",
        [{"kind": "encounter", "action": "start", "participants": ["Ada", "Cutthroat"]}],
    )
    _send(page, "I draw my sword.", "knife drawn")
    encounter = page.get_by_test_id("encounter")
    expect(encounter.get_by_role("heading")).to_have_text("Encounter: round 1")
    expect(encounter.locator(f'[data-combatant="{cutthroat}"]')).to_contain_text("3")

    script.add(
        "Ada's blade finds the cutthroat's arm.",
        [
            {"kind": "damage", "entity": "Cutthroat", "amount": 2},
            {"kind": "condition", "entity": "Cutthroat", "add": ["bleeding"]},
        ],
    )
    _send(page, "I strike.", "finds the cutthroat's arm")
    row = encounter.locator(f'[data-combatant="{cutthroat}"]')
    expect(row.locator("td").nth(1)).to_have_text("1")
    expect(row.locator("td").nth(2)).to_have_text("bleeding")

    script.add(
        "The cutthroat falls and does not rise.",
        [
            {"kind": "damage", "entity": "Cutthroat", "amount": 5, "cause": "a sword"},
            {"kind": "encounter", "action": "next"},
        ],
    )
    _send(page, "I strike again.", "does not rise")
    expect(row).to_contain_text("(dead)")
    expect(row.locator("td").nth(1)).to_have_text("0")
    expect(encounter.locator("[aria-current=true]")).to_contain_text("Ada")
    screenshot(page, "stories-table-fight")

    script.add("The harbor is quiet again.", [{"kind": "encounter", "action": "end"}])
    _send(page, "I wipe my blade.", "quiet again")
    expect(page.get_by_test_id("encounter")).to_have_count(0)
    expect(page.get_by_test_id("changes").last).to_contain_text("The encounter ended after")
    state = load_state(campaign)
    assert state.encounter is None
    assert state.entities[cutthroat].status == "dead" and state.entities[cutthroat].stats["hp"] == 0


def test_the_map_of_the_world_shows_places_as_a_picture_and_a_table(
    signed_in_page: Page, campaign, tmp_path
):
    page = signed_in_page
    page.goto(f"/stories/{campaign.pk}/map/")
    svg = page.get_by_test_id("places-map")
    expect(svg).to_be_visible()
    for place in ("Harbor", "Market", "Tower"):
        expect(svg.locator(f'[data-place="{place}"] circle')).to_be_visible()
    expect(svg.locator("line.map-path")).to_have_count(2)
    table = page.get_by_test_id("places-table")
    expect(table.get_by_role("row")).to_have_count(4)  # a header and the three places
    harbor = table.locator("tbody tr").filter(
        has=page.get_by_role("rowheader", name="Harbor", exact=True)
    )
    expect(harbor).to_contain_text("Ada (character)")
    shot = tmp_path / "world-map.png"
    page.screenshot(path=str(shot), full_page=True, animations="disabled")
    assert shot.stat().st_size > 1000
