"""Route by question, not by library size.

A look-up question (the answer is somewhere in the library) is answered from one prompt
whatever the library's size: the most relevant documents, then their best passages. A
question about every document ("summarize each paper", "compare all the methods", "list
every data set") is answered from the stored summaries when they are enough, and by
map-reduce only when they are not. The person can always choose otherwise (`pack(kind=...)`
or `pack(route="map_reduce")`: "read the whole library").

The rule that tells the two kinds apart is a short table of cue words, so the context map
can say exactly which words decided it; no model call, no pattern matching on the text
beyond splitting it into words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from workspace.packing.types import Budget, Strategy

QuestionKind = Literal["lookup", "global"]
KINDS: tuple[QuestionKind, ...] = ("lookup", "global")
Route = Literal["full_text", "lookup", "summaries", "map_reduce"]
ROUTES: tuple[Route, ...] = ("full_text", "lookup", "summaries", "map_reduce")
STRATEGY_OF_ROUTE: dict[Route, Strategy] = {
    "full_text": "fits",
    "lookup": "near_edge",
    "summaries": "near_edge",
    "map_reduce": "map_reduce",
}

# Words that name a library's documents (plural, then singular) or the library itself.
PLURAL_NOUNS = frozenset(
    """papers documents articles sources studies books chapters files reports publications
    texts""".split()  # noqa: SIM905
)
LIBRARY_NOUNS = frozenset({"library", "collection", "corpus", "project", "literature"})
COLLECTION_NOUNS = (
    PLURAL_NOUNS
    | LIBRARY_NOUNS
    | frozenset(
        """paper document article source study book chapter file report publication
        text""".split()  # noqa: SIM905
    )
)
QUANTIFIERS = frozenset({"each", "every", "all"})
# Verbs that ask for something of every item once they are followed by a quantifier.
ENUMERATING_VERBS = frozenset(
    """list enumerate summarize summarise compare contrast rank tabulate catalogue catalog
    overview survey""".split()  # noqa: SIM905
)
COMPARING_VERBS = frozenset({"compare", "contrast", "differ", "differences", "similarities"})
WHOLE = frozenset({"whole", "entire"})
SPREAD = frozenset({"across", "throughout"})
INTERROGATIVES = frozenset({"which", "what"})
FILLERS = frozenset({"the", "of", "these", "those", "my", "our", "your", "this", "all"})
LOOKAHEAD = 3  # words a cue may reach forward

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Classification:
    kind: QuestionKind
    reason: str
    decided_by: Literal["rule", "caller"] = "rule"


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _names_collection(
    words: list[str], start: int, *, plural_only: bool = False, whole_only: bool = False
) -> str | None:
    """The collection noun within LOOKAHEAD words of `start` (fillers skipped), if any.
    `plural_only`: documents in the plural; `whole_only`: those or the library itself
    ("throughout the paper" is about one paper, "throughout the papers" about all)."""
    nouns = COLLECTION_NOUNS
    if plural_only:
        nouns = PLURAL_NOUNS
    elif whole_only:
        nouns = PLURAL_NOUNS | LIBRARY_NOUNS
    for word in words[start : start + LOOKAHEAD + 1]:
        if word in nouns:
            return word
        if word not in FILLERS:
            return None
    return None


def _global_cue(words: list[str]) -> str | None:
    """The words that make a question global, quoted, or None."""
    for i, word in enumerate(words):
        following = words[i + 1 : i + 1 + LOOKAHEAD]
        if word in QUANTIFIERS:
            noun = _names_collection(words, i + 1)
            if noun:
                return f'"{word} … {noun}"'
        if word in ENUMERATING_VERBS:
            quantifier = next((w for w in following if w in QUANTIFIERS), None)
            if quantifier:
                return f'"{word} {quantifier}"'
            noun = _names_collection(words, i + 1, plural_only=True)
            if noun:
                return f'"{word} … {noun}"'
        if word in WHOLE or word in SPREAD:
            noun = _names_collection(words, i + 1, whole_only=True)
            if noun:
                return f'"{word} … {noun}"'
        if word == "how" and following[:1] == ["many"]:
            noun = _names_collection(words, i + 2, plural_only=True)
            if noun:
                return f'"how many {noun}"'
        if word in INTERROGATIVES:
            noun = _names_collection(words, i + 1, plural_only=True)
            if noun:
                return f'"{word} {noun}"'
        if word in COMPARING_VERBS:
            noun = next((w for w in following if w in PLURAL_NOUNS), None)
            if noun:
                return f'"{word} … {noun}"'
    return None


def classify_question(question: str) -> Classification:
    """Look-up or global, by a transparent rule over the question's words.

    Global when the question quantifies over the library's documents ("each paper", "all the
    studies", "across the documents", "the whole library"), asks to list or compare all of
    something ("list every data set", "compare all the methods"), or asks which or how many
    documents ("which papers…", "how many articles…"). Everything else is a look-up.
    """
    cue = _global_cue(_words(question))
    if cue:
        return Classification("global", f"global: {cue} asks about every document")
    return Classification(
        "lookup",
        "look-up: no words that ask about every document (such as “each paper”, “all the "
        "studies”, “list every …”, “compare all …”, “which papers …”)",
    )


def kind_for(question: str, kind: QuestionKind | None) -> Classification:
    """The caller's choice when given, else the rule's."""
    if kind is None:
        return classify_question(question)
    if kind not in KINDS:
        raise ValueError(f"unknown question kind {kind!r}; expected one of {', '.join(KINDS)}")
    return Classification(kind, f"{kind}: chosen by the caller", decided_by="caller")


@dataclass(frozen=True)
class RouteChoice:
    route: Route
    reason: str


def choose_route(
    *,
    kind: QuestionKind,
    fixed: int,
    full_text: int,
    summaries: int,
    missing_summaries: int,
    budget: Budget,
) -> RouteChoice:
    """The route for a question of this kind over this much material.

    `summaries` is what every summary costs in the prompt (headings included);
    `missing_summaries` counts documents with text but no summary yet.
    """
    available = max(0, budget.prompt_limit - fixed)
    if fixed + full_text <= budget.edge_limit:
        return RouteChoice(
            "full_text",
            f"all {full_text:,} tokens of text fit under {budget.edge_limit:,} "
            f"({budget.edge_share:.0%} of the {budget.window:,}-token window): everything, "
            "in full",
        )
    if kind == "lookup":
        return RouteChoice(
            "lookup",
            f"a look-up over {full_text:,} tokens of text: one prompt with the most relevant "
            "documents' summaries and their best passages",
        )
    if missing_summaries:
        return RouteChoice(
            "map_reduce",
            f"a question about every document, and {missing_summaries} document(s) have no "
            "summary yet: every page is read in window-sized parts, then combined",
        )
    if summaries > available:
        return RouteChoice(
            "map_reduce",
            f"a question about every document, and the summaries ({summaries:,} tokens) do "
            f"not fit the {available:,} tokens available: every page is read in window-sized "
            "parts, then combined",
        )
    return RouteChoice(
        "summaries",
        f"a question about every document: all summaries ({summaries:,} tokens) fit in one "
        "prompt, with the most relevant passages in the room left",
    )
