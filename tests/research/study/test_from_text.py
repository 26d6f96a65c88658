"""Study tools from the text itself (research/study/generators/from_text.py): cloze cards from
sentences that define something or state a finding, timeline events from dated sentences,
each citing its page, with no model call; the default where the model cannot follow
instructions, and the model's version still a choice. The scripted model here has no words
scripted, so any model call would fail the job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import TestCase
from django.utils import timezone

from research.cloze import cloze_deletions
from research.library.extraction import open_pdf, pdf_pages
from research.models import Document, Flashcard, Page, Project, StudyJob, TimelineEvent
from research.study import services as study_services
from research.study.generators.from_text import cloze_for, date_in, page_sentences
from research.study.generators.timelines import When
from tests.research.study.test_generation import answer_citing, document, run, study_project
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.tokenizer import count_tokens

pytestmark = pytest.mark.django_db
Status = StudyJob.Status


@pytest.fixture
def project(user) -> Project:
    return study_project(user)


def no_model() -> ScriptedRuntime:
    return ScriptedRuntime([], instruction_tuned=False)


def thesis(project: Project, shared_data: Path) -> Document:
    """The 117-page GeoTopo lecture notes (German), its pages read by the real extractor."""
    path = shared_data / "papers" / "GeoTopo-komprimiert.pdf"
    reader = open_pdf(path)
    pages = list(pdf_pages(reader, first=1, last=len(reader.pages)))
    document = Document.objects.create(
        project=project,
        title="Geometrie und Topologie",
        original_name=path.name,
        file_type=Document.FileType.PDF,
        content_hash="geotopo",
        stage=Document.Stage.READY,
        page_count=len(pages),
        indexed_at=timezone.now(),
    )
    Page.objects.bulk_create(
        Page(document=document, number=page.number, text=page.text, token_count=0) for page in pages
    )
    return document


def shown(front: str) -> str:
    """The card's sentence with its deletion filled in."""
    (deletion,) = cloze_deletions(front)
    return front[: deletion.start] + deletion.answer + front[deletion.end :]


def squeezed(text: str) -> str:
    return "".join(text.split())


def test_cloze_cards_come_from_a_real_pdfs_definitions_and_cite_their_pages(
    project, user, shared_data
):
    document = thesis(project, shared_data)
    runtime = no_model()
    job = study_services.flashcards_generate(
        project=project, user=user, documents=[document], count=12, method="text"
    )
    job = run(job, runtime)
    assert job.status == Status.DONE, job.error
    assert runtime.calls == []
    cards = list(Flashcard.objects.filter(document=document).order_by("id"))
    assert len(cards) == 12
    pages = dict(Page.objects.filter(document=document).values_list("number", "text"))
    for card in cards:
        assert card.kind == "cloze" and len(card.pages) == 1
        # The sentence is on the page the card cites (spacing aside: PDF lines are joined).
        assert squeezed(shown(card.front)) in squeezed(pages[card.pages[0]]), card.front
    terms = {cloze_deletions(card.front)[0].answer: card.pages[0] for card in cards}
    # "Eine Teilmenge U ⊆ X heißt Umgebung von x, wenn …" (p. 7), "… heißt simplizial" (p. 39)
    assert terms.get("Umgebung") == 7
    assert terms.get("simplizial") == 39
    assert all("heißt" in card.front or " ist " in card.front for card in cards)


def test_english_definitions_findings_and_quantities_become_cloze_deletions():
    cases = {
        "Moraines are ridges of till that a glacier leaves at its edges.": "Moraines",
        "Trace-based JIT compilation is a technique that records hot loops.": (
            "Trace-based JIT compilation"
        ),
        "A tracelet refers to a short straight run of bytecode in a hot loop.": "tracelet",
        "A DAG is called a directed acyclic graph if it has no cycles.": ("directed acyclic graph"),
        "We find that the model improves accuracy by 12.5% on average.": "12.5%",
        "Our results show that attention heads specialise early in training.": (
            "attention heads specialise early in training"
        ),
        "A colony keeps its brood at a steady 35 degrees by fanning.": "35 degrees",
    }
    for sentence, term in cases.items():
        cloze = cloze_for(sentence)
        assert cloze is not None, sentence
        assert [d.answer for d in cloze_deletions(cloze.front)] == [term]
        assert shown(cloze.front) == sentence
    for plain in [
        "This is a sentence that defines nothing at all.",
        "Results are shown in Table 2 for every setting.",
        "The glacier moved slowly down the valley last year.",
    ]:
        assert cloze_for(plain) is None, plain


def test_a_base_model_makes_cards_from_the_text_by_default_and_the_model_stays_a_choice(
    signed_in_client, project
):
    url = f"/research/{project.pk}/flashcards/generate/"
    glacier = document(project, "Glacial erosion")
    form = {"scope": "document", "document": glacier.pk, "count": 3, "kinds": "basic"}
    runtime = no_model()
    with use_runtime(runtime), TestCase.captureOnCommitCallbacks(execute=False):
        page = signed_in_client.get(f"/research/{project.pk}/flashcards/")
        assert "From the text itself" in page.content.decode()
        signed_in_client.post(url, form)
        signed_in_client.post(url, {**form, "method": "model"})
    text_job, model_job = StudyJob.objects.order_by("id")
    assert text_job.params["method"] == "text" and model_job.params["method"] == "model"
    text_job = run(text_job, runtime)
    assert text_job.status == Status.DONE and runtime.calls == []
    (card,) = Flashcard.objects.filter(job=text_job)
    assert card.front == "{{c1::Moraines}} are ridges of till that a glacier leaves at its edges."
    assert (card.document_id, card.pages) == (glacier.pk, [1])
    # The model's version asks the model (which has no words scripted here).
    with pytest.raises(AssertionError, match="ran out of scripted replies"):
        run(model_job, runtime)
    assert len(runtime.calls) == 1


def test_on_an_instruction_following_model_the_model_writes_unless_asked_otherwise(
    signed_in_client, project
):
    url = f"/research/{project.pk}/timeline/generate/"
    with use_runtime(ScriptedRuntime([])), TestCase.captureOnCommitCallbacks(execute=False):
        signed_in_client.post(url, {"count": 5})
        signed_in_client.post(url, {"count": 5, "method": "text"})
    assert [job.params["method"] for job in StudyJob.objects.order_by("id")] == ["model", "text"]


def test_timeline_events_come_from_dated_sentences_and_cite_their_pages(project, user):
    observatory = document(project, "Observatory history")
    runtime = no_model()
    job = study_services.timeline_generate(
        project=project, user=user, documents=[observatory], method="text"
    )
    job = run(job, runtime)
    assert job.status == Status.DONE, job.error
    assert runtime.calls == []
    events = {
        (event.start_year, event.start_month, event.start_day, event.end_year, event.precision): [
            (source.document_id, source.page) for source in event.sources.all()
        ]
        for event in TimelineEvent.objects.filter(project=project)
    }
    at = observatory.pk
    assert events == {
        (1998, None, None, None, "year"): [(at, 1)],
        (2001, 3, None, None, "month"): [(at, 1)],
        (2005, 6, 14, None, "day"): [(at, 2)],
        (1990, None, None, 1995, "year"): [(at, 2)],
    }
    founded = TimelineEvent.objects.get(start_year=1998)
    assert founded.title == "The hill observatory was founded in 1998 by the city council."


def test_dates_are_read_from_words_and_citations_and_durations_are_not_dates():
    dated: dict[str, Any] = {
        "A storm damaged the dome on 14 June 2005.": (When(2005, 6, 14), None, "day"),
        "On June 14, 2005 the dome fell.": (When(2005, 6, 14), None, "day"),
        "Dieses Skript wurde im Wintersemester 2013/2014 geschrieben.": (
            When(2013),
            When(2014),
            "year",
        ),
        "Zuletzt geändert am 31. Dezember 2016 von Martin Thoma.": (
            When(2016, 12, 31),
            None,
            "day",
        ),
        "Faltungsdiagramm: Jérôme Urhausen, Email vom 11.02.2014.": (
            When(2014, 2, 11),
            None,
            "day",
        ),
        "The archive itself opened in the 1960s.": (When(1960), None, "decade"),
        "The survey ran between 1990 and 1995 in the valley.": (When(1990), When(1995), "year"),
        "The release was dated 2019-03-07 in the log.": (When(2019, 3, 7), None, "day"),
    }
    for sentence, expected in dated.items():
        assert date_in(sentence) == expected, sentence
    for undated in [
        "Das Problem wurde über 2000 Jahre nicht gelöst.",
        "Transformers were introduced by Vaswani et al. (2017) for translation.",
        "As shown by Smith (2019), the effect is large.",
        "This holds (Smith and Jones, 2019; Lee, 2020) in general.",
        "The model has 1500 tokens of context and 2048 hidden units.",
        "It was founded in 1998 and rebuilt in 2001, 2005 and 2010 after storms.",
    ]:
        assert date_in(undated) is None, undated


def test_the_reference_list_and_page_edge_fragments_are_not_read():
    pages = [
        (1, 1, "Glaciers were first mapped here in 1850 by the survey office.\n\nand a fragment"),
        (
            1,
            2,
            "Results\n\nThe ice retreated in 1990 across the whole valley.\n\nReferences\n"
            "Smith, J. The ice was mapped in 1850. Journal of Ice, 1999.",
        ),
        (1, 3, "Lee, K. Glaciers are rivers of ice that move in 2001. Ice Letters."),
    ]
    found = [item.text for item in page_sentences(pages)]
    assert found == [
        "Glaciers were first mapped here in 1850 by the survey office.",
        "The ice retreated in 1990 across the whole valley.",
    ]


def test_cards_from_an_answer_read_only_the_pages_it_cites(project, user):
    glacier = document(project, "Glacial erosion")
    answer = answer_citing(project, user, [(glacier, 1)])
    runtime = no_model()
    job = study_services.flashcards_generate_from_answer(answer=answer, user=user, method="text")
    job = run(job, runtime)
    assert job.status == Status.DONE, job.error
    assert [(c.front, c.pages) for c in Flashcard.objects.filter(job=job)] == [
        ("{{c1::Moraines}} are ridges of till that a glacier leaves at its edges.", [1])
    ]


def test_a_document_with_no_text_fails_the_text_job_plainly(project, user):
    empty = Document.objects.create(
        project=project,
        title="Blank",
        original_name="blank.pdf",
        file_type=Document.FileType.PDF,
        content_hash="blank",
        stage=Document.Stage.READY,
        page_count=1,
    )
    Page.objects.create(document=empty, number=1, text="", token_count=count_tokens(""))
    job = study_services.flashcards_generate(
        project=project, user=user, documents=[empty], method="text"
    )
    job = run(job, no_model())
    assert job.status == Status.FAILED and "no text" in job.error
