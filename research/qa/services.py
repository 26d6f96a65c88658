"""Writes for research Q&A: asking, answering in a task, cancelling, map-reduce steps.

A question is a claimable row (workspace/models.py), always answered by the `qa_answer`
task (tasks.py, sent here by its name) on the interactive "model" queue: no model is ever
called in the web process. The task claims the row (queued → answering, same attempt),
packs the prompt, and streams the answer's tokens into the question's Redis Stream
(workspace/jobs/streams.py, kind "question"), which the page's SSE view relays; the stream
ends once the answer is saved, or the question failed. Packing happens at claim time, so
the stored context map is exactly what the model saw. Every write after a claim checks the
attempt (a retry bumps it), so work left over from an older attempt changes nothing.

Cancelling sets the stream's cancel flag and fails the question (code "cancelled"); the
writer checks the flag between chunks, map steps and the reduce step before each model
call. A person has at most `CARREL_MAX_QUESTIONS_IN_FLIGHT` questions queued or being
answered at once (`QuestionLimitReached`).
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
from celery import chord
from celery.canvas import Signature
from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from research.citations import Citation, check_citations
from research.library.search import documents_holding_words, query_terms
from research.library.vectors import chunk_retriever
from research.models import Answer, MapNote, Page, Project, Question, Thread
from research.qa.passages import PASSAGES_SHOWN, best_pieces, passages_text, quote_piece
from research.qa.selectors import (
    ONE_PROMPT,
    document_list_for_thread,
    packing_sources_for_documents,
    question_in_flight_count,
    thread_history,
)
from workspace.jobs import JobError, enqueue_on_commit, error_code_for, task_signature
from workspace.jobs.caps import user_row_lock
from workspace.jobs.streams import (
    stream_cancel,
    stream_cancelled,
    stream_end,
    stream_publish,
    stream_reset,
)
from workspace.packing import (
    MAP_RULES,
    Budget,
    ContextMap,
    PackingError,
    Ranked,
    RecordingRetriever,
    Source,
    batch_notes,
    map_prompt,
    pack,
    reduce_prompt,
    useful_notes,
)
from workspace.retrieval.specific import MIN_DOCUMENTS, question_words, vague_question_note
from workspace.runtime import get_runtime
from workspace.runtime.errors import ModelRuntimeError
from workspace.runtime.speed import model_speed_record
from workspace.runtime.types import ChatResult, Message, ModelRuntime

logger = logging.getLogger(__name__)

Status = Question.Status
AnswerMode = Question.AnswerMode
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
# The question's live output (workspace/jobs/streams.py): `token` pieces of the answer,
# `restart` when a model error gives the question back for the task to try again (a reader
# clears what it showed), `status` when the question went to map-reduce (polled instead).
STREAM_KIND = "question"
TOKEN = "token"
RESTART = "restart"
STATUS = "status"
# How often the writer checks that the question is still its own (a retry or a stale
# restart took it over): between these checks it only looks at the cancel flag.
FENCE_CHECK_SECONDS = 0.5
CANCELLED_MESSAGE = "You cancelled this question before it was answered."
PASSAGES_ROUTE_REASON = (
    "the passages answer: the best passages of the one-prompt plan (summaries and the most "
    "relevant excerpts), quoted as they stand, with no model call"
)
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
    answer_mode: str = AnswerMode.GENERATED,
) -> Question:
    """A new thread over the chosen documents (none chosen: the whole project)."""
    with transaction.atomic():
        thread = Thread.objects.create(
            owner=owner,
            project=project,
            title=_title(question),
            document_ids=sorted({int(i) for i in document_ids}),
        )
        return question_ask(thread=thread, text=question, answer_mode=answer_mode)


class QuestionLimitReached(Exception):
    """The person already has as many questions in flight as one may (nothing was saved)."""


def question_capacity_check(*, user: User) -> None:
    """Raise QuestionLimitReached when `user` may not start one more question now."""
    limit = settings.CARREL_MAX_QUESTIONS_IN_FLIGHT
    if limit <= 0:
        return
    in_flight = question_in_flight_count(user=user)
    if in_flight >= limit:
        raise QuestionLimitReached(
            f"You already have {in_flight} question{'s' if in_flight != 1 else ''} being "
            f"answered (at most {limit} at once). Wait for one to finish, or cancel one, "
            "then ask again: your question is still in the form."
        )


def question_ask(
    *, thread: Thread, text: str, answer_mode: str = AnswerMode.GENERATED, route_choice: str = ""
) -> Question:
    """Add a question to a thread; it waits for the `qa_answer` task (question_enqueue).
    `answer_mode` "passages" answers it with the retrieved passages, no model call.
    QuestionLimitReached (and nothing saved) when the asker has too many in flight."""
    if answer_mode not in AnswerMode.values:
        raise ValueError(f"unknown answer mode {answer_mode!r}")
    with transaction.atomic():
        user_row_lock(user_id=thread.owner_id)
        question_capacity_check(user=thread.owner)
        question = Question.objects.create(
            thread=thread, text=text.strip(), answer_mode=answer_mode, route_choice=route_choice
        )
        Thread.objects.filter(pk=thread.pk).update(updated_at=timezone.now())
    return question


def answer_write_from_passages(*, question: Question) -> Question | None:
    """The optional second step of a passages answer: the same question, asked again in
    its thread for a generated answer from the same one-prompt plan (the route choice
    "one_prompt" packs it exactly as the passages were chosen). None when `question` is
    not an answered passages question. The caller sends it (question_enqueue);
    QuestionLimitReached over the in-flight cap."""
    if question.answer_mode != AnswerMode.PASSAGES or question.status != Status.DONE:
        return None
    return question_ask(
        thread=question.thread,
        text=question.text,
        answer_mode=AnswerMode.GENERATED,
        route_choice=ONE_PROMPT,
    )


def answer_signature(*, question_id: int, attempt: int) -> Signature:
    return task_signature(ANSWER_TASK, question_id, attempt, queue=MODEL_QUEUE)


def question_enqueue(*, question: Question) -> None:
    """Have a worker answer it, streaming into a fresh stream (an earlier attempt's output
    and cancel flag are forgotten first)."""
    question_id, attempt = question.pk, question.attempt
    try:
        stream_reset(kind=STREAM_KIND, item_id=question_id)
    except redis.RedisError:  # the broker is Redis too: sending will fail and say so
        logger.warning("Could not reset the stream of question %s", question_id)
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
    """Start a failed (or stuck) question again as a new attempt; False if it cannot be.
    QuestionLimitReached when the asker has too many questions in flight already. The
    caller sends it to a worker (question_enqueue)."""
    if question.status == Status.FAILED:
        question_capacity_check(user=question.thread.owner)
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
    sources: list[Source] = field(default_factory=list)
    ranking: list[Ranked] = field(default_factory=list)  # the retriever's, best first

    @property
    def map_reduce(self) -> bool:
        return self.context_map.strategy == "map_reduce"


def question_claim(*, question_id: int, attempt: int) -> bool:
    return Question.claim(question_id, attempt, claimed_at=timezone.now())


def question_release(*, question_id: int, attempt: int) -> bool:
    """Give a claimed question back (its model call failed and the task will try again)."""
    return Question.release(question_id, attempt, claimed_at=None)


def question_fail(*, question_id: int, attempt: int, code: str, message: str) -> bool:
    """Fail the attempt with the error's code and words, and end its stream (readers show
    the error); False if the attempt was no longer current or active."""
    failed = Question.fail(question_id, attempt, code=code, error=message)
    if failed:
        _end_stream(question_id)
    return failed


def question_cancel(*, question: Question) -> bool:
    """Stop a queued or running question: its writer (or map-reduce step) sees the flag at
    its next chunk or model call and stops; the question fails as cancelled, and Retry
    starts it again. False when it was no longer running."""
    if question.status not in Question.ACTIVE:
        return False
    stream_cancel(kind=STREAM_KIND, item_id=question.pk)
    cancelled = Question.fail(
        question.pk, question.attempt, code=ErrorCode.CANCELLED, error=CANCELLED_MESSAGE
    )
    if cancelled:
        _end_stream(question.pk)
    question.refresh_from_db()
    return cancelled


def question_cancelled(*, question_id: int) -> bool:
    return stream_cancelled(kind=STREAM_KIND, item_id=question_id)


def _publish(question_id: int, event: str, data: str = "") -> None:
    stream_publish(kind=STREAM_KIND, item_id=question_id, event=event, data=data)


def _end_stream(question_id: int) -> None:
    """End the question's stream so readers stop (a Redis outage is logged, not raised:
    the readers also stop once the row is no longer active)."""
    try:
        stream_end(kind=STREAM_KIND, item_id=question_id)
    except redis.RedisError:
        logger.warning("Could not end the stream of question %s", question_id)


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
    choice = question.route_choice
    passages = question.answer_mode == AnswerMode.PASSAGES
    # The passages are chosen from the one-prompt plan, packed as a generated answer with
    # route choice "one_prompt" would be: "write an answer from these passages" sees them.
    one_prompt = choice == ONE_PROMPT or passages
    retriever = RecordingRetriever(chunk_retriever())
    try:
        result = pack(
            question=question.text,
            sources=sources,
            budget=budget,
            system=QA_RULES,
            history=history,
            query=query,
            retriever=retriever,
            map_system=QA_MAP_RULES,
            route="map_reduce"
            if choice in (RUN_MAP_REDUCE, WHOLE_LIBRARY) and not passages
            else None,
            strategy="near_edge" if one_prompt else None,
        )
    except PackingError as exc:
        question_fail(
            question_id=question_id, attempt=attempt, code=ErrorCode.PACKING, message=str(exc)
        )
        return None
    context_map = result.context_map
    if passages:
        context_map.route_reason = PASSAGES_ROUTE_REASON
    if context_map.route == "lookup" and len(document_ids) >= MIN_DOCUMENTS:
        # The words retrieval ranked by: a follow-up's include the question before it.
        holders = documents_holding_words(words=question_words(query), document_ids=document_ids)
        context_map.vague_note = vague_question_note(holders, len(document_ids))
    fields: dict[str, object] = {
        "context_map": context_map.to_dict(),
        "strategy": context_map.strategy,
    }
    confirmed = choice == RUN_MAP_REDUCE
    if context_map.strategy == "map_reduce":
        fields.update(
            status=Status.MAPPING if confirmed else Status.CONFIRM,
            groups_total=len(context_map.groups),
            groups_done=0,
        )
    if not Question.fenced(question_id, attempt, Status.ANSWERING).update(**fields):
        return None
    question.refresh_from_db()
    if context_map.strategy == "map_reduce" and confirmed:
        _start_map_reduce(question_id, attempt, len(context_map.groups))
    return Prepared(question, result.messages, context_map, runtime, sources, retriever.ranking)


RUN_MAP_REDUCE = "map_reduce"
ROUTE_CHOICES = (RUN_MAP_REDUCE, ONE_PROMPT)
# Asked again to read the whole library (the excerpts did not hold the answer): packed as
# map-reduce, then it waits for the asker's choice with its cost, like any map-reduce.
WHOLE_LIBRARY = "whole_library"


def question_ask_whole_library(*, question: Question) -> Question:
    """Ask `question` again in its thread, to be answered by reading the whole library
    (map-reduce, its cost shown first). The caller sends it (question_enqueue);
    QuestionLimitReached when the asker has too many questions in flight."""
    with transaction.atomic():
        again = question_ask(thread=question.thread, text=question.text)
        Question.objects.filter(pk=again.pk).update(route_choice=WHOLE_LIBRARY)
    again.route_choice = WHOLE_LIBRARY
    return again


def question_choose_route(*, question: Question, choice: str) -> bool:
    """The asker's answer to "run the map-reduce, or answer from one prompt?": the question
    is queued again with the choice (the caller sends it, question_enqueue). False when it
    was not waiting for a choice; QuestionLimitReached over the in-flight cap."""
    if choice not in ROUTE_CHOICES:
        raise ValueError(f"unknown route choice {choice!r}")
    if question.status != Status.CONFIRM:
        return False
    question_capacity_check(user=question.thread.owner)
    chosen = Question.fenced(question.pk, question.attempt, Status.CONFIRM).update(
        status=Status.QUEUED, route_choice=choice, claimed_at=None
    )
    question.refresh_from_db()
    return bool(chosen)


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


def _drop_dead_connection() -> None:
    """Close this thread's database connection if it no longer answers (a new one opens at
    the next query). Never inside a transaction, whose work would be lost with it."""
    open_outside_a_transaction = (
        connection.connection is not None and not connection.in_atomic_block
    )
    if open_outside_a_transaction and not connection.is_usable():
        connection.close()


def answer_save(
    *, question_id: int, attempt: int, result: ChatResult, context_map: ContextMap
) -> Answer | None:
    """Store the answer with its checked citations; None if the attempt is no longer current.

    A model call can outlast the worker's database connection (the server restarted, a
    proxy's idle timeout): a connection that no longer answers is dropped first, so the
    answer is written on a new one instead of being lost. The attempt fence keeps that safe:
    if another worker took the question meanwhile, nothing is written."""
    _drop_dead_connection()
    model_speed_record(result=result)
    citations = check_citations(result.text, context_map)
    _attach_passages(result.text, citations)
    return _answer_store(
        question_id,
        attempt,
        text=result.text,
        citations=citations,
        model=result.model,
        prompt_tokens=result.expected_prompt_tokens,
        output_tokens=result.output_tokens,
        hit_output_cap=result.hit_output_cap,
    )


def _answer_store(
    question_id: int, attempt: int, *, text: str, citations: list[Citation], **fields: object
) -> Answer | None:
    """Mark the attempt answered and store its answer, in one transaction."""
    with transaction.atomic():
        done = Question.fenced(question_id, attempt, Status.ANSWERING)
        if not done.update(status=Status.DONE, error="", error_code=""):
            return None
        answer, _ = Answer.objects.update_or_create(
            question_id=question_id,
            defaults={
                "text": text,
                "citations": [citation.to_dict() for citation in citations],
                "flagged_count": sum(citation.flagged for citation in citations),
                **fields,
            },
        )
        Thread.objects.filter(questions__pk=question_id).update(updated_at=timezone.now())
    return answer


def passages_save(*, prepared: Prepared) -> Answer | None:
    """Answer with the evidence itself (research/qa/passages.py): the one-prompt plan's
    best passages, quoted with their pages, no model call. None if the attempt is no
    longer current."""
    question = prepared.question
    pieces = {piece.id: piece for source in prepared.sources for piece in source.pieces}
    titles = {source.id: source.title for source in prepared.sources}
    chosen = best_pieces(
        context_map=prepared.context_map,
        ranking=prepared.ranking,
        pieces=pieces,
        query=question.text,
        limit=PASSAGES_SHOWN,
    )
    wanted = {
        (piece.source_id, number)
        for piece in chosen
        for number in range(piece.page_start, piece.page_end + 1)
    }
    page_texts: dict[int, dict[int, str]] = defaultdict(dict)
    rows = Page.objects.filter(
        document_id__in={document for document, _ in wanted},
        number__in={number for _, number in wanted},
    ).values_list("document_id", "number", "text")
    for document_id, number, page_text in rows:
        if (document_id, number) in wanted:
            page_texts[document_id][number] = page_text
    quotes = [
        quote_piece(
            piece,
            title=titles[piece.source_id],
            query=question.text,
            page_texts=page_texts[piece.source_id],
        )
        for piece in chosen
    ]
    text, citations = passages_text(quote for quote in quotes if quote is not None)
    return _answer_store(question.pk, question.attempt, text=text, citations=citations)


def question_answer(*, question_id: int, attempt: int) -> None:
    """The `qa_answer` task's work: claim, pack, and either stop at map-reduce (the page
    shows its cost and asks whether to run it; once chosen, the page polls its progress)
    or stream the answer into the question's stream and save it.
    Model errors propagate to the task (after giving the question back), which retries
    or records them."""
    prepared = question_prepare(question_id=question_id, attempt=attempt)
    if prepared is None:
        if Question.fenced(question_id, attempt, Status.FAILED).exists():
            _end_stream(question_id)  # it failed while packing: readers show why
        return
    if prepared.question.answer_mode == AnswerMode.PASSAGES:
        if passages_save(prepared=prepared) is not None:
            _end_stream(question_id)
        return
    if prepared.map_reduce:
        _publish(question_id, STATUS, prepared.question.status)
        _end_stream(question_id)
        return
    _stream_answer(prepared)


def _still_ours(question_id: int, attempt: int) -> bool:
    return Question.fenced(question_id, attempt, Status.ANSWERING).exists()


def _stream_answer(prepared: Prepared) -> None:
    """Publish each piece of the answer as it comes, then save it (and end the stream).
    Stops at once, writing nothing more, when the question is cancelled or no longer
    this attempt's."""
    question_id, attempt = prepared.question.pk, prepared.question.attempt
    chunks = prepared.runtime.stream_chat(prepared.messages, max_tokens=ANSWER_TOKENS)
    next_check = time.monotonic() + FENCE_CHECK_SECONDS
    saved = False
    try:
        for chunk in chunks:
            if question_cancelled(question_id=question_id):
                logger.info("Question %s was cancelled mid-answer", question_id)
                return  # the canceller failed the question and ended the stream
            if time.monotonic() >= next_check:
                if not _still_ours(question_id, attempt):
                    return
                next_check = time.monotonic() + FENCE_CHECK_SECONDS
            if chunk.text:
                _publish(question_id, TOKEN, chunk.text)
            if chunk.done and chunk.result is not None:
                saved = (
                    answer_save(
                        question_id=question_id,
                        attempt=attempt,
                        result=chunk.result,
                        context_map=prepared.context_map,
                    )
                    is not None
                )
    except ModelRuntimeError:
        if question_release(question_id=question_id, attempt=attempt):
            _publish(question_id, RESTART)  # what was shown so far is void
        raise
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # stops the model's generation when we leave early
    if saved:
        _end_stream(question_id)
        return
    question_fail(
        question_id=question_id,
        attempt=attempt,
        code=ErrorCode.INTERRUPTED,
        message="The model stopped without finishing the answer.",
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
    if question_cancelled(question_id=question_id):
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
    model_speed_record(result=result)
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
    if not claimed or question_cancelled(question_id=question_id):
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
            if question_cancelled(question_id=question_id):
                return
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
        if question_cancelled(question_id=question_id):
            return
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
