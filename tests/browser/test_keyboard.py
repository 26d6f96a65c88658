"""Keyboard use: Tab order with a visible focus ring, Ctrl+Enter to send, keys to review."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import FocusRing, focused_ring

pytestmark = pytest.mark.browser


def tab_through(page: Page, presses: int) -> list[FocusRing]:
    """Press Tab up to `presses` times, stopping when focus leaves the page's controls."""
    rings = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        ring = focused_ring(page)
        if ring.element.startswith("body "):
            break
        rings.append(ring)
    return rings


def test_tab_reaches_the_main_controls_of_the_home_page_with_a_visible_ring(
    signed_in_page: Page,
):
    rings = tab_through(signed_in_page, 12)

    reached = [ring.element for ring in rings]
    assert reached[0] == 'a "Skip to content"'
    for control in (
        'a "Home"',
        'a "Status"',
        'button "Sign out"',
        'a "Start a research project"',
        'a "Start a campaign"',
    ):
        assert control in reached, reached
    for ring in rings:
        assert ring.outline_style == "solid", ring
        assert ring.outline_width >= 2, ring
        assert ring.contrast_with_background >= 3, ring
        assert ring.in_viewport, ring


def test_the_skip_link_moves_focus_to_the_content(signed_in_page: Page):
    signed_in_page.keyboard.press("Tab")
    signed_in_page.keyboard.press("Enter")
    signed_in_page.keyboard.press("Tab")

    assert focused_ring(signed_in_page).element == 'a "Start a research project"'


def test_tab_reaches_every_sign_in_control_with_a_visible_ring(page: Page):
    page.goto("/accounts/login/")
    first = focused_ring(page)  # the username field has autofocus
    rings = [first, *tab_through(page, 3)]

    reached = [ring.element for ring in rings]
    for control in (
        'input "username"',
        'input "password"',
        'button "Sign in"',
        'a "Create an account"',
    ):
        assert control in reached, reached
    assert all(ring.outline_style == "solid" and ring.outline_width >= 2 for ring in rings), rings


def test_ctrl_enter_in_a_textarea_submits_its_form(signed_in_page: Page, live_server):
    signed_in_page.goto("/ui/")
    note = signed_in_page.get_by_label("Note:", exact=True)
    note.fill("Compare the two methods")
    note.press("Control+Enter")

    expect(signed_in_page.get_by_test_id("note-sent")).to_have_text(
        "You sent: Compare the two methods"
    )
    assert "note=Compare+the+two+methods" in signed_in_page.url


def test_plain_enter_in_a_textarea_still_starts_a_new_line(signed_in_page: Page):
    signed_in_page.goto("/ui/")
    note = signed_in_page.get_by_label("Note:", exact=True)
    note.fill("first line")
    note.press("Enter")
    note.type("second line")

    expect(note).to_have_value("first line\nsecond line")
    expect(signed_in_page.get_by_test_id("note-sent")).to_have_count(0)


def test_review_buttons_answer_to_their_keys_but_not_while_typing(signed_in_page: Page):
    signed_in_page.goto("/ui/")
    note = signed_in_page.get_by_label("Note:", exact=True)
    note.press("3")  # typing a 3 into a textarea is just typing
    expect(note).to_have_value("3")
    expect(signed_in_page.get_by_test_id("graded")).to_have_count(0)

    note.blur()
    signed_in_page.keyboard.press("3")
    expect(signed_in_page.get_by_test_id("graded")).to_have_text("You graded: good")
