"""Writes for research Q&A: asking, answering (streamed or in a task), map-reduce steps.

A question is a claimable row (workspace/models.py), answered by whoever claims it first
(queued → answering, same attempt): the SSE stream when the page has JavaScript, the
`qa_answer` task (tasks.py, sent here by its name) otherwise. Packing happens at claim
time, so the stored context map is exactly what the model saw. Every write after a claim
checks the attempt (a retry bumps it), so work left over from an older attempt changes
nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from celery import chord
from celery.canvas import Signature
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from research.citations import Citation, check_citations
from research.library.search import query_terms
from research.models import Answer, MapNote, Page, Project, Question, Thread
from research.qa.selectors import (
    document_list_for_thread,
    packing_sources_for_documents,
    thread_history,
)
from workspace.jobs import JobError, enqueue_on_commit, error_code_for, task_signature
from workspace.packing import (
    MAP_RULES,
    Budget,
    ContextMap,
    PackingError,
    Source,
    batch_notes,
    default_retriever,
    map_prompt,
    pack,
    reduce_prompt,
    useful_notes,
)
from workspace.runtime import get_runtime
from workspace.runtime.errors import ModelRuntimeError
from workspace.runtime.types import ChatResult, Message, ModelRuntime

logger = logging.getLogger(__name__)

Status = Question.Status
ErrorCode = JobError

MODEL_QUEUE = "model"  # interactive: a person is waiting (workspace/settings.py)
ANSWER_TASK = "research.qa_tasks.qa_answer"
MAP_STEP_TASK = "research.qa_tasks.qa_map_step"
REDUCE_TASK = "research.qa_tasks.qa_reduce"

QA_RULES = (
    "You answer questions about the user's documents using only the sources below. "
    "After every claim, cite the page it comes from with its marker exactly as written in "
    "the sources, like [Title, p. N]. If the sources do not contain the answer, say so "
    "plainly instead of guessing."
)
QA_MAP_RULES = MAP_RULES
QA_REDUCE_RULES = (
    "You answer questions about the user's documents. Below are notes that were taken from "
    "the documents part by part, with page markers like [Title, p. N]. Answer using only "
    "these notes and keep their markers after every claim, exactly as written. If the notes "
    "do not contain the answer, say so plainly instead of guessing."
)
ANSWER_TOKENS = 1024  # reserved for the answer (and any thinking) in every prompt
NOTE_TOKENS = 512  # the most one map step may write
NOTHING_FOUND = (
    "None of the documents in scope had anything relevant to this question, "
    "so there is nothing to cite."
)


def qa_budget(runtime: ModelRuntime) -> Budget:
    return Budget.for_window(runtime.facts().context_window, output_reserve=ANSWER_TOKENS)


# -- asking ----------------------------------------------------------------------------


def thread_start(
    *,
    owner: User,
    project: Project,
    question: str,
    document_ids: Sequence[int] = (),
) -> Question:
    """A new thread over the chosen documents (none chosen: the whole project)."""
    with transaction.atomic():
        thread = Thread.objects.create(
            owner=owner,
            project=project,
            title=_title(question),
            document_ids=sorted({int(i) for i in document_ids}),
        )
        return question_ask(thread=thread, text=question)


def question_ask(*, thread: Thread, text: str) -> Question:
    """Add a question to a thread; it waits for the stream or a task to answer it."""
    with transaction.atomic():
        question = Question.objects.create(thread=thread, text=text.strip())
        Thread.objects.filter(pk=thread.pk).update(updated_at=timezone.now())
    return question


def answer_signature(*, question_id: int, attempt: int) -> Signature:
    return task_signature(ANSWER_TASK, question_id, attempt, queue=MODEL_QUEUE)


def question_enqueue(*, question: Question) -> None:
    """Have a worker answer it (the page has no JavaScript to stream it)."""
    question_id, attempt = question.pk, question.attempt
    enqueue_on_commit(
        answer_signature(question_id=question_id, attempt=attempt),
        on_failure=lambda exc: _queue_down(question_id, attempt, exc),
    )


def _queue_down(question_id: int, attempt: int, exc: Exception) -> None:
    question_fail(
        question_id=question_id,
        attempt=attempt,
        code=ErrorCode.INTERRUPTED,
        message=f"Could not reach the task queue ({exc}). Retry when it is back.",
    )


def question_retry(*, question: Question) -> bool:
    """Start a failed (or stuck) question again as a new attempt; False if it cannot be."""
    stale = timezone.now() - Question.STALE_AFTER
    retryable = Q(status=Status.FAILED) | Q(status__in=Question.ACTIVE, updated_at__lt=stale)
    updated = Question.restart(
        question.pk,
        question.attempt,
        where=retryable,
        claimed_at=None,
        groups_done=0,
        groups_total=0,
    )
    if updated:
        Answer.objects.filter(question=question).delete()
        MapNote.objects.filter(question=question).delete()
        question.refresh_from_db()
    return bool(updated)


def _title(question: str) -> str:
    title = " ".join(question.split())
    return title if len(title) <= 120 else title[:119].rstrip() + "…"


# -- claiming and packing ----------------------------------------------------------------


@dataclass
class Prepared:
    """A claimed question, packed: either one prompt to send, or a map-reduce underway."""

    question: Question
    messages: list[Message]
    context_map: ContextMap
    runtime: ModelRuntime

    @property
    def map_reduce(self) -> bool:
        return self.context_map.strategy == "map_reduce"


def question_claim(*, question_id: int, attempt: int) -> bool:
    return Question.claim(question_id, attempt, claimed_at=timezone.now())


def question_release(*, question_id: int, attempt: int) -> None:
    """Give a claimed question back (the reader left mid-answer): it can be claimed again."""
    Question.release(question_id, attempt, claimed_at=None)


def question_fail(*, question_id: int, attempt: int, code: str, message: str) -> bool:
    return Question.fail(question_id, attempt, code=code, error=message)


def question_prepare(*, question_id: int, attempt: int) -> Prepared | None:
    """Claim a queued question and pack its prompt. None when it is not ours to answer
    (someone else claimed it, or it failed while packing — the failure is stored)."""
    if not question_claim(question_id=question_id, attempt=attempt):
        return None
    question = Question.objects.select_related("thread", "thread__project").get(pk=question_id)
    try:
        runtime = get_runtime()
        budget = qa_budget(runtime)
    except ModelRuntimeError as exc:
        question_fail(
            question_id=question_id, attempt=attempt, code=error_code_for(exc), message=exc.message
        )
        return None
    document_ids = list(
        document_list_for_thread(thread=question.thread).values_list("id", flat=True)
    )
    if not document_ids:
        question_fail(
            question_id=question_id,
            attempt=attempt,
            code=ErrorCode.NO_SOURCES,
            message="None of the documents in this thread's scope is ready yet (or they were "
            "deleted). Wait for ingestion to finish, then retry.",
        )
        return None
    sources = packing_sources_for_documents(document_ids=document_ids)
    history = thread_history(question=question)
    query = " ".join([question.text, *(history[-1][:1] if history else [])])
    try:
        result = pack(
            question=question.text,
            sources=sources,
            budget=budget,
            system=QA_RULES,
            history=history,
            query=query,
            retriever=default_retriever(),
            map_system=QA_MAP_RULES,
        )
    except PackingError as exc:
        question_fail(
            question_id=question_id, attempt=attempt, code=ErrorCode.PACKING, message=str(exc)
        )
        return None
    context_map = result.context_map
    fields: dict[str, object] = {
        "context_map": context_map.to_dict(),
        "strategy": context_map.strategy,
    }
    if context_map.strategy == "map_reduce":
        fields.update(status=Status.MAPPING, groups_total=len(context_map.groups), groups_done=0)
    if not Question.fenced(question_id, attempt, Status.ANSWERING).update(**fields):
        return None
    question.refresh_from_db()
    if context_map.strategy == "map_reduce":
        _start_map_reduce(question_id, attempt, len(context_map.groups))
    return Prepared(question, result.messages, context_map, runtime)


def _start_map_reduce(question_id: int, attempt: int, groups: int) -> None:
    """Every group's map step in parallel, then the reduce step once all have finished.
    Map steps never raise after their last retry (they fail the question instead), so the
    chord always reaches the reduce step, which does nothing for a failed question."""
    steps = [
        task_signature(MAP_STEP_TASK, question_id, attempt, index, queue=MODEL_QUEUE)
        for index in range(groups)
    ]
    reduce = task_signature(REDUCE_TASK, question_id, attempt, queue=MODEL_QUEUE)
    enqueue_on_commit(
        chord(steps, reduce), on_failure=lambda exc: _queue_down(question_id, attempt, exc)
    )


# -- answering -----------------------------------------------------------------------------


def answer_save(
    *, question_id: int, attempt: int, result: ChatResult, context_map: ContextMap
) -> Answer | None:
    """Store the answer with its checked citations; None if the attempt is no longer current."""
    citations = check_citations(result.text, context_map)
    _attach_passages(result.text, citations)
    with transaction.atomic():
        done = Question.fenced(question_id, attempt, Status.ANSWERING)
        if not done.update(status=Status.DONE, error="", error_code=""):
            return None
        answer, _ = Answer.objects.update_or_create(
            question_id=question_id,
            defaults={
                "text": result.text,
                "citations": [citation.to_dict() for citation in citations],
                "flagged_count": sum(citation.flagged for citation in citations),
                "model": result.model,
                "prompt_tokens": result.expected_prompt_tokens,
                "output_tokens": result.output_tokens,
                "hit_output_cap": result.hit_output_cap,
            },
        )
        Thread.objects.filter(questions__pk=question_id).update(updated_at=timezone.now())
    return answer


@dataclass
class StreamEvent:
    kind: str  # "token" (text so far arrives piece by piece) or "done"
    text: str = ""


def question_stream(*, prepared: Prepared) -> Iterator[StreamEvent]:
    """Stream the answer's tokens, then save it (or the error). If the consumer stops
    early (the reader left), the question is given back so it can be answered again."""
    question = prepared.question
    finished = False
    try:
        for chunk in prepared.runtime.stream_chat(prepared.messages, max_tokens=ANSWER_TOKENS):
            if chunk.text:
                yield StreamEvent("token", chunk.text)
            if chunk.done and chunk.result is not None:
                answer_save(
                    question_id=question.pk,
                    attempt=question.attempt,
                    result=chunk.result,
                    context_map=prepared.context_map,
                )
        finished = True
    except ModelRuntimeError as exc:
        finished = True
        question_fail(
            question_id=question.pk,
            attempt=question.attempt,
            code=error_code_for(exc),
            message=exc.message,
        )
    except Exception as exc:
        finished = True
        logger.exception("Answering question %s failed", question.pk)
        question_fail(
            question_id=question.pk,
            attempt=question.attempt,
            code=ErrorCode.MODEL,
            message=f"Unexpected error while answering: {type(exc).__name__}: {exc}",
        )
    finally:
        if not finished:
            question_release(question_id=question.pk, attempt=question.attempt)
    if not Question.objects.filter(pk=question.pk).exclude(status__in=Question.ACTIVE).exists():
        question_fail(
            question_id=question.pk,
            attempt=question.attempt,
            code=ErrorCode.INTERRUPTED,
            message="The model stopped without finishing the answer.",
        )
    yield StreamEvent("done")


def question_answer(*, question_id: int, attempt: int) -> None:
    """Answer without streaming (the worker path). Model errors propagate to the task,
    which retries or records them."""
    prepared = question_prepare(question_id=question_id, attempt=attempt)
    if prepared is None or prepared.map_reduce:
        return
    try:
        result = prepared.runtime.chat(prepared.messages, max_tokens=ANSWER_TOKENS)
    except ModelRuntimeError:
        question_release(question_id=question_id, attempt=attempt)
        raise
    answer_save(
        question_id=question_id, attempt=attempt, result=result, context_map=prepared.context_map
    )


# -- map-reduce steps ------------------------------------------------------------------------


def _group_sources(question: Question, index: int) -> tuple[list[Source], list[int]]:
    context_map = ContextMap.from_dict(question.context_map)
    chunk_ids = context_map.groups[index].chunk_ids
    document_ids = context_map.groups[index].source_ids
    sources = packing_sources_for_documents(document_ids=document_ids)
    return sources, chunk_ids


def map_step_run(*, question_id: int, attempt: int, index: int) -> None:
    """One map step: read one group of sources and note what matters, with page markers.
    Idempotent: a note already written for this attempt is kept."""
    question = Question.fenced(question_id, attempt, Status.MAPPING).first()
    if question is None:
        return
    if MapNote.objects.filter(question=question, attempt=attempt, index=index).exists():
        return
    runtime = get_runtime()
    sources, chunk_ids = _group_sources(question, index)
    wanted = set(chunk_ids)
    by_id = {piece.id: piece for source in sources for piece in source.pieces}
    pieces = [by_id[chunk_id] for chunk_id in chunk_ids if chunk_id in by_id]
    if len(pieces) < len(wanted):
        logger.info("Question %s group %s: some chunks are gone", question_id, index)
    try:
        prompt = map_prompt(
            question=question.text,
            pieces=pieces,
            sources=sources,
            budget=qa_budget(runtime),
            system=QA_MAP_RULES,
        )
    except PackingError as exc:
        question_fail(
            question_id=question_id, attempt=attempt, code=ErrorCode.PACKING, message=str(exc)
        )
        return
    result = runtime.chat(prompt.messages, max_tokens=NOTE_TOKENS, temperature=0.0)
    try:
        with transaction.atomic():
            MapNote.objects.create(
                question=question, attempt=attempt, index=index, text=result.text
            )
            Question.fenced(question_id, attempt, Status.MAPPING).update(
                groups_done=F("groups_done") + 1
            )
    except IntegrityError:  # a redelivered step already wrote it
        return


def reduce_run(*, question_id: int, attempt: int) -> None:
    """The reduce step: combine the notes into the answer (in rounds if they do not fit)."""
    claimed = Question.claim(
        question_id, attempt, where=Q(status=Status.MAPPING), claimed_at=timezone.now()
    )
    if not claimed:
        return
    question = Question.objects.get(pk=question_id)
    context_map = ContextMap.from_dict(question.context_map)
    notes = useful_notes(
        list(
            MapNote.objects.filter(question=question, attempt=attempt)
            .order_by("index")
            .values_list("text", flat=True)
        )
    )
    runtime = get_runtime()
    if not notes:
        result = ChatResult(
            text=NOTHING_FOUND,
            prompt_tokens=0,
            expected_prompt_tokens=0,
            output_tokens=0,
            done_reason="stop",
            model=runtime.facts().model,
        )
        answer_save(
            question_id=question_id, attempt=attempt, result=result, context_map=context_map
        )
        return
    budget = qa_budget(runtime)
    history = thread_history(question=question)
    try:
        while True:
            batches = batch_notes(
                notes,
                question=question.text,
                budget=budget,
                system=QA_REDUCE_RULES,
                history=history,
            )
            if len(batches) == 1:
                break
            notes = [
                runtime.chat(
                    reduce_prompt(
                        question=question.text,
                        notes=[notes[i] for i in batch],
                        budget=budget,
                        system=QA_REDUCE_RULES,
                    ).messages,
                    max_tokens=NOTE_TOKENS,
                    temperature=0.0,
                ).text
                for batch in batches
            ]
        prompt = reduce_prompt(
            question=question.text,
            notes=notes,
            budget=budget,
            system=QA_REDUCE_RULES,
            history=history,
        )
        result = runtime.chat(prompt.messages, max_tokens=ANSWER_TOKENS)
    except PackingError as exc:
        question_fail(
            question_id=question_id, attempt=attempt, code=ErrorCode.PACKING, message=str(exc)
        )
        return
    except ModelRuntimeError:
        Question.fenced(question_id, attempt, Status.ANSWERING).update(
            status=Status.MAPPING
        )  # the task retries; the notes are kept
        raise
    answer_save(question_id=question_id, attempt=attempt, result=result, context_map=context_map)


# -- citations: the passage to mark on the cited page ------------------------------------

_CLAIM_START = re.compile(r"(?:[.!?]\s|\n|\])[^.!?\n\]]*$")
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n{2,}")


def claim_before(text: str, citation: Citation) -> str:
    """The words of the sentence a citation closes ("It flows [T, p. 2]." and
    "It flows. [T, p. 2]" both give "It flows")."""
    before = text[: citation.start].rstrip().rstrip(".!?")
    match = _CLAIM_START.search(before)
    claim = before[match.start() + 1 :] if match else before
    return " ".join(claim.split())[-400:]


def best_passage(page_text: str, claim: str) -> str:
    """The page's sentence sharing most words with the claim ('' when none shares two)."""
    wanted = {term for term in query_terms(claim) if len(term) > 2}
    best, best_score = "", 1
    for sentence in _SENTENCES.split(page_text):
        words = {term for term in query_terms(sentence) if len(term) > 2}
        score = len(words & wanted)
        if score > best_score:
            best, best_score = sentence, score
    return " ".join(best.split())


def _attach_passages(text: str, citations: list[Citation]) -> None:
    pages: dict[tuple[int, int], str] = {}
    wanted = {
        (c.source_id, number)
        for c in citations
        if not c.flagged and c.source_id is not None
        for number in range(c.page_start, c.page_end + 1)
    }
    if wanted:
        rows = Page.objects.filter(document_id__in={doc for doc, _ in wanted}).values_list(
            "document_id", "number", "text"
        )
        pages = {(doc, number): page for doc, number, page in rows if (doc, number) in wanted}
    for citation in citations:
        if citation.flagged or citation.source_id is None:
            continue
        claim = claim_before(text, citation)
        for number in range(citation.page_start, citation.page_end + 1):
            passage = best_passage(pages.get((citation.source_id, number), ""), claim)
            if passage:
                citation.passage = passage
                citation.passage_page = number
                break
