"""The passages answer: on a model that cannot follow instructions (a base model such as the
embedded demo model, played here by the scripted backend with its facts), a question is
answered with the evidence itself, quoted with page links and no model call; on any model
the asker may choose it; and "Write an answer from these passages" runs the model path on
the same one-prompt plan. The answer task runs in-process (eager), as in test_views.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import TestCase
from django.urls import reverse

from research.citations import citations_from_json
from research.models import Question
from research.qa import passages
from research.qa.passages import LABEL
from tests.research.qa.test_views import HX, add_document, ask, eager, make_project, post
from workspace.packing import ContextMap, Piece
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.tokenizer import count_tokens

pytestmark = [pytest.mark.django_db]
__all__ = ["eager"]  # the fixture, used by every test here

Mode = Question.AnswerMode


@pytest.fixture
def project(user):
    return make_project(user)


@pytest.fixture
def base_model() -> Iterator[ScriptedRuntime]:
    """A model that cannot follow instructions, with no words scripted: any call fails."""
    with use_runtime(ScriptedRuntime([], instruction_tuned=False)) as runtime:
        yield runtime  # type: ignore[misc]


@pytest.fixture
def chat_model() -> Iterator[ScriptedRuntime]:
    with use_runtime(ScriptedRuntime.echo()) as runtime:
        yield runtime  # type: ignore[misc]


def test_on_a_base_model_a_question_is_answered_with_quoted_passages_and_no_model_call(
    signed_in_client, project, base_model
):
    form = signed_in_client.get(reverse("research:qa:ask", args=[project.pk])).content.decode()
    assert "The best passages, quoted with their pages" in form
    checked = form[form.index('value="passages"') :].split(">", 1)[0]
    assert "checked" in checked  # the default here, said on the form
    question = ask(signed_in_client, project, "What are moraines made of?")
    question.refresh_from_db()
    assert question.answer_mode == Mode.PASSAGES
    assert question.status == Question.Status.DONE, question.error
    assert base_model.calls == []  # the passages never reach the model
    answer = question.answer
    assert answer.text.startswith(LABEL)
    assert answer.model == "" and answer.output_tokens == 0
    citations = citations_from_json(answer.citations)
    assert citations and not any(citation.flagged for citation in citations)
    glacier = project.documents.get(title="Glacial erosion")
    first = citations[0]
    assert (first.source_id, first.page_start) == (glacier.pk, 1)
    assert "Moraines are ridges of till" in answer.text
    bees = project.documents.get(title="Bee behaviour")
    assert bees.pk not in {citation.source_id for citation in citations}  # shares no word
    # The page says what it is and links each quote to its page, marked.
    page = signed_in_client.get(reverse("research:qa:thread", args=[question.thread_id]))
    html = page.content.decode()
    assert "Retrieved passages — not a generated answer" in html
    link = reverse("research:page_detail", args=[glacier.pk, 1])
    assert f'href="{link}?q=' in html and 'data-testid="passage-link"' in html
    assert "Glacial erosion" in html
    assert 'data-testid="write-answer"' in html
    opened = signed_in_client.get(first_url(answer))
    assert opened.status_code == 200 and "Moraines" in opened.content.decode()


def first_url(answer) -> str:
    citation = citations_from_json(answer.citations)[0]
    return (
        reverse("research:page_detail", args=[citation.source_id, citation.passage_page])
        + f"?q={citation.passage}"
    )


def test_the_context_map_says_the_passages_came_from_the_one_prompt_plan(
    signed_in_client, project, base_model
):
    question = ask(signed_in_client, project, "What are moraines made of?")
    question.refresh_from_db()
    context_map = ContextMap.from_dict(question.context_map)
    assert question.strategy == "near_edge"
    assert "passages answer" in context_map.route_reason
    cited = [(c.source_id, c.page_start) for c in citations_from_json(question.answer.citations)]
    seen = context_map.seen_pages()
    assert cited and all(source is not None and page in seen[source] for source, page in cited)
    page = signed_in_client.get(reverse("research:qa:context_map", args=[question.pk]))
    assert "passages answer" in page.content.decode()


def test_an_instruction_following_model_answers_in_prose_unless_the_asker_wants_passages(
    signed_in_client, project, chat_model
):
    prose = ask(signed_in_client, project, "What are moraines made of?")
    prose.refresh_from_db()
    assert prose.answer_mode == Mode.GENERATED and len(chat_model.calls) == 1
    url = reverse("research:qa:ask", args=[project.pk])
    post(
        signed_in_client,
        url,
        {"question": "Where do crevasses open?", "scope": "all", "answer_mode": "passages"},
        **HX,
    )
    asked = Question.objects.get(text="Where do crevasses open?")
    assert asked.answer_mode == Mode.PASSAGES and asked.status == Question.Status.DONE
    assert len(chat_model.calls) == 1  # still only the first question's
    assert "Crevasses open where the ice flows" in asked.answer.text


def test_write_an_answer_from_the_passages_runs_the_model_on_the_same_plan(
    signed_in_client, project
):
    with use_runtime(ScriptedRuntime([], instruction_tuned=False)):
        shown = ask(signed_in_client, project, "What are moraines made of?")
    shown.refresh_from_db()
    model = ScriptedRuntime.echo(instruction_tuned=False)
    with use_runtime(model):
        response = signed_in_client_post(
            signed_in_client, reverse("research:qa:write_answer", args=[shown.pk])
        )
    assert response.status_code == 204
    written = Question.objects.exclude(pk=shown.pk).get(thread=shown.thread)
    assert response["HX-Redirect"].endswith(f"#question-{written.pk}")
    assert written.text == shown.text and written.answer_mode == Mode.GENERATED
    assert written.status == Question.Status.DONE, written.error
    assert len(model.calls) == 1  # the model path: one prompt, streamed and saved
    assert written.answer.text.startswith("Scripted answer to:")
    # Same plan: the passages' excerpts are exactly what the model was shown.
    shown_map = ContextMap.from_dict(shown.context_map)
    written_map = ContextMap.from_dict(written.context_map)
    assert [e.chunk_ids for e in written_map.entries] == [e.chunk_ids for e in shown_map.entries]
    prompt = model.calls[0][-1].content
    assert "Moraines are ridges of till" in prompt
    # The passages are evidence, not conversation: not in the written answer's history.
    assert LABEL not in "".join(message.content for message in model.calls[0])
    page = signed_in_client.get(reverse("research:qa:thread", args=[shown.thread_id]))
    assert "write an answer from the passages above" in page.content.decode()


def signed_in_client_post(client, url: str):
    """An htmx POST whose on-commit work (sending the answer task) runs before it returns."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, {}, **HX)


def test_only_an_answered_passages_question_can_be_written_up(
    signed_in_client, project, chat_model
):
    prose = ask(signed_in_client, project, "What are moraines made of?")
    response = post(signed_in_client, reverse("research:qa:write_answer", args=[prose.pk]))
    assert response.status_code == 400
    assert Question.objects.filter(thread=prose.thread).count() == 1


def test_a_passages_answer_exports_with_its_references(signed_in_client, project, base_model):
    question = ask(signed_in_client, project, "What are moraines made of?")
    markdown = signed_in_client.get(
        reverse("research:citing:answer_markdown", args=[question.pk])
    ).content.decode()
    assert LABEL in markdown
    assert "[^1]" in markdown and "[^1]: Glacial erosion" in markdown


def test_nothing_matching_says_so_plainly(signed_in_client, user, base_model):
    project = make_project(user)
    question = ask(signed_in_client, project, "zyzzyva quokka")
    question.refresh_from_db()
    assert question.status == Question.Status.DONE
    assert passages.NONE_MATCHED in question.answer.text
    assert question.answer.citations == []


def test_a_quote_is_the_best_sentences_of_a_passage_on_the_page_they_are_on(user):
    project = make_project(user)
    long_page = " ".join(f"Filler sentence number {n} about nothing." for n in range(40))
    document = add_document(
        project, "Two pages", [long_page, "Ice cores record the climate of past ages."]
    )
    text = long_page + "\n\nIce cores record the climate of past ages."
    piece = Piece(1, document.pk, 0, text, count_tokens(text), 1, 2)
    pages = {page.number: page.text for page in document.pages.all()}
    quote = passages.quote_piece(
        piece, title="Two pages", query="What do ice cores record?", page_texts=pages
    )
    assert quote is not None
    assert quote.sentence == "Ice cores record the climate of past ages."
    assert quote.sentence_page == 2
    assert quote.text.endswith("Ice cores record the climate of past ages.")
    assert len(quote.text) <= passages.QUOTE_CHARS
