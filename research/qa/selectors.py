"""Reads for research Q&A. Every selector that takes a user filters by access
(research/access.py): a project's threads are readable by everyone who may read the
project; follow-ups and retries (`write=True`) belong to the thread's asker."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils import timezone

from research import access
from research.citations import Citation, citations_from_json
from research.library.bibliography import citation_labels_for_project
from research.library.selectors import ready_document_list_for_project
from research.models import Answer, Chunk, Document, Project, Question, Thread
from research.qa.noanswer import answer_says_not_found
from research.qa.passages import quotes_of
from workspace.packing import LEFT_OUT_REASONS, ContextMap, Piece, Source
from workspace.packing.cost import PlanCost, plan_cost
from workspace.packing.layout import page_label
from workspace.runtime.speed import plan_cost_timed

ONE_PROMPT = "one_prompt"  # Question.route_choice of a question written from passages

Viewer = User | AnonymousUser


def packing_sources_for_documents(*, document_ids: Sequence[int]) -> list[Source]:
    """Documents as packing sources (chunks in reading order), in a fixed order — the
    order they were added — so prompts over the same documents share their prefix."""
    documents = list(
        Document.objects.filter(id__in=document_ids)
        .order_by("created_at", "id")
        .values_list("id", "title", "summary", "abstract", "project_id")
    )
    # Sources are cited by "Author Year" where known (research/library/bibliography.py);
    # the abstract stands in for a summary the model has not written yet.
    labels: dict[int, str] = {}
    for project_id in {doc[4] for doc in documents}:
        labels.update(citation_labels_for_project(project_id=project_id))
    pieces: dict[int, list[Piece]] = defaultdict(list)
    rows = (
        Chunk.objects.filter(document_id__in=[doc[0] for doc in documents])
        .order_by("document_id", "ordinal")
        .values_list(
            "id", "document_id", "ordinal", "text", "token_count", "page_start", "page_end"
        )
    )
    for chunk_id, document_id, ordinal, text, tokens, page_start, page_end in rows.iterator(
        chunk_size=2000
    ):
        pieces[document_id].append(
            Piece(chunk_id, document_id, ordinal, text, tokens, page_start, page_end)
        )
    return [
        Source(
            id=doc_id,
            title=labels.get(doc_id) or title,
            pieces=tuple(pieces[doc_id]),
            summary=_summary_with_title(title, labels.get(doc_id), summary or abstract),
        )
        for doc_id, title, summary, abstract, _project_id in documents
    ]


def _summary_with_title(title: str, label: str | None, summary: str) -> str:
    """A source cited as "Author Year" still carries its full title in its summary block,
    so that retrieval and question routing that name a paper by its title still find it."""
    if not label or label == title or not title:
        return summary
    return f"{title}. {summary}" if summary else title


def document_list_for_thread(*, thread: Thread) -> QuerySet[Document]:
    """The thread's documents that can be asked about now, in their fixed order."""
    documents = ready_document_list_for_project(project=thread.project)
    if thread.document_ids:
        documents = documents.filter(id__in=thread.document_ids)
    return documents


def thread_history(*, question: Question) -> list[tuple[str, str]]:
    """Earlier answered (question, answer) pairs of the question's thread, oldest first.
    Passages answers are evidence, not conversation: they are left out (the question that
    follows packs its own passages)."""
    earlier = (
        Question.objects.filter(
            thread_id=question.thread_id,
            status=Question.Status.DONE,
            answer_mode=Question.AnswerMode.GENERATED,
            id__lt=question.pk,
        )
        .select_related("answer")
        .order_by("id")
    )
    return [(item.text, item.answer.text) for item in earlier if hasattr(item, "answer")]


def question_in_flight_count(*, user: User) -> int:
    """How many of the user's own questions are queued or being answered now (one left
    untouched for Question.STALE_AFTER is presumed dead and no longer counts)."""
    fresh = timezone.now() - Question.STALE_AFTER
    return Question.objects.filter(
        thread__owner=user, status__in=Question.ACTIVE, updated_at__gte=fresh
    ).count()


def thread_list_for_project(*, user: Viewer, project: Project) -> QuerySet[Thread]:
    threads = Thread.objects.filter(project=project).select_related("owner")
    return access.scoped_for_user(threads, user=user, through="project").annotate(
        question_count=Count("questions")
    )


def thread_get_for_user(*, user: Viewer, thread_id: int, write: bool = False) -> Thread | None:
    """A thread of a project the user may read, or None. With `write` (a follow-up, a
    retry) only its asker may go on: anyone else gets PermissionDenied."""
    threads = Thread.objects.select_related("project")
    thread = access.object_for_user(threads, user=user, pk=thread_id, through="project")
    if thread is not None and write:
        access.thread_require_asker(user=user, thread=thread)
    return thread


def question_get_for_user(
    *, user: Viewer, question_id: int, write: bool = False
) -> Question | None:
    questions = Question.objects.select_related("thread", "thread__project", "answer")
    question = access.object_for_user(
        questions, user=user, pk=question_id, through="thread__project"
    )
    if question is not None and write:
        access.thread_require_asker(user=user, thread=question.thread)
    return question


def question_list_for_thread(*, thread: Thread) -> QuerySet[Question]:
    return thread.questions.select_related("answer").order_by("created_at", "id")


def answer_get_for_user(*, user: Viewer, answer_id: int, write: bool = False) -> Answer | None:
    """With `write` (making cards from it), PermissionDenied unless the user may change
    the project."""
    answers = Answer.objects.select_related("question__thread__project")
    return access.object_for_user(
        answers, user=user, pk=answer_id, through="question__thread__project", write=write
    )


@dataclass(frozen=True)
class Segment:
    """A run of answer text, or one citation in it (with its link and any flag)."""

    text: str
    citation: Citation | None = None
    url: str = ""
    index: int = 0


def answer_segments(*, answer: Answer) -> list[Segment]:
    """The answer cut into text and citations, in order, for the template to render."""
    citations = citations_from_json(answer.citations)
    segments: list[Segment] = []
    position = 0
    for index, citation in enumerate(citations):
        if citation.start < position:  # another citation from the same bracket
            segments.append(Segment("", citation, _citation_url(citation), index))
            continue
        if citation.start > position:
            segments.append(Segment(answer.text[position : citation.start]))
        segments.append(Segment(citation.label, citation, _citation_url(citation), index))
        position = citation.end
    if position < len(answer.text):
        segments.append(Segment(answer.text[position:]))
    return segments


def _citation_url(citation: Citation) -> str:
    if citation.flagged or citation.source_id is None:
        return ""
    page = citation.passage_page or citation.page_start
    url = reverse("research:page_detail", args=[citation.source_id, page])
    if citation.passage:
        url += "?" + urlencode({"q": citation.passage}) + "#cited"
    return url


@dataclass(frozen=True)
class ContextMapView:
    """A stored context map, ready for the page that shows what the model saw."""

    context_map: ContextMap
    reasons: dict[str, str]

    @property
    def used_share(self) -> float:
        limit = self.context_map.prompt_limit or 1
        return self.context_map.prompt_tokens / limit


def context_map_for_question(*, question: Question) -> ContextMapView | None:
    if not question.context_map:
        return None
    return ContextMapView(ContextMap.from_dict(question.context_map), dict(LEFT_OUT_REASONS))


# An active question untouched for this long is presumed dead (its writer crashed or the
# reader left mid-answer in a way nobody noticed) and may be retried.
STALE_AFTER = timedelta(minutes=12)


@dataclass(frozen=True)
class QuestionView:
    """Everything the question partial shows."""

    question: Question
    answer: Answer | None
    segments: list[Segment]
    flagged: list[Citation]
    can_retry: bool
    cost: PlanCost | None = None  # what a map-reduce would cost, while the asker chooses
    # The answer says the excerpts it was given did not hold the answer: offer to read the
    # whole library (a new question routed to map-reduce, cost shown first).
    offers_whole_library: bool = False
    passages: list[PassageView] = field(default_factory=list)  # a passages answer's quotes
    from_passages: bool = False  # written by the model from the passages just above

    @property
    def is_passages(self) -> bool:
        return self.question.answer_mode == Question.AnswerMode.PASSAGES

    @property
    def status(self) -> str:
        return self.question.status

    @property
    def polls(self) -> bool:
        """A map-reduce answer underway: the page polls its progress."""
        return self.question.is_active and (
            self.question.status == Question.Status.MAPPING
            or self.question.strategy == "map_reduce"
        )

    @property
    def streams(self) -> bool:
        return self.question.is_active and not self.polls

    @property
    def progress(self) -> float | None:
        total = self.question.groups_total
        return self.question.groups_done / total if total else None

    @property
    def progress_detail(self) -> str:
        total = self.question.groups_total
        return f"{self.question.groups_done} of {total} parts read" if total else ""

    @property
    def strategy_label(self) -> str:
        return STRATEGY_LABELS.get(self.question.strategy, "")


STRATEGY_LABELS = {
    "fits": "full text of every document",
    "near_edge": "summaries and the most relevant excerpts",
    "map_reduce": "read part by part, then combined",
}


@dataclass(frozen=True)
class PassageView:
    """One quoted passage of a passages answer, with its document and page link."""

    number: int
    quote: str
    label: str  # how the document is cited (Author Year, or its title)
    title: str  # the document's full title ("" when it is the label, or gone)
    pages: str  # "p. 3" or "pp. 3-4"
    url: str


def passage_views(*, answer: Answer) -> list[PassageView]:
    citations = citations_from_json(answer.citations)
    ids = {citation.source_id for citation in citations if citation.source_id is not None}
    titles = dict(Document.objects.filter(id__in=ids).values_list("id", "title"))
    views = []
    for number, (citation, quote) in enumerate(
        zip(citations, quotes_of(answer.text, citations), strict=True), start=1
    ):
        title = titles.get(citation.source_id, "") if citation.source_id is not None else ""
        views.append(
            PassageView(
                number=number,
                quote=quote,
                label=citation.title,
                title="" if title == citation.title else title,
                pages=page_label(citation.page_start, citation.page_end),
                url=_citation_url(citation),
            )
        )
    return views


def question_view(*, question: Question, from_passages: bool = False) -> QuestionView:
    answer = getattr(question, "answer", None) if question.status == Question.Status.DONE else None
    citations = citations_from_json(answer.citations) if answer else []
    passages = question.answer_mode == Question.AnswerMode.PASSAGES
    stale = question.is_active and question.updated_at < timezone.now() - STALE_AFTER
    cost = None
    if question.status == Question.Status.CONFIRM and question.context_map:
        cost = plan_cost_timed(plan_cost(ContextMap.from_dict(question.context_map)))
    return QuestionView(
        question=question,
        answer=answer,
        segments=answer_segments(answer=answer) if answer else [],
        flagged=[citation for citation in citations if citation.flagged],
        can_retry=question.status == Question.Status.FAILED or stale,
        cost=cost,
        offers_whole_library=answer is not None
        and not passages
        and question.strategy in READ_PART_OF_THE_LIBRARY
        and answer_says_not_found(answer.text, citations),
        passages=passage_views(answer=answer) if answer and passages else [],
        from_passages=from_passages,
    )


# Strategies whose prompt held only part of the library (summaries and excerpts): full
# text ("fits") and map-reduce read everything already.
READ_PART_OF_THE_LIBRARY = ("near_edge",)


def question_views(*, thread: Thread) -> list[QuestionView]:
    """Every question of the thread; one asked again from the passages answer just above it
    (services.answer_write_from_passages) says so."""
    views: list[QuestionView] = []
    previous: Question | None = None
    for item in question_list_for_thread(thread=thread):
        from_passages = (
            previous is not None
            and previous.answer_mode == Question.AnswerMode.PASSAGES
            and item.answer_mode == Question.AnswerMode.GENERATED
            and item.route_choice == ONE_PROMPT
            and item.text == previous.text
        )
        views.append(question_view(question=item, from_passages=from_passages))
        previous = item
    return views


@dataclass(frozen=True)
class Scope:
    everything: bool
    titles: list[str]


def thread_scope(*, thread: Thread) -> Scope:
    if not thread.document_ids:
        return Scope(everything=True, titles=[])
    titles = Document.objects.filter(project=thread.project, id__in=thread.document_ids).order_by(
        "created_at", "id"
    )
    return Scope(everything=False, titles=list(titles.values_list("title", flat=True)))
