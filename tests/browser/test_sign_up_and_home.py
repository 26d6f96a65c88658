"""The first visit: sign up through the real form, land on the home page, start something."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from research.models import Document, Project

pytestmark = pytest.mark.browser


def test_the_first_person_signs_up_through_the_form_and_lands_on_an_empty_home(
    page: Page, live_server, screenshot
):
    page.goto("/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    expect(page.get_by_role("heading", name="Sign in to Carrel")).to_be_visible()
    screenshot(page, "login-light")

    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password:", exact=True).fill("a long passphrase 9")
    page.get_by_label("Password confirmation").fill("a long passphrase 9")
    screenshot(page, "signup-light")
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_role("heading", name="Your workspace")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/")
    projects = page.get_by_test_id("projects")
    expect(projects.get_by_text("No research projects yet")).to_be_visible()
    start_project = projects.get_by_role("link", name="Start a research project")
    expect(start_project).to_have_attribute("href", "/research/new/")
    campaigns = page.get_by_test_id("campaigns")
    expect(campaigns.get_by_text("No campaigns yet")).to_be_visible()
    expect(campaigns.get_by_role("link", name="Start a campaign")).to_be_visible()
    # The first account administers the machine, so the header offers the admin.
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Admin")).to_be_visible()
    assert User.objects.get(username="ada").is_superuser
    screenshot(page, "home-empty-light")


def test_a_signup_with_mismatched_passwords_explains_what_to_fix(page: Page, screenshot):
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password:", exact=True).fill("a long passphrase 9")
    page.get_by_label("Password confirmation").fill("a different one 9")
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_text("The two password fields didn\u2019t match.")).to_be_visible()
    confirmation = page.get_by_label("Password confirmation")
    expect(confirmation).to_have_attribute("aria-invalid", "true")
    screenshot(page, "signup-error-light")
    assert not User.objects.exists()


def test_the_home_page_shows_each_projects_documents_and_what_needs_attention(
    signed_in_page: Page, user, screenshot
):
    thesis = Project.objects.create(owner=user, title="Thesis: attention in transformers")
    stages = [Document.Stage.READY, Document.Stage.READY, Document.Stage.EXTRACTING]
    for number, stage in enumerate([*stages, Document.Stage.FAILED]):
        Document.objects.create(
            project=thesis,
            title=f"Paper {number}",
            original_name=f"paper{number}.pdf",
            file_type=Document.FileType.PDF,
            content_hash=f"hash{number}",
            stage=stage,
        )
    Project.objects.create(owner=user, title="Reading group")
    Project.objects.create(owner=user, title="A campaign's world", kind=Project.Kind.WORLD)

    signed_in_page.goto("/")

    cards = signed_in_page.get_by_test_id("projects").get_by_role("listitem")
    expect(cards).to_have_count(2)  # world documents belong to campaigns, not here
    thesis_card = cards.filter(has_text="Thesis")
    expect(thesis_card).to_contain_text("4 documents")
    expect(thesis_card).to_contain_text("1 ingesting")
    expect(thesis_card).to_contain_text("1 needs attention")
    expect(cards.filter(has_text="Reading group")).to_contain_text("no sources yet")
    expect(signed_in_page.get_by_role("link", name="New research project")).to_be_visible()
    screenshot(signed_in_page, "home-projects-light")


def test_the_status_page_shows_the_backend_and_services(signed_in_page: Page, screenshot):
    signed_in_page.get_by_role("navigation", name="Main").get_by_role("link", name="Status").click()

    expect(signed_in_page.get_by_role("heading", name="Status", exact=True)).to_be_visible()
    expect(signed_in_page.get_by_test_id("backend")).to_have_text("scripted")
    expect(signed_in_page.get_by_test_id("ollama-reachable")).to_have_text("no")
    expect(signed_in_page.get_by_test_id("redis")).to_have_text("up")
    expect(signed_in_page.get_by_test_id("workers")).to_contain_text("down")
    screenshot(signed_in_page, "status-light")


def test_pages_can_be_read_and_forms_used_without_javascript(open_page, user):
    page = open_page(javascript=False)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill("correct horse 42")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Your workspace")).to_be_visible()
    page.get_by_role("link", name="Status").click()
    expect(page.get_by_test_id("backend")).to_have_text("scripted")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Carrel")).to_be_visible()
