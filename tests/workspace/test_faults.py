"""Faults with real processes: Redis restarted under a running worker, PostgreSQL dropping
the worker's connections mid-task, and a model server that hangs, is dead or answers
garbage. No job and no stored data may be lost: work resumes, or fails with a message a
person can act on, and the pages keep answering meanwhile. (A worker killed with kill -9
is in tests/research/library/test_worker.py.)

Redis here is a private redis-server on a free port, never the shared one: it is stopped
and started again under the worker. The model server is tests/fakes/ollama_server.py.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from kombu import pools as kombu_pools

from research.library import services
from research.models import Chunk, Document, ExtractionPart, Page, Question
from tests.fakes.ollama_server import FakeOllama
from tests.research.ingest_support import file_from, file_of, indexed_rows, repeated_pdf
from tests.research.qa.test_views import make_project
from workspace.celery import app
from workspace.chunking import PageText, chunk_pages
from workspace.local_redis import free_port, redis_answers, redis_server_binary

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

Stage = Document.Stage
ALL_QUEUES = "model,carrel,ingest,batch"


def wait_for(
    condition: Callable[[], bool], *, timeout: float, what: str, workers: Sequence[Any] = ()
) -> None:
    """Poll until `condition` holds; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    logs = "\n".join(f"--- {w.name}\n{w.log.read_text(errors='replace')[-6000:]}" for w in workers)
    documents = "\n".join(
        f"{d['id']} {d['stage']} attempt={d['attempt']} {d['status_message']!r} {d['error']!r}"
        for d in Document.objects.values("id", "stage", "attempt", "status_message", "error")
    )
    pytest.fail(f"Timed out after {timeout} s waiting for {what}\n{documents}\n{logs}")


def finished(document: Document) -> Callable[[], bool]:
    return lambda: Document.objects.get(pk=document.pk).stage in Document.FINISHED_STAGES


def assert_complete(document: Document, pages: int) -> None:
    """Every page once, the chunks exactly what the pages make, all indexed and summarized."""
    document.refresh_from_db()
    assert document.stage == Stage.READY, document.error
    numbers = list(Page.objects.filter(document=document).values_list("number", flat=True))
    assert sorted(numbers) == list(range(1, pages + 1))
    ordered = Page.objects.filter(document=document).order_by("number")
    expected = chunk_pages([PageText(p.number, p.text) for p in ordered])
    chunks = list(Chunk.objects.filter(document=document).order_by("ordinal"))
    assert [(c.text, c.page_start, c.page_end) for c in chunks] == [
        (d.text, d.page_start, d.page_end) for d in expected
    ]
    assert document.chunk_count == len(chunks) == indexed_rows(document)
    assert all(chunk.summary for chunk in chunks) and document.summary


@pytest.fixture
def project(user):
    return services.project_create(owner=user, title="Under faults")


# -- Redis ---------------------------------------------------------------------------------


@dataclass
class RestartableRedis:
    """A redis-server of our own that keeps its data on disk (append-only file, fsync on
    every write), as docs/deploy.md asks of a lab server's Redis, so it can be restarted."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = redis_server_binary()
        if binary is None:
            pytest.skip("no redis-server binary")
        self.process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.workdir), "--save", ""),
                *("--appendonly", "yes", "--appendfsync", "always"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not redis_answers(self.url):
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"the private redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # a clean shutdown; the append-only file is complete
            self.process.wait(timeout=10)


def _use_broker(url: str) -> None:
    """Point this process's Celery app (sending tasks, pinging workers) at `url`: new
    settings, and the cached connection pools and result backend dropped."""
    celery: Any = app
    kombu_pools.reset()  # closes every pooled connection and forgets the pools
    celery.conf.update(broker_url=url, result_backend=url)
    celery._pool = None
    celery.amqp._producer_pool = None
    celery._local.__dict__.pop("backend", None)
    celery._backend_cache = None


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RestartableRedis]:
    """A private Redis that this process and its workers use for the test."""
    redis = RestartableRedis(port=free_port(), workdir=tmp_path / "redis")
    redis.workdir.mkdir()
    redis.start()
    saved = app.conf.broker_url, app.conf.result_backend
    _use_broker(redis.url)
    try:
        yield redis
    finally:
        if redis.process is None or redis.process.poll() is not None:
            redis.start()  # so that the worker fixture's teardown can purge it
        _use_broker(saved[0])
        app.conf.update(result_backend=saved[1])
        redis.stop()


def test_redis_restarted_mid_ingestion_loses_no_document_and_no_page(
    private_redis, celery_worker_factory, project, user, shared_data
):
    worker = celery_worker_factory(
        concurrency=2, queues=ALL_QUEUES, env={"REDIS_URL": private_redis.url}
    )
    long_pdf = repeated_pdf(shared_data / "papers" / "GeoTopo-komprimiert.pdf", times=2)
    outcomes = services.document_upload(
        project=project,
        uploaded_by=user,
        files=[
            file_of("long.pdf", long_pdf),
            file_from(shared_data / "papers" / "multicolumn.pdf"),
        ],
    )
    long_doc, short_doc = (outcome.document for outcome in outcomes)
    assert long_doc is not None and short_doc is not None

    def some_ranges_done() -> bool:
        done = ExtractionPart.objects.filter(document=long_doc, status="done").count()
        return done >= 2

    wait_for(some_ranges_done, timeout=120, what="two page ranges", workers=[worker])
    queued = ExtractionPart.objects.filter(document=long_doc, status="pending").count()
    private_redis.stop()
    assert queued > 0  # Redis goes down with page ranges still queued in it
    wait_for(
        lambda: "Connection to broker lost" in worker.log.read_text(errors="replace"),
        timeout=60,
        what="the worker to notice that Redis is gone",
        workers=[worker],
    )
    private_redis.start()
    for document in (long_doc, short_doc):
        wait_for(finished(document), timeout=300, what="ingestion after", workers=[worker])
    assert_complete(long_doc, pages=234)
    assert_complete(short_doc, pages=Document.objects.get(pk=short_doc.pk).page_count)


# -- PostgreSQL ----------------------------------------------------------------------------

WORKER_APP = "carrel-fault-worker"


def _terminate_worker_connections() -> int:
    """pg_terminate_backend on every connection the test's workers hold; how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            [WORKER_APP],
        )
        return int(cursor.fetchone()[0])


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend needs PostgreSQL (the PG pass runs this)")


@pytest.fixture
def model_worker(celery_worker_factory, fake_ollama: FakeOllama):
    """A worker on every queue whose model is the fake Ollama, held until released, and
    whose database connections carry a name the test can find and terminate."""
    from tests.conftest import worker_database_url

    fake_ollama.hold()
    url = worker_database_url()
    if connection.vendor == "postgresql":
        url += f"?application_name={WORKER_APP}"
    return celery_worker_factory(
        concurrency=1,
        queues=ALL_QUEUES,
        env={"CARREL_BACKEND": "ollama", "OLLAMA_HOST": fake_ollama.url, "DATABASE_URL": url},
    )


def test_a_dropped_database_connection_mid_summary_does_not_lose_the_document(
    postgres_only, model_worker, fake_ollama, project, user
):
    (outcome,) = services.document_upload(
        project=project,
        uploaded_by=user,
        files=[file_of("notes.md", b"# Rivers\n\nThe Elbe floods every spring.\n")],
    )
    document = outcome.document
    assert document is not None
    assert fake_ollama.wait_for_held_chat(timeout=120), model_worker.log.read_text()[-3000:]
    assert Document.objects.get(pk=document.pk).stage == Stage.SUMMARIZING
    assert _terminate_worker_connections() >= 1  # the worker is inside the task, connected
    fake_ollama.release()

    wait_for(finished(document), timeout=120, what="the document", workers=[model_worker])
    document.refresh_from_db()
    assert document.stage == Stage.READY, (document.error, model_worker.log.read_text()[-3000:])
    assert_complete(document, pages=document.page_count)


def test_a_dropped_database_connection_mid_answer_loses_nothing(
    postgres_only, model_worker, fake_ollama, signed_in_client, user
):
    """The worker's connection is terminated while the model is answering: the answer is
    written on a new connection (fenced by its attempt) and the page shows it."""
    project = make_project(user)
    response = signed_in_client.post(
        f"/research/{project.pk}/ask/",
        {"question": "How do glaciers carve valleys?", "scope": "all"},
    )
    assert response.status_code == 302
    question = Question.objects.get()
    assert fake_ollama.wait_for_held_chat(timeout=120), model_worker.log.read_text()[-3000:]
    assert _terminate_worker_connections() >= 1
    fake_ollama.release()

    def settled() -> bool:
        question.refresh_from_db()
        return question.status in (Question.Status.DONE, Question.Status.FAILED)

    wait_for(settled, timeout=120, what="the question to settle", workers=[model_worker])
    assert question.status == Question.Status.DONE, question.error
    assert question.answer.text == "The answer, as scripted."
    page = signed_in_client.get(response["Location"]).content.decode()
    assert "The answer, as scripted." in page and 'data-testid="retry"' not in page


# -- the model server ------------------------------------------------------------------------


def test_a_hung_model_server_leaves_the_pages_answering_and_the_work_finishes_when_it_replies(
    model_worker, fake_ollama, signed_in_client, user
):
    project = make_project(user)
    (outcome,) = services.document_upload(
        project=project,
        uploaded_by=user,
        files=[file_of("rivers.md", b"# Rivers\n\nThe Elbe floods every spring.\n")],
    )
    document = outcome.document
    assert document is not None
    assert fake_ollama.wait_for_held_chat(timeout=120), model_worker.log.read_text()[-3000:]
    asked = signed_in_client.post(
        f"/research/{project.pk}/ask/",
        {"question": "How do glaciers carve valleys?", "scope": "all"},
    )
    question = Question.objects.get()

    # The only worker is stuck in a model call that does not return: every page still answers.
    project_page = signed_in_client.get(reverse("research:project_detail", args=[project.pk]))
    assert project_page.status_code == 200
    assert "rivers" in project_page.content.decode()
    thread_page = signed_in_client.get(asked["Location"])
    assert thread_page.status_code == 200
    assert "How do glaciers carve valleys?" in thread_page.content.decode()
    progress = signed_in_client.get(
        reverse("research:document_progress", args=[document.pk]), HTTP_HX_REQUEST="true"
    )
    assert progress.status_code == 200 and "Summarizing" in progress.content.decode()
    assert Document.objects.get(pk=document.pk).stage == Stage.SUMMARIZING
    assert Question.objects.get(pk=question.pk).status == Question.Status.QUEUED

    fake_ollama.release()
    wait_for(finished(document), timeout=120, what="the summary", workers=[model_worker])
    wait_for(
        lambda: Question.objects.get(pk=question.pk).status == Question.Status.DONE,
        timeout=120,
        what="the answer",
        workers=[model_worker],
    )
    assert_complete(document, pages=1)
    assert Question.objects.get(pk=question.pk).answer.text == "The answer, as scripted."


def test_a_question_asked_while_the_model_server_is_dead_is_answered_once_back_despite_garbage(
    celery_worker_factory, signed_in_client, user, settings
):
    reservation = socket.socket()  # bound, not listening: connections are refused
    reservation.bind(("127.0.0.1", 0))
    port = reservation.getsockname()[1]
    worker = celery_worker_factory(
        queues="model",
        env={"CARREL_BACKEND": "ollama", "OLLAMA_HOST": f"http://127.0.0.1:{port}"},
    )
    project = make_project(user)
    asked = signed_in_client.post(
        f"/research/{project.pk}/ask/",
        {"question": "How do glaciers carve valleys?", "scope": "all"},
    )
    question = Question.objects.get()
    wait_for(
        lambda: "retry: Retry in 5s: ModelUnavailable" in worker.log.read_text(errors="replace"),
        timeout=60,
        what="the first attempt to find the model server dead",
        workers=[worker],
    )
    question.refresh_from_db()
    assert question.status == Question.Status.QUEUED  # given back, waiting for the retry
    page = signed_in_client.get(asked["Location"])
    assert page.status_code == 200 and "How do glaciers carve valleys?" in page.content.decode()

    reservation.close()
    fake = FakeOllama()
    fake.add_model(settings.OLLAMA_MODEL)
    fake.garbage_replies = 1  # its first answer after coming back is not even JSON
    fake.start(port=port)
    try:
        wait_for(
            lambda: Question.objects.get(pk=question.pk).status == Question.Status.DONE,
            timeout=120,
            what="the answer",
            workers=[worker],
        )
    finally:
        fake.stop()
    log = worker.log.read_text(errors="replace")
    assert "retry: Retry in 10s: ModelServerError" in log  # the garbage, retried
    assert Question.objects.get(pk=question.pk).answer.text == "The answer, as scripted."
    assert len(fake.chat_requests()) == 2  # the garbage, then the retry that got an answer
