"""A document's citation key copied in a real browser (Debian's Chromium through
Playwright), with no console error or CSP violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from research.models import Document, Project

pytestmark = [pytest.mark.browser]


def test_the_copy_button_copies_the_citation_key(signed_in_page: Page, user, page_log) -> None:
    page = signed_in_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    project = Project.objects.create(owner=user, title="Engines")
    document = Document.objects.create(
        project=project,
        title="Sketch of the Analytical Engine",
        original_name="sketch.pdf",
        file_type=Document.FileType.PDF,
        content_hash="0" * 64,
        stage=Document.Stage.READY,
        authors=["Ada Lovelace"],
        year=1843,
    )
    page.goto(f"/research/documents/{document.pk}/")
    button = page.locator("button[data-copy]")
    expect(button).to_have_text("Copy")
    expect(button).to_be_visible()  # shown only with JavaScript
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == "lovelace1843sketch"
