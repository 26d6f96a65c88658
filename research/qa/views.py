"""Research Q&A pages: ask, read a thread, stream an answer (SSE), see the context map.

With JavaScript, an answer streams into the page over SSE (htmx's sse extension) straight
from the model runtime; without it, the question is answered by a worker and the page
shows the saved answer when reloaded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
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
from workspace.http import AuthedRequest, found_or_404, sse_comment, sse_event, sse_response

QUESTION_PARTIAL = "research/qa/partials/question.html"
KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 0.5


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
    form = AskForm(request.POST or None, documents=documents)
    if request.method == "POST" and form.is_valid():
        question = services.thread_start(
            owner=request.user,
            project=project,
            question=form.cleaned_data["question"],
            document_ids=form.document_ids(),
        )
        if request.htmx:  # the thread page streams the answer
            return HttpResponse(status=204, headers={"HX-Redirect": _thread_url(question)})
        services.question_enqueue(question=question)
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
    form = FollowUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        question = services.question_ask(thread=conversation, text=form.cleaned_data["question"])
        if not request.htmx:
            services.question_enqueue(question=question)
            return redirect(_thread_url(question))
        form = FollowUpForm()
    context = {
        "thread": conversation,
        "questions": selectors.question_views(thread=conversation),
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
    if services.question_retry(question=item) and not request.htmx:
        services.question_enqueue(question=item)
    if request.htmx:
        return render(request, QUESTION_PARTIAL, {"view": selectors.question_view(question=item)})
    return redirect(_thread_url(item))


@require_GET
def stream(request: AuthedRequest, question_id: int) -> StreamingHttpResponse:
    """Server-sent events: `token` events while the answer is written, then one `done`
    event carrying the question's final HTML (answer with citations, or the error)."""
    return sse_response(
        _events(
            request,
            row_for_request(
                request, selectors.question_get_for_user, "question", question_id=question_id
            ),
        )
    )


def _events(request: AuthedRequest, item: Question) -> Iterator[bytes]:
    prepared = None
    if item.status == Question.Status.QUEUED:
        prepared = services.question_prepare(question_id=item.pk, attempt=item.attempt)
    if prepared is not None and not prepared.map_reduce:
        for event in services.question_stream(prepared=prepared):
            if event.kind == "token":
                yield sse_event("token", escape(event.text))
    else:
        yield from _wait_for_other_writer(item)
    item.refresh_from_db()
    html = render_to_string(
        QUESTION_PARTIAL, {"view": selectors.question_view(question=item)}, request=request
    )
    yield sse_event("done", html)


def _wait_for_other_writer(item: Question) -> Iterator[bytes]:
    """A worker (or another tab) is writing this answer: wait for it, keeping the
    connection alive. Map-reduce progress is polled by the page instead."""
    deadline = time.monotonic() + settings.OLLAMA_TIMEOUT + 60
    last_ping = time.monotonic()
    while time.monotonic() < deadline:
        item.refresh_from_db(fields=["status"])
        if item.status != Question.Status.ANSWERING:
            return
        if time.monotonic() - last_ping > KEEPALIVE_SECONDS:
            last_ping = time.monotonic()
            yield sse_comment("still writing")
        time.sleep(POLL_SECONDS)


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
