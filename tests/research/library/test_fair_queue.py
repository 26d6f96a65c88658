"""A fair queue: one user's 600-page upload does not starve another user's question.

Real `celery worker` processes laid out as `manage.py runcarrel` starts them (a main worker
on every queue, questions first, and a small one for questions only), a real Redis, and the
scripted model. Ada's upload queues 30 page ranges on "ingest" and then about a thousand
chunk summaries on "batch"; Grace's questions, asked meanwhile, go to "model" and must be
answered while Ada's work is still queued, not after it.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from pypdf import PdfWriter

from research.library import services
from research.models import Chunk, Document, Question
from tests.research.ingest_support import file_of
from tests.research.qa.test_views import make_project
from workspace.management.commands.runcarrel import INTERACTIVE_QUEUES, MAIN_QUEUES

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

Stage = Document.Stage


def wait_for(
    condition: Callable[[], bool], *, timeout: float, what: str, workers: Sequence[Any] = ()
) -> None:
    """Poll until `condition` holds; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    logs = "\n".join(f"--- {w.name}\n{w.log.read_text(errors='replace')[-3000:]}" for w in workers)
    pytest.fail(f"Timed out after {timeout} s waiting for {what}\n{logs}")


def six_hundred_pages(shared_data) -> bytes:
    """A real 600-page PDF: the 117-page GeoTopo thesis five times, and 15 pages more."""
    source = str(shared_data / "papers" / "GeoTopo-komprimiert.pdf")
    writer = PdfWriter()
    for _ in range(5):
        writer.append(source)
    writer.append(source, pages=(0, 15))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_questions_are_answered_while_another_users_600_page_upload_is_still_queued(
    celery_worker_factory, client, django_user_model, shared_data
):
    ada = django_user_model.objects.create_user(username="ada", password="correct horse 42")
    grace = django_user_model.objects.create_user(username="grace", password="correct horse 43")
    grace_project = make_project(grace)
    client.force_login(grace)
    main = celery_worker_factory(concurrency=2, queues=MAIN_QUEUES)
    interactive = celery_worker_factory(concurrency=1, queues=INTERACTIVE_QUEUES)
    workers = [main, interactive]

    library = services.project_create(owner=ada, title="Theses")
    (outcome,) = services.document_upload(
        project=library,
        uploaded_by=ada,
        files=[file_of("long.pdf", six_hundred_pages(shared_data))],
    )
    big = outcome.document
    assert big is not None

    def ask(text: str) -> Question:
        response = client.post(
            f"/research/{grace_project.pk}/ask/", {"question": text, "scope": "all"}
        )
        assert response.status_code == 302
        question = Question.objects.get(text=text)
        wait_for(
            lambda: Question.objects.get(pk=question.pk).status == Question.Status.DONE,
            timeout=60,
            what=f"the answer to {text!r}",
            workers=workers,
        )
        return Question.objects.select_related("answer").get(pk=question.pk)

    # 1. While Ada's page ranges fill the ingest queue.
    wait_for(
        lambda: Document.objects.get(pk=big.pk).stage == Stage.EXTRACTING,
        timeout=60,
        what="the extraction to start",
        workers=workers,
    )
    during_extraction = ask("How do glaciers carve valleys?")
    big.refresh_from_db()
    assert big.stage == Stage.EXTRACTING, "the answer came only after the extraction"

    # 2. While about a thousand of her chunk summaries wait on the batch queue.
    def summarizing_with_a_backlog() -> bool:
        """Every chunk summary is queued: the step that sends them has let go of the
        document (it does so once they are all in the broker), and the first are written."""
        document = Document.objects.get(pk=big.pk)
        return (
            document.stage == Stage.SUMMARIZING
            and document.worker == ""
            and Chunk.objects.filter(document=big).exclude(summary="").exists()
        )

    wait_for(summarizing_with_a_backlog, timeout=240, what="the summaries", workers=workers)
    backlog_when_asked = Chunk.objects.filter(document=big, summary="").count()
    assert backlog_when_asked > 500
    during_summaries = ask("What does the waggle dance tell?")
    backlog_when_answered = Chunk.objects.filter(document=big, summary="").count()
    assert backlog_when_answered > 0, "the answer waited for all of Ada's summaries"

    # Ada's upload is not harmed: it finishes, and after both answers.
    wait_for(
        lambda: Document.objects.get(pk=big.pk).stage in Document.FINISHED_STAGES,
        timeout=600,
        what="Ada's document",
        workers=workers,
    )
    big.refresh_from_db()
    assert big.stage == Stage.READY, big.error
    assert big.page_count == 600 and big.finished_at is not None
    assert during_extraction.answer.created_at < during_summaries.answer.created_at
    assert during_summaries.answer.created_at < big.finished_at
    assert not Chunk.objects.filter(document=big, summary="").exists()
