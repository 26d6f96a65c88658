"""A bulk import in a real browser (Debian's Chromium through Playwright): a .zip upload
lands on its batch page, "Cancel the rest" stops what no worker has started, and a real
worker's progress shows on the page as it polls, with no console error, CSP violation or
foreign request along the way."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from research.library import services
from research.models import Document

pytestmark = [pytest.mark.browser, pytest.mark.worker]

INGEST_TIMEOUT_MS = 60_000


def zip_file(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def notes(prefix: str, count: int) -> dict[str, bytes]:
    return {
        f"{prefix}-{n}.md": f"# {prefix} {n}\n\nField note {n} about {prefix}.".encode()
        for n in range(count)
    }


def upload(page: Page, project_id: int, path: Path) -> None:
    page.goto(f"/research/{project_id}/")
    page.wait_for_load_state("load")
    page.get_by_label("Files").set_input_files(path)
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/research/imports/*/")


def test_a_zip_lands_on_its_batch_page_where_the_rest_is_cancelled_or_followed_to_the_end(
    signed_in_page: Page, user, page_log, screenshot, celery_worker_factory, tmp_path
) -> None:
    page = signed_in_page
    project = services.project_create(owner=user, title="Field notes")

    # No worker yet: every document waits; one file of the .zip is refused at once.
    upload(page, project.pk, zip_file(tmp_path / "first.zip", notes("moss", 4) | {"e.md": b""}))
    batch = page.get_by_test_id("import-batch")
    expect(batch.get_by_test_id("count-queued")).to_have_text("4")
    expect(batch.get_by_test_id("count-failed")).to_have_text("1")
    expect(batch.get_by_test_id("batch-failure")).to_contain_text("“e.md” is empty (0 bytes).")
    screenshot(page, "batch-queued")
    batch.get_by_test_id("cancel-rest").click()
    expect(page.get_by_test_id("batch-note")).to_have_text("Cancelled 4 documents not started yet.")
    expect(page.get_by_test_id("count-cancelled")).to_have_text("4")
    expect(page.get_by_test_id("import-batch")).to_have_attribute("data-finished", "true")
    assert Document.objects.filter(stage=Document.Stage.CANCELLED).count() == 4

    # A second .zip, and a worker: the page follows it to the end without a reload.
    upload(page, project.pk, zip_file(tmp_path / "second.zip", notes("fern", 3)))
    expect(page.get_by_test_id("count-queued")).to_have_text("3")
    celery_worker_factory(concurrency=1)
    batch = page.get_by_test_id("import-batch")
    expect(batch).to_have_attribute("data-finished", "true", timeout=INGEST_TIMEOUT_MS)
    expect(batch.get_by_test_id("count-ready")).to_have_text("3")
    expect(batch.get_by_role("heading", level=2)).to_have_text("3 of 3 documents finished")
    polls = [url for url in page_log.requests if url.endswith("/progress/")]
    assert len(polls) >= 1, polls
    screenshot(page, "batch-finished")
