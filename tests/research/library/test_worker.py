"""The pipeline on real Celery worker processes and a real Redis: a crash (kill -9) mid-run,
a dead model server, and an ordinary mixed upload."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import redis
from django.conf import settings

from research.library import services
from research.models import Chunk, Document, ExtractionPart, Page
from tests.fakes.ollama_server import FakeOllama, _Handler, _Server
from tests.research.ingest_support import (
    blank_pdf,
    by_name,
    file_from,
    file_of,
    indexed_rows,
    repeated_pdf,
)
from workspace.broker_recovery import held_task_ids, lost_messages_restore
from workspace.chunking import PageText, chunk_pages

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

Stage = Document.Stage
QUEUES = "model,carrel,ingest,batch"


def wait_for(
    condition: Callable[[], bool], *, timeout: float, what: str, workers: Sequence[Any] = ()
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"Timed out after {timeout} s waiting for {what}\n{worker_logs(workers)}")


def worker_logs(workers: Sequence[Any]) -> str:
    """The end of each worker's log, minus routine lines, for a failure message."""
    out = []
    for worker in workers:
        lines = [
            line
            for line in worker.log.read_text(errors="replace").splitlines()
            if " received" not in line and " succeeded in " not in line
        ]
        out.append(f"--- {worker.name}\n" + "\n".join(lines[-40:]))
    return "\n".join(out)


def finished(*documents: Document) -> Callable[[], bool]:
    ids = [d.pk for d in documents]
    return lambda: (
        not Document.objects.filter(pk__in=ids).exclude(stage__in=Document.FINISHED_STAGES).exists()
    )


@pytest.fixture
def project(django_user_model):
    owner = django_user_model.objects.create_user(username="ada", password="correct horse 42")
    return owner, services.project_create(owner=owner, title="Worker run")


def test_a_real_worker_ingests_an_upload_and_refuses_its_bad_files(
    celery_worker_factory, project, shared_data
):
    owner, project = project
    worker = celery_worker_factory(concurrency=2, queues=QUEUES)
    services.document_upload(
        project=project,
        uploaded_by=owner,
        files=[
            file_from(shared_data / "papers" / "pdflatex-4-pages.pdf"),
            file_from(shared_data / "papers" / "multicolumn.pdf"),
            file_from(shared_data / "pdfs-bad" / "empty.pdf"),
            file_from(shared_data / "pdfs-bad" / "encrypted-r6-user-asdfzxcv.pdf"),
            file_of("scan.pdf", blank_pdf(pages=1)),
            file_of("notes.md", b"# Notes\n\nThe Elbe floods every spring.\n"),
        ],
    )
    documents = by_name(project)
    wait_for(
        finished(*documents.values()), timeout=120, what="the upload to finish", workers=[worker]
    )
    documents = by_name(project)
    for name in ("pdflatex-4-pages.pdf", "multicolumn.pdf", "notes.md"):
        assert documents[name].stage == Stage.READY, (name, documents[name].error)
        assert documents[name].summary
        assert indexed_rows(documents[name]) == documents[name].chunk_count > 0
    assert documents["empty.pdf"].error_code == Document.ErrorCode.EMPTY
    assert documents["scan.pdf"].error_code == Document.ErrorCode.NO_TEXT
    locked = documents["encrypted-r6-user-asdfzxcv.pdf"]
    assert locked.stage == Stage.NEEDS_PASSWORD
    services.document_submit_password(document=locked, password="asdfzxcv")
    wait_for(finished(locked), timeout=60, what="the unlocked PDF", workers=[worker])
    locked.refresh_from_db()
    assert locked.stage == Stage.READY and locked.pdf_password == ""


def test_a_worker_killed_mid_extraction_leaves_a_document_the_next_worker_finishes(
    celery_worker_factory, project, shared_data
):
    owner, project = project
    first = celery_worker_factory(concurrency=1, queues=QUEUES)
    long_pdf = repeated_pdf(shared_data / "papers" / "GeoTopo-komprimiert.pdf", times=3)
    (outcome,) = services.document_upload(
        project=project, uploaded_by=owner, files=[file_of("long.pdf", long_pdf)]
    )
    document = outcome.document
    assert document is not None

    def some_ranges_done() -> bool:
        return (
            ExtractionPart.objects.filter(
                document=document, status=ExtractionPart.Status.DONE
            ).count()
            >= 2
        )

    wait_for(some_ranges_done, timeout=120, what="two page ranges", workers=[first])
    document.refresh_from_db()
    assert document.stage == Stage.EXTRACTING  # still mid-way when the worker dies
    first.kill9()
    killed_at = Document.objects.get(pk=document.pk)

    second = celery_worker_factory(concurrency=1, queues=QUEUES)
    wait_for(finished(document), timeout=240, what="the resumed document", workers=[second])
    document.refresh_from_db()
    assert document.stage == Stage.READY, (document.error, worker_logs([first, second]))
    # Resumed at most once: under a new attempt when the kill caught a range running, or by
    # the messages the dead worker held when it caught the worker between two ranges.
    assert document.attempt - killed_at.attempt in (0, 1)
    workers = set(ExtractionPart.objects.filter(document=document).values_list("worker", flat=True))
    assert any(w.startswith(first.name) for w in workers)  # ranges done before the kill stay
    assert any(w.startswith(second.name) for w in workers)  # the rest were done by the second

    pages = list(Page.objects.filter(document=document).order_by("number"))
    assert [page.number for page in pages] == list(range(1, 352))
    chunks = list(Chunk.objects.filter(document=document).order_by("ordinal"))
    expected = chunk_pages([PageText(page.number, page.text) for page in pages])
    assert [(c.text, c.page_start, c.page_end) for c in chunks] == [
        (d.text, d.page_start, d.page_end) for d in expected
    ]  # no duplicated or missing chunks
    assert document.chunk_count == len(chunks) == indexed_rows(document)
    assert all(chunk.summary for chunk in chunks) and document.summary


# A consumer that takes one message as a worker with acks_late does, says which task it is,
# and waits to be killed: what a worker killed between receiving a task and starting it leaves.
TAKE_AND_HOLD = """
import sys, time
from kombu import Connection
with Connection(sys.argv[1]) as connection:
    channel = connection.default_channel
    deadline = time.monotonic() + 30
    message = None
    while message is None and time.monotonic() < deadline:
        message = channel.basic_get(queue=sys.argv[2], no_ack=False)
        time.sleep(0.05)
    print(message.headers["task"] if message else "nothing", flush=True)
    time.sleep(600)
"""


def test_a_task_a_killed_worker_had_received_but_not_started_runs_on_the_next_worker(
    celery_worker_factory, project, shared_data
):
    """Nothing in the database shows such a task: only Redis holds its message, as delivered,
    until the hour-long visibility timeout. A starting worker puts it back at once."""
    owner, project = project
    (outcome,) = services.document_upload(
        project=project,
        uploaded_by=owner,
        files=[file_from(shared_data / "papers" / "pdflatex-4-pages.pdf")],
    )
    document = outcome.document
    assert document is not None
    attempt_at_upload = document.attempt
    holder = subprocess.Popen(
        [sys.executable, "-c", TAKE_AND_HOLD, settings.CELERY_BROKER_URL, "ingest"],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().decode().strip() == "research.tasks.ingest_document"
    finally:
        holder.kill()  # SIGKILL: no chance to give the message back
        holder.wait(timeout=10)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert broker.hlen("unacked") == 1
    time.sleep(1.1)  # what is put back was delivered at least a second before

    worker = celery_worker_factory(concurrency=1, queues=QUEUES)
    wait_for(finished(document), timeout=90, what="the held ingestion", workers=[worker])
    document.refresh_from_db()
    assert document.stage == Stage.READY, (document.error, worker_logs([worker]))
    assert document.attempt == attempt_at_upload  # the held message ran; nothing restarted
    assert document.page_count == 4 and document.summary


def _fake_ollama_on(port: int) -> FakeOllama:
    """The shared fake Ollama, on a port chosen before it started (the worker knows it)."""
    fake = FakeOllama()
    fake.add_model(settings.OLLAMA_MODEL)
    server = _Server(("127.0.0.1", port), _Handler)
    server.fake = fake
    fake._server = server
    fake._thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    fake._thread.start()
    return fake


def test_a_dead_model_server_leaves_the_summary_waiting_then_it_finishes_when_it_returns(
    celery_worker_factory, project, shared_data
):
    owner, project = project
    # A bound socket that does not listen: connecting is refused, like a stopped Ollama, and
    # no other process can take the port before the fake model server starts on it.
    reservation = socket.socket()
    reservation.bind(("127.0.0.1", 0))
    port = reservation.getsockname()[1]
    worker = celery_worker_factory(
        concurrency=2,
        queues=QUEUES,
        env={"CARREL_BACKEND": "ollama", "OLLAMA_HOST": f"http://127.0.0.1:{port}"},
    )
    (outcome,) = services.document_upload(
        project=project,
        uploaded_by=owner,
        files=[file_from(shared_data / "papers" / "pdflatex-outline.pdf")],
    )
    document = outcome.document
    assert document is not None

    def waiting() -> bool:
        document.refresh_from_db()
        return document.summary_status == Document.SummaryStatus.WAITING

    wait_for(waiting, timeout=60, what="the summary to wait for the model", workers=[worker])
    assert document.stage == Stage.SUMMARIZING
    assert document.indexed_at is not None and document.page_count == 4
    assert indexed_rows(document) == document.chunk_count > 0
    assert "Waiting for the model" in document.status_message
    assert "Retry 1 of 8 in 10 s" in document.status_message
    assert document.summary_retry_at is not None

    # The retry waits out its countdown in the live worker, its message held as delivered:
    # the check for messages of dead workers must leave it alone.
    time.sleep(1.5)
    from workspace.celery import app

    live = {name for reply in app.control.ping(timeout=1) or [] for name in reply}
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    unacked = {json.loads(raw)[0]["headers"]["id"] for raw in broker.hvals("unacked")}
    held = held_task_ids(app=app, workers=live)
    assert unacked and held is not None and unacked <= held
    assert lost_messages_restore(app=app, live_workers=live) == 0
    assert held_task_ids(app=app, workers=live | {"gone@nowhere"}) is None

    reservation.close()
    fake = _fake_ollama_on(port)
    try:
        wait_for(
            finished(document),
            timeout=90,
            what="the summary after the model returned",
            workers=[worker],
        )
    finally:
        fake.stop()
    document.refresh_from_db()
    assert document.stage == Stage.READY, (document.error, worker_logs([worker]))
    assert document.summary == "The answer, as scripted."
    assert document.summary_retry_at is None
    assert len(fake.chat_requests()) == document.chunk_count + 1  # each chunk once, then reduce
