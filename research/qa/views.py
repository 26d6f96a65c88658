"""Research Q&A pages: ask, read a thread, stream an answer (SSE), cancel, see the context map.

Every question is answered by a worker (the `qa_answer` task on the "model" queue); no
model is called here. With JavaScript, the answer streams into the page over SSE (htmx's
sse extension): the stream view only relays the question's Redis Stream, which the worker
writes. Without it, the thread page refreshes itself while a question is in flight and
shows the saved answer. Map-reduce progress is polled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import redis
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from research import access
from research.access import row_for_request
from research.library.selectors import ready_document_list_for_project
from research.models import Question
from research.qa import selectors, services
from research.qa.forms import AskForm, FollowUpForm
from research.qa.services import QuestionLimitReached
from workspace.http import AuthedRequest, found_or_404, sse_comment, sse_event
from workspace.jobs.stream_slots import sse_held_response, stream_limit_message
from workspace.jobs.streams import stream_read
from workspace.runtime import runtime_follows_instructions

logger = logging.getLogger(__name__)

QUESTION_PARTIAL = "research/qa/partials/question.html"
# The stream view waits this long for news before it sends a keepalive comment and checks
# that the question is still queued or being answered.
IDLE_MS = 2000
RELAYED = {services.TOKEN, services.RESTART}


def _thread_url(question: Question) -> str:
    return reverse("research:qa:thread", args=[question.thread_id]) + f"#question-{question.pk}"


@require_http_methods(["GET", "POST"])
def ask(request: AuthedRequest, project_id: int) -> HttpResponse:
    """A project's questions: start a new thread, or open an earlier one."""
    # A viewer may ask too (a thread of their own): a POST here needs only read access.
    project = found_or_404(
        access.project_get_for_user(user=request.user, project_id=project_id), "project"
    )
    documents = ready_document_list_for_project(project=project)
    form = AskForm(request.POST or None, documents=documents, passages_default=_passages_default())
    if request.method == "POST" and form.is_valid():
        try:
            question = services.thread_start(
                owner=request.user,
                project=project,
                question=form.cleaned_data["question"],
                document_ids=form.document_ids(),
                answer_mode=form.cleaned_data["answer_mode"],
            )
        except QuestionLimitReached as refused:
            form.add_error(None, str(refused))
        else:
            services.question_enqueue(question=question)
            if request.htmx:  # the thread page streams the answer
                return HttpResponse(status=204, headers={"HX-Redirect": _thread_url(question)})
            return redirect(_thread_url(question))
    context = {"project": project, "form": form, "documents": documents}
    if request.htmx:
        return render(request, "research/qa/partials/ask_form.html", context)
    context["threads"] = selectors.thread_list_for_project(user=request.user, project=project)
    return render(request, "research/qa/ask.html", context)


@require_http_methods(["GET", "POST"])
def thread(request: AuthedRequest, thread_id: int) -> HttpResponse:
    """A conversation: every question with its answer, and a follow-up form."""
    conversation = row_for_request(
        request, selectors.thread_get_for_user, "conversation", thread_id=thread_id
    )
    passages_default = _passages_default()
    form = FollowUpForm(request.POST or None, passages_default=passages_default)
    if request.method == "POST" and form.is_valid():
        try:
            question = services.question_ask(
                thread=conversation,
                text=form.cleaned_data["question"],
                answer_mode=form.cleaned_data["answer_mode"],
            )
        except QuestionLimitReached as refused:
            form.add_error(None, str(refused))
        else:
            services.question_enqueue(question=question)
            if not request.htmx:
                return redirect(_thread_url(question))
            form = FollowUpForm(passages_default=passages_default)
    questions = selectors.question_views(thread=conversation)
    context = {
        "thread": conversation,
        "questions": questions,
        "in_flight": any(view.question.is_active for view in questions),
        "scope": selectors.thread_scope(thread=conversation),
        "form": form,
    }
    if request.htmx:
        return render(request, "research/qa/partials/thread_body.html", context)
    return render(request, "research/qa/thread.html", context)


@require_GET
def question(request: AuthedRequest, question_id: int) -> HttpResponse:
    """One question's current state (polled while a map-reduce answer is underway)."""
    item = row_for_request(
        request, selectors.question_get_for_user, "question", question_id=question_id
    )
    if not request.htmx:
        return redirect(_thread_url(item))
    return render(request, QUESTION_PARTIAL, {"view": selectors.question_view(question=item)})


@require_POST
def retry(request: AuthedRequest, question_id: int) -> HttpResponse:
    item = row_for_request(
        request, selectors.question_get_for_user, "question", question_id=question_id
    )
    return _send(request, item, lambda: services.question_retry(question=item))


def _send(request: AuthedRequest, item: Question, ready: Callable[[], bool]) -> HttpResponse:
    """Enqueue the question when `ready()` says it may go (a retry, or a route chosen), unless
    its asker is at the in-flight limit; answer with the question's partial or the thread."""
    refusal = ""
    try:
        if ready():
            services.question_enqueue(question=item)
    except QuestionLimitReached as refused:
        refusal = str(refused)
    if request.htmx:
        view = selectors.question_view(question=item)
        return render(request, QUESTION_PARTIAL, {"view": view, "refusal": refusal})
    if refusal:
        messages.error(request, refusal)
    return redirect(_thread_url(item))


@require_POST
def write_answer(request: AuthedRequest, question_id: int) -> HttpResponse:
    """The second step of a passages answer: the model writes an answer from the same
    one-prompt plan, as a new question below it in the thread (its asker only)."""
    item = row_for_request(
        request, selectors.question_get_for_user, "question", question_id=question_id
    )
    try:
        written = services.answer_write_from_passages(question=item)
    except QuestionLimitReached as refused:
        if request.htmx:
            view = selectors.question_view(question=item)
            return render(request, QUESTION_PARTIAL, {"view": view, "refusal": str(refused)})
        messages.error(request, str(refused))
        return redirect(_thread_url(item))
    if written is None:
        return HttpResponseBadRequest("Only an answered passages question can be written up.")
    services.question_enqueue(question=written)
    if request.htmx:  # the thread page shows the new question and streams its answer
        return HttpResponse(status=204, headers={"HX-Redirect": _thread_url(written)})
    return redirect(_thread_url(written))


def _passages_default() -> bool:
    """Answers are the retrieved passages unless the active model follows instructions."""
    return not runtime_follows_instructions()


@require_POST
def choose_route(request: AuthedRequest, question_id: int) -> HttpResponse:
    """The asker's choice before a map-reduce: run it, or answer from one prompt."""
    item = row_for_request(
        request, selectors.question_get_for_user, "question", question_id=question_id
    )
    choice = request.POST.get("choice", "")
    if choice not in services.ROUTE_CHOICES:
        return HttpResponseBadRequest("Choose to run it or to answer from one prompt.")
    return _send(
        request, item, lambda: services.question_choose_route(question=item, choice=choice)
    )


@require_POST
def whole_library(request: AuthedRequest, question_id: int) -> HttpResponse:
    """Ask again, reading the whole library (the excerpts did not hold the answer): a new
    question of the thread, which shows its map-reduce cost before anything runs."""
    item = row_for_request(
        request, selectors.question_get_for_user, "question", question_id=question_id
    )
    try:
        again = services.question_ask_whole_library(question=item)
    except QuestionLimitReached as refused:
        messages.error(request, str(refused))
        return redirect(_thread_url(item))
    services.question_enqueue(question=again)
    return redirect(_thread_url(again))


@require_POST
def cancel(request: AuthedRequest, question_id: int) -> HttpResponse:
    """Stop a queued or running question (its asker only): it fails as cancelled."""
    item = row_for_request(
        request, selectors.question_get_for_user, "question", question_id=question_id
    )
    services.question_cancel(question=item)
    if request.htmx:
        return render(request, QUESTION_PARTIAL, {"view": selectors.question_view(question=item)})
    return redirect(_thread_url(item))


@require_GET
def stream(request: AuthedRequest, question_id: int) -> HttpResponse | StreamingHttpResponse:
    """Server-sent events: `token` events while the answer is written, then one `done`
    event carrying the question's final HTML (answer with citations, or the error). It
    holds one of the person's open-stream slots (CARREL_MAX_OPEN_STREAMS); past the limit,
    a message to close another tab instead (workspace/jobs/stream_slots.py)."""
    item = row_for_request(
        request, selectors.question_get_for_user, "question", question_id=question_id
    )

    def refusal() -> str:
        return render_to_string(
            "partials/stream_limit.html",
            {
                "element_id": f"question-{item.pk}",
                "classes": "stack-tight",
                "message": stream_limit_message(),
                "href": _thread_url(item),
                "reload_url": reverse("research:qa:question", args=[item.pk]),
            },
            request=request,
        )

    return sse_held_response(request, _events(request, item), refusal=refusal)


def _events(request: AuthedRequest, item: Question) -> Iterator[bytes]:
    """Relay the worker's stream (from its start: a page opened late sees it all) while the
    question is queued or being answered, then one `done` event with the question's HTML
    (a map-reduce answer's is its polled progress)."""
    try:
        yield from _relay(item, block_ms=IDLE_MS if item.status in WAITING else 1)
    except redis.RedisError:  # the page shows the question as it stands, and may reload
        logger.warning("Could not read the stream of question %s", item.pk)
    item.refresh_from_db()
    html = render_to_string(
        QUESTION_PARTIAL, {"view": selectors.question_view(question=item)}, request=request
    )
    yield sse_event("done", html)


WAITING = (Question.Status.QUEUED, Question.Status.ANSWERING)


def _relay(item: Question, *, block_ms: int) -> Iterator[bytes]:
    """The stream's `token` and `restart` entries as events, until it ends; while it is
    idle, a keepalive comment, and a stop once the question is no longer waiting (its
    writer ended without saying so, or it went to map-reduce)."""
    entries = stream_read(
        kind=services.STREAM_KIND,
        item_id=item.pk,
        block_ms=block_ms,
        timeout_seconds=settings.OLLAMA_TIMEOUT + 60,
    )
    for entry in entries:
        if entry.idle:
            if not Question.objects.filter(pk=item.pk, status__in=WAITING).exists():
                return
            yield sse_comment("waiting for the model")
        elif entry.event in RELAYED:
            yield sse_event(entry.event, escape(entry.data))


@require_GET
def context_map(request: AuthedRequest, question_id: int) -> HttpResponse:
    """What the model saw for this answer: the context map, as a page or as JSON."""
    item = row_for_request(
        request, selectors.question_get_for_user, "question", question_id=question_id
    )
    if request.GET.get("format") == "json":
        return JsonResponse(item.context_map or {}, json_dumps_params={"indent": 2})
    view = selectors.context_map_for_question(question=item)
    return render(request, "research/qa/context_map.html", {"question": item, "view": view})
