"""Light and dark themes follow the system, text keeps its contrast, tablets get one column."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.fixtures import TABLET
from tests.browser.support import body_colours, horizontal_overflow, low_contrast_text

pytestmark = pytest.mark.browser

PAGES = {"home": "/", "status": "/status/", "styleguide": "/ui/"}


@pytest.fixture
def signed_in(open_page, user):
    """open_page(...) signed in as `user` through the login form."""
    from tests.browser.fixtures import sign_in

    def open_signed_in(**options) -> Page:
        page = open_page(**options)
        sign_in(page, username=user.get_username())
        return page

    return open_signed_in


def test_the_dark_system_setting_gives_dark_pages_with_light_text(open_page, signed_in, screenshot):
    login = open_page(color_scheme="dark")
    login.goto("/accounts/login/")
    colours = body_colours(login)
    assert colours["background"] < 0.05 < 0.6 < colours["text"], colours
    screenshot(login, "login-dark")

    page = signed_in(color_scheme="dark")
    for name, path in PAGES.items():
        page.goto(path)
        colours = body_colours(page)
        assert colours["background"] < 0.05 < 0.6 < colours["text"], (name, colours)
        screenshot(page, f"{name}-dark")


def test_the_light_system_setting_gives_light_pages_with_dark_text(signed_in, screenshot):
    page = signed_in(color_scheme="light")
    for name, path in PAGES.items():
        page.goto(path)
        colours = body_colours(page)
        assert colours["text"] < 0.05 < 0.6 < colours["background"], (name, colours)
    screenshot(page, "styleguide-light")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_on_the_style_guide_meets_aa_contrast(signed_in, scheme):
    page = signed_in(color_scheme=scheme)
    page.goto("/ui/")
    expect(page.get_by_test_id("stage-badges").locator(".badge")).to_have_count(9)

    assert low_contrast_text(page) == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_sign_in_and_status_pages_meet_aa_contrast(open_page, signed_in, scheme):
    login = open_page(color_scheme=scheme)
    login.goto("/accounts/signup/")
    login.get_by_label("Username").fill("ada")
    login.get_by_label("Password:", exact=True).fill("a long passphrase 9")
    login.get_by_label("Password confirmation").fill("a different one 9")
    login.get_by_role("button", name="Create account").click()
    expect(login.locator(".errorlist").first).to_be_visible()
    assert low_contrast_text(login) == []

    page = signed_in(color_scheme=scheme)
    page.goto("/status/")
    assert low_contrast_text(page) == []


def test_on_a_tablet_pages_fit_the_width_and_the_split_becomes_one_column(signed_in, screenshot):
    page = signed_in(viewport=TABLET)
    for name, path in PAGES.items():
        page.goto(path)
        assert horizontal_overflow(page) == 0, name
        screenshot(page, f"{name}-tablet")

    page.goto("/ui/")
    story = page.locator(".split > article").bounding_box()
    world = page.locator(".split > aside").bounding_box()
    assert story and world
    assert world["y"] >= story["y"] + story["height"]  # stacked, story first
    assert world["width"] == pytest.approx(story["width"], abs=1)


def test_on_a_laptop_the_split_shows_story_and_world_side_by_side(signed_in):
    page = signed_in()
    page.goto("/ui/")
    story = page.locator(".split > article").bounding_box()
    world = page.locator(".split > aside").bounding_box()
    assert story and world
    assert world["x"] >= story["x"] + story["width"]
    assert story["width"] > world["width"]
    assert horizontal_overflow(page) == 0
