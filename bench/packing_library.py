"""The packing benchmark's data: a library of documents and questions with gold evidence, in
two plain JSONL formats anyone can write, and BAMBOO converted into them.

Library, one document a line: `{"id": str, "title": str, "text": str}` (text with blank lines
between paragraphs; no page breaks needed). Questions, one a line: `{"question": str,
"evidence": [str, ...], "documents": [id, ...]}` plus an optional `"kind": "lookup" | "global"`.

Each document becomes a packing Source the way ingestion makes one: pages of about
PAGE_CHARS cut between paragraphs, 400-token page-anchored chunks (workspace.chunking), and
an extractive summary (its opening sentences, up to SUMMARY_TOKENS: what "the abstract as the
summary" gives at ingest, before any model summary).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from workspace.packing import Piece, Source
from workspace.retrieval.specific import SPECIFIC_SHARE

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PAPERQA = SHARED / "qa" / "bamboo_paperqa_4k.jsonl"
DISTRACTORS = SHARED / "library" / "bamboo_distractor_papers.jsonl"
PAGE_CHARS = 3000
SUMMARY_TOKENS = 200
MIN_EVIDENCE_CHARS = 20
MAX_LINE_BYTES = 50_000_000
KINDS = ("lookup", "global")
# A sentence ends at . ! or ? followed by a space and a capital or an opening bracket.
_SENTENCE = re.compile(r"(?<=[.!?])\s(?=[A-Z(\[])")


class FormatError(ValueError):
    """A line of a library or questions file is not in the documented format."""


def norm(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str


@dataclass
class Question:
    question: str
    evidence: list[str]
    documents: list[str]
    kind: str | None = None
    gold: list[str] = field(default_factory=list)  # evidence found verbatim (normalised)


def _json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if len(line) > MAX_LINE_BYTES:
                raise FormatError(f"{path}:{number}: line longer than {MAX_LINE_BYTES:,} bytes")
            try:
                data = json.loads(line, strict=False)
            except json.JSONDecodeError as exc:
                raise FormatError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(data, dict):
                raise FormatError(f"{path}:{number}: expected a JSON object")
            yield number, data


def _string(path: Path, number: int, data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise FormatError(f"{path}:{number}: {key!r} must be a string")
    return value


def _strings(path: Path, number: int, data: dict, key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise FormatError(f"{path}:{number}: {key!r} must be a list of strings")
    return value


def read_library(path: Path) -> list[Document]:
    documents: list[Document] = []
    seen: set[str] = set()
    for number, data in _json_lines(path):
        document = Document(
            id=_string(path, number, data, "id"),
            title=_string(path, number, data, "title"),
            text=_string(path, number, data, "text"),
        )
        if document.id in seen:
            raise FormatError(f"{path}:{number}: duplicate document id {document.id!r}")
        seen.add(document.id)
        documents.append(document)
    if not documents:
        raise FormatError(f"{path}: no documents")
    return documents


def read_questions(path: Path) -> list[Question]:
    questions = []
    for number, data in _json_lines(path):
        kind = data.get("kind")
        if kind is not None and kind not in KINDS:
            raise FormatError(f"{path}:{number}: 'kind' must be one of {', '.join(KINDS)}")
        questions.append(
            Question(
                question=_string(path, number, data, "question"),
                evidence=_strings(path, number, data, "evidence"),
                documents=_strings(path, number, data, "documents"),
                kind=kind,
            )
        )
    if not questions:
        raise FormatError(f"{path}: no questions")
    return questions


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def split_sentences(text: str) -> list[str]:
    return [norm(sentence) for sentence in _SENTENCE.split(norm(text))]


def bamboo(*, with_options: bool = False) -> tuple[list[Document], list[Document], list[Question]]:
    """BAMBOO paperqa in the generic formats: its 25 distinct papers (BAMBOO gives them no
    title, so "Paper NN"), the 170 distractor papers, and the 100 questions, whose evidence
    is cut into sentences. A question is its stem, or with `with_options` the stem and its
    four answer options, one a line (the multiple-choice question as BAMBOO asks it)."""
    papers: dict[str, Document] = {}
    questions = []
    for _, data in _json_lines(PAPERQA):
        content = data["content"]
        if content not in papers:
            number = len(papers) + 1
            papers[content] = Document(f"paperqa-{number:02d}", f"Paper {number:02d}", content)
        stem = data["question"]
        options = [str(option) for option in data.get("options", [])]
        questions.append(
            Question(
                question="\n".join([stem, *options]) if with_options else stem,
                evidence=split_sentences(data["evidence"]),
                documents=[papers[content].id],
            )
        )
    distractors = [
        Document(f"distractor-{number:03d}", data["title"], data["text"])
        for number, (_, data) in enumerate(_json_lines(DISTRACTORS), start=1)
    ]
    return list(papers.values()), distractors, questions


def locate_evidence(questions: list[Question], documents: list[Document]) -> None:
    """Each question's gold: its evidence strings of at least MIN_EVIDENCE_CHARS found
    verbatim (whitespace normalised) in one of its documents (any document if none listed)."""
    texts = {document.id: norm(document.text) for document in documents}
    for question in questions:
        where = [texts[i] for i in question.documents if i in texts] or list(texts.values())
        question.gold = [
            sentence
            for sentence in (norm(item) for item in question.evidence)
            if len(sentence) >= MIN_EVIDENCE_CHARS and any(sentence in text for text in where)
        ]


def specific_questions(
    questions: list[Question], documents: list[Document], *, share: float = SPECIFIC_SHARE
) -> set[int]:
    """Positions of the questions that name something specific (workspace.retrieval.
    specific: a word in some documents but fewer than `share` of them, or words that few
    documents hold together). The others ("What is our experiment result?") could be about
    any document; the benchmark reports both groups' recall."""
    from workspace.packing.bm25 import stem, terms
    from workspace.retrieval.specific import names_something_specific, question_words

    holders: dict[str, set[int]] = defaultdict(set)
    for position, document in enumerate(documents):
        for word in set(terms(document.text, digits=True)):
            holders[word].add(position)
    return {
        position
        for position, question in enumerate(questions)
        if names_something_specific(
            {word: holders.get(stem(word), set()) for word in question_words(question.question)},
            len(documents),
            share=share,
        )
    }


def pages_of(text: str) -> list[str]:
    """Pages of about PAGE_CHARS, cut between paragraphs (blank lines; single line breaks
    are paragraphs too, as in BAMBOO's papers)."""
    pages: list[str] = []
    current: list[str] = []
    size = 0
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        if current and size + len(line) > PAGE_CHARS:
            pages.append("\n\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        pages.append("\n\n".join(current))
    return pages


def extractive_summary(pages: list[str], count: Callable[[str], int]) -> str:
    """The document's opening sentences, up to SUMMARY_TOKENS (lone heading lines skipped)."""
    if not pages:
        return ""
    paragraphs = [p for p in pages[0].split("\n\n") if len(p.split()) > 3]
    summary: list[str] = []
    for sentence in _SENTENCE.split(" ".join(paragraphs)):
        if count(" ".join([*summary, sentence])) > SUMMARY_TOKENS:
            break
        summary.append(sentence)
    return " ".join(summary)


@dataclass
class Library:
    documents: list[Document]
    sources: list[Source]
    source_of: dict[str, int]  # document id -> source id

    @property
    def tokens(self) -> int:
        return sum(source.tokens for source in self.sources)


def build_library(documents: list[Document]) -> Library:
    """Documents as packing sources: pages, 400-token chunks and an extractive summary."""
    from workspace.chunking import PageText, chunk_pages
    from workspace.runtime.tokenizer import count_tokens

    sources: list[Source] = []
    source_of: dict[str, int] = {}
    next_piece = 1
    for number, document in enumerate(documents, start=1):
        pages = pages_of(document.text)
        drafts = chunk_pages([PageText(n + 1, text) for n, text in enumerate(pages)])
        pieces = []
        for draft in drafts:
            pieces.append(
                Piece(
                    next_piece,
                    number,
                    draft.ordinal,
                    draft.text,
                    draft.token_count,
                    draft.page_start,
                    draft.page_end,
                )
            )
            next_piece += 1
        summary = extractive_summary(pages, count_tokens)
        sources.append(Source(number, document.title, tuple(pieces), summary))
        source_of[document.id] = number
    return Library(documents, sources, source_of)


def repeated(library: Library, size: int) -> list[Source]:
    """The library's sources repeated until there are `size` of them (new ids throughout):
    a large library for timing."""
    sources: list[Source] = []
    next_piece = 1
    while len(sources) < size:
        for source in library.sources:
            if len(sources) == size:
                break
            number = len(sources) + 1
            pieces = []
            for piece in source.pieces:
                pieces.append(
                    Piece(
                        next_piece,
                        number,
                        piece.ordinal,
                        piece.text,
                        piece.tokens,
                        piece.page_start,
                        piece.page_end,
                    )
                )
                next_piece += 1
            sources.append(Source(number, source.title, tuple(pieces), source.summary))
    return sources


def baseline_chunks(documents: list[Document], target: int) -> tuple[list[str], list[int]]:
    """Every document cut into chunks of about `target` tokens (the BM25 top-k baseline)."""
    from workspace.chunking import PageText, chunk_pages

    texts: list[str] = []
    tokens: list[int] = []
    for document in documents:
        pages = pages_of(document.text)
        for draft in chunk_pages(
            [PageText(n + 1, text) for n, text in enumerate(pages)], target_tokens=target
        ):
            texts.append(draft.text)
            tokens.append(draft.token_count)
    return texts, tokens
