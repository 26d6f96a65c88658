"""Research Q&A end to end: ask, stream the answer over SSE, follow up, see the context map,
and the model server's failures shown as such. Model words come from ScriptedRuntime (or
the fake Ollama server / a dead port for failures); everything else is real.

The `qa_answer` task runs in-process here (Celery's eager mode, sent when the asking
request's transaction commits), writing the question's real Redis Stream before the test
reads it through the SSE view; tests/research/qa/test_worker.py runs real workers."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator

import pytest
from django.test import TestCase
from django.utils import timezone

from research.library import search
from research.models import Chunk, Document, Page, Project, Question, Thread
from tests.fakes.ollama_server import FakeOllama
from workspace.celery import app
from workspace.chunking import PageText, chunk_pages
from workspace.runtime import use_runtime
from workspace.runtime.ollama import OllamaRuntime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.tokenizer import count_tokens, get_tokenizer

pytestmark = [pytest.mark.django_db]

HX = {"HTTP_HX_REQUEST": "true"}
_hashes = itertools.count()

GLACIER_PAGES = [
    "Glaciers carve U-shaped valleys. The ice grinds bedrock into fine rock flour.\n\n"
    "Moraines are ridges of till that a glacier leaves at its edges.",
    "Meltwater from the glacier snout feeds braided rivers in summer.\n\n"
    "Crevasses open where the ice flows over a step in the bedrock.",
]
BEE_PAGES = [
    "Honey bees perform a waggle dance to tell the hive where nectar is.\n\n"
    "The angle of the dance gives the direction relative to the sun.",
    "A colony keeps its brood at a steady 35 degrees by fanning and shivering.",
]


def add_document(project: Project, title: str, pages: list[str], *, target: int = 40) -> Document:
    document = Document.objects.create(
        project=project,
        title=title,
        original_name=f"{title}.txt",
        file_type=Document.FileType.TEXT,
        content_hash=hashlib.sha256(f"{title}{next(_hashes)}".encode()).hexdigest(),
        stage=Document.Stage.READY,
        page_count=len(pages),
        summary=f"{title}: " + pages[0].split(".")[0] + ".",
        indexed_at=timezone.now(),
    )
    Page.objects.bulk_create(
        Page(document=document, number=n + 1, text=text, token_count=count_tokens(text))
        for n, text in enumerate(pages)
    )
    drafts = chunk_pages(
        [PageText(n + 1, text) for n, text in enumerate(pages)], target_tokens=target
    )
    Chunk.objects.bulk_create(
        Chunk(
            document=document,
            ordinal=d.ordinal,
            text=d.text,
            token_count=d.token_count,
            page_start=d.page_start,
            page_end=d.page_end,
        )
        for d in drafts
    )
    search.chunk_index_document(document_id=document.pk)
    return document


def make_project(owner) -> Project:
    project = Project.objects.create(owner=owner, title="Field notes")
    add_document(project, "Glacial erosion", GLACIER_PAGES)
    add_document(project, "Bee behaviour", BEE_PAGES)
    return project


@pytest.fixture
def project(user) -> Project:
    return make_project(user)


@pytest.fixture(autouse=True)
def eager() -> Iterator[None]:
    """Tasks run in this process, as soon as they are sent."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


def post(client, url: str, data: dict | None = None, **extra):
    """A POST whose on-commit work (sending the answer task) runs before it returns."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, data or {}, **extra)


@pytest.fixture
def scripted() -> Iterator[ScriptedRuntime]:
    with use_runtime(ScriptedRuntime.echo()) as runtime:
        yield runtime  # type: ignore[misc]


def events(response) -> list[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream response."""
    assert response["Content-Type"] == "text/event-stream"
    return events_of(b"".join(response.streaming_content))


def events_of(raw: bytes) -> list[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream body (comments left out)."""
    parsed = []
    for block in raw.decode().split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        parsed.append((name, data))
    return parsed


def ask(client, project: Project, text: str) -> Question:
    """Ask over htmx; the answer task has run (into the question's stream) on return."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return ask_later(client, project, text)[0]


def answered(client, project: Project, text: str) -> Question:
    """Ask, read the answer's stream to its end, and return the question as saved."""
    question = ask(client, project, text)
    events(client.get(f"/research/questions/{question.pk}/stream/"))
    question.refresh_from_db()
    return question


def ask_later(client, project: Project, text: str) -> tuple[Question, list]:
    """Ask over htmx; the answer task is held back: call the returned callbacks to send it."""
    with TestCase.captureOnCommitCallbacks() as sent:
        response = client.post(
            f"/research/{project.pk}/ask/", {"question": text, "scope": "all"}, **HX
        )
    assert response.status_code == 204
    question = Question.objects.get(text=text)
    assert (
        response["HX-Redirect"] == f"/research/threads/{question.thread_id}/#question-{question.pk}"
    )
    return question, sent


def test_asking_streams_the_answer_and_the_saved_thread_shows_it(
    signed_in_client, project, scripted
) -> None:
    page = signed_in_client.get(f"/research/{project.pk}/ask/")
    assert page.status_code == 200
    assert b'data-testid="ask-form"' in page.content

    question, sent = ask_later(signed_in_client, project, "How do glaciers carve valleys?")
    thread_page = signed_in_client.get(f"/research/threads/{question.thread_id}/")
    assert (
        f'sse-connect="/research/questions/{question.pk}/stream/"'.encode() in thread_page.content
    )
    assert b"Reload</a> to see it." in thread_page.content, "a no-script notice meanwhile"
    assert b'<noscript><meta http-equiv="refresh"' in thread_page.content
    assert b'data-testid="cancel"' in thread_page.content
    for send in sent:  # the worker's turn (in-process): it streams the answer
        send()

    streamed = events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))
    tokens = "".join(data for name, data in streamed if name == "token")
    assert streamed[-1][0] == "done"
    assert [name for name, _ in streamed[:-1]] == ["token"] * (len(streamed) - 1)
    question.refresh_from_db()
    assert question.status == Question.Status.DONE
    answer = question.answer
    assert answer.text.startswith("Scripted answer to: How do glaciers carve valleys?")
    assert tokens.replace("&#x27;", "'") == answer.text
    assert 'data-testid="answer"' in streamed[-1][1]

    assert question.strategy == "fits"
    assert len(answer.citations) == 1 and answer.flagged_count == 0
    cited = answer.citations[0]
    assert cited["title"] == "Glacial erosion" and not cited["flagged"]

    saved = signed_in_client.get(f"/research/threads/{question.thread_id}/").content.decode()
    assert answer.text.split(" [")[0] in saved
    document = Document.objects.get(title="Glacial erosion")
    link = re.search(r'<a class="cite" href="([^"]+)"', saved)
    assert link and link.group(1).startswith(f"/research/documents/{document.pk}/pages/1/")
    assert "sse-connect" not in saved


def test_the_prompt_fits_the_window_and_the_context_map_shows_what_the_model_saw(
    signed_in_client, project, scripted
) -> None:
    question = answered(signed_in_client, project, "What does the waggle dance tell the hive?")

    sent = scripted.calls[-1]
    assert get_tokenizer().count_messages(sent) <= question.context_map["prompt_tokens"]
    assert question.context_map["prompt_tokens"] <= question.context_map["prompt_limit"]
    assert sent[-1].content.endswith("What does the waggle dance tell the hive?")

    as_json = signed_in_client.get(f"/research/questions/{question.pk}/context/?format=json")
    assert as_json.json() == question.context_map
    titles = [entry["title"] for entry in as_json.json()["entries"]]
    assert titles == ["Glacial erosion", "Bee behaviour"]
    page = signed_in_client.get(f"/research/questions/{question.pk}/context/").content.decode()
    assert "What the model saw" in page and "Bee behaviour" in page and "fits" in page


def test_a_follow_up_reuses_the_thread_and_the_model_sees_the_earlier_exchange(
    signed_in_client, project, scripted
) -> None:
    first = ask(signed_in_client, project, "How do glaciers carve valleys?")
    events(signed_in_client.get(f"/research/questions/{first.pk}/stream/"))

    response = post(
        signed_in_client,
        f"/research/threads/{first.thread_id}/",
        {"question": "And what feeds braided rivers?"},
        **HX,
    )
    assert response.status_code == 200
    follow = Question.objects.get(text="And what feeds braided rivers?")
    assert follow.thread_id == first.thread_id
    assert Thread.objects.count() == 1
    assert f"/research/questions/{follow.pk}/stream/" in response.content.decode()

    events(signed_in_client.get(f"/research/questions/{follow.pk}/stream/"))
    follow.refresh_from_db()
    assert follow.status == Question.Status.DONE
    before, after = scripted.calls[-2], scripted.calls[-1]
    assert [m.role for m in after] == ["system", "user", "assistant", "user"]
    assert after[1] == before[1], "the first exchange is a byte-identical prefix"
    assert after[2].content == first.answer.text
    assert after[3].content == "And what feeds braided rivers?"
    assert follow.context_map["history_turns"] == 1


def test_scope_limits_the_question_to_the_chosen_document(
    signed_in_client, project, scripted
) -> None:
    bees = Document.objects.get(title="Bee behaviour")
    response = post(
        signed_in_client,
        f"/research/{project.pk}/ask/",
        {"question": "What keeps the brood warm?", "scope": "chosen", "documents": [bees.pk]},
    )
    question = Question.objects.get(text="What keeps the brood warm?")
    assert response.status_code == 302
    assert question.thread.document_ids == [bees.pk]
    events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))
    question.refresh_from_db()
    assert {entry["source_id"] for entry in question.context_map["entries"]} == {bees.pk}

    refused = signed_in_client.post(
        f"/research/{project.pk}/ask/", {"question": "Anything?", "scope": "chosen"}, **HX
    )
    assert refused.status_code == 200
    assert "Tick at least one document" in refused.content.decode()


def test_another_users_threads_and_answers_are_not_found(
    client, signed_in_client, project, scripted, other_user
) -> None:
    question = ask(signed_in_client, project, "How do glaciers carve valleys?")
    events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))

    client.force_login(other_user)
    for url in (
        f"/research/{project.pk}/ask/",
        f"/research/threads/{question.thread_id}/",
        f"/research/questions/{question.pk}/",
        f"/research/questions/{question.pk}/stream/",
        f"/research/questions/{question.pk}/context/",
    ):
        assert client.get(url, **HX).status_code == 404, url
    assert client.post(f"/research/questions/{question.pk}/retry/").status_code == 404
    assert (
        client.post(f"/research/threads/{question.thread_id}/", {"question": "x"}).status_code
        == 404
    )


def test_an_answer_citing_pages_the_model_did_not_see_is_flagged(signed_in_client, project) -> None:
    reply = (
        "Valleys are carved by ice [Glacial erosion, p. 9] and by wind [Atlas of Deserts, p. 2]."
    )
    with use_runtime(ScriptedRuntime([reply])):
        question = ask(signed_in_client, project, "How are valleys carved?")
        events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))
    question.refresh_from_db()
    assert question.answer.flagged_count == 2
    page = signed_in_client.get(f"/research/threads/{question.thread_id}/").content.decode()
    assert 'data-testid="flagged-citations"' in page
    assert "Page 9 of this source was not in the context." in page
    assert "No source with this title was in the context." in page


def test_a_dead_model_server_shows_the_error_and_keeps_the_question_for_a_retry(
    signed_in_client, project
) -> None:
    dead = OllamaRuntime(host="http://127.0.0.1:9", model="gemma4:e4b", timeout=5)
    with use_runtime(dead):
        question = ask(signed_in_client, project, "How do glaciers carve valleys?")
        streamed = events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))
    question.refresh_from_db()
    assert question.status == Question.Status.FAILED
    assert question.error_code == Question.ErrorCode.UNAVAILABLE
    assert question.text == "How do glaciers carve valleys?"
    done = streamed[-1][1]
    assert "The model server is not answering" in done and 'data-testid="retry"' in done

    with TestCase.captureOnCommitCallbacks() as sent:
        retried = signed_in_client.post(f"/research/questions/{question.pk}/retry/", **HX)
    assert retried.status_code == 200
    question.refresh_from_db()
    assert (question.status, question.attempt, question.error) == (Question.Status.QUEUED, 2, "")
    assert f"/research/questions/{question.pk}/stream/" in retried.content.decode()
    with use_runtime(ScriptedRuntime.echo()):
        for send in sent:  # the retry's task, sent on commit, runs now with a live model
            send()
    events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))
    question.refresh_from_db()
    assert question.status == Question.Status.DONE


@pytest.fixture
def fake_ollama(settings) -> Iterator[FakeOllama]:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "qa-fake-ollama",
        }
    }
    fake = FakeOllama()
    fake.add_model("gemma4:e4b")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def test_a_truncated_prompt_and_a_timeout_are_shown_as_such(
    signed_in_client, project, fake_ollama
) -> None:
    fake_ollama.prompt_eval_count = 50  # the server read far less than it was sent
    with use_runtime(OllamaRuntime(host=fake_ollama.url, model="gemma4:e4b", timeout=5)):
        truncated = ask(signed_in_client, project, "How do glaciers carve valleys?")
        done = events(signed_in_client.get(f"/research/questions/{truncated.pk}/stream/"))[-1][1]
    truncated.refresh_from_db()
    assert truncated.error_code == Question.ErrorCode.TRUNCATED
    assert "truncated the prompt" in done

    fake_ollama.prompt_eval_count = None
    fake_ollama.delay = 3.0
    with use_runtime(OllamaRuntime(host=fake_ollama.url, model="gemma4:e4b", timeout=1)):
        slow = ask(signed_in_client, project, "What does the waggle dance tell?")
        done = events(signed_in_client.get(f"/research/questions/{slow.pk}/stream/"))[-1][1]
    slow.refresh_from_db()
    assert slow.error_code == Question.ErrorCode.TIMEOUT
    assert "timed out" in done and 'data-testid="retry"' in done


def test_an_answer_offers_flashcards_and_the_button_starts_a_study_job(
    signed_in_client, project, scripted
) -> None:
    from research.models import StudyJob

    question = ask(signed_in_client, project, "How do glaciers carve valleys?")
    events(signed_in_client.get(f"/research/questions/{question.pk}/stream/"))
    thread_page = signed_in_client.get(f"/research/threads/{question.thread_id}/").content
    assert b'data-testid="cards-from-answer"' in thread_page

    question.refresh_from_db()
    response = signed_in_client.post(
        f"/research/{project.pk}/flashcards/from-answer/",
        {"answer": question.answer.pk, "count": 5, "kinds": "basic"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/research/{project.pk}/flashcards/"
    job = StudyJob.objects.get(project=project)
    assert job.kind == StudyJob.Kind.FLASHCARDS
