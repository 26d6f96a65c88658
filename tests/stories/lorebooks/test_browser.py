"""A lorebook in a real browser: uploaded once from the settings page, previewed with a
kind to choose for each entry, then imported with the kinds chosen."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from stories.projection import load_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_lorebook_is_previewed_and_each_entry_imported_as_the_kind_chosen(
    signed_in_page: Page, campaign, tmp_path, screenshot
):
    book = tmp_path / "cave.json"
    book.write_text(
        json.dumps(
            {
                "entries": [
                    {"comment": "Hall of Mists", "content": "You are in a hall of mists."},
                    {"comment": "Plugh", "content": "A magic word."},
                    {"comment": "Plugh", "content": "Said twice."},
                ]
            }
        )
    )
    page = signed_in_page
    page.goto(f"/stories/{campaign.pk}/settings/")
    page.get_by_label("Lorebook (SillyTavern world info .json)").set_input_files(str(book))
    page.get_by_role("button", name="Preview entries").click()
    expect(page.get_by_role("heading", name="Import a lorebook")).to_be_visible()
    entries = page.get_by_test_id("lore-entries")
    expect(entries.locator("tbody tr")).to_have_count(3)
    expect(page.get_by_label("Import “Hall of Mists” as")).to_have_value("location")
    expect(entries.get_by_text("Repeats an earlier name")).to_be_visible()
    page.get_by_label("Import “Plugh” as").first.select_option("item")
    screenshot(page, "stories-lorebook-preview")
    page.get_by_role("button", name="Import entries").click()
    expect(
        page.get_by_text("Imported 3 lorebook entries (1 item, 1 location, 1 lore).")
    ).to_be_visible()
    state = load_state(campaign)
    kinds = {name: state.entities[state.find(name) or 0].kind for name in ("Plugh", "Plugh (2)")}
    assert kinds == {"Plugh": "item", "Plugh (2)": "lore"}
