"""Study material from the text itself, with no model call: cloze cards from sentences that
define something or state a finding, and timeline events from dated sentences, each citing
the page it is on.

This is what the study tools make by default where the active model cannot follow
instructions (the embedded demo model wrote cards such as "1 / 1"), and on any model when
asked (`StudyJob.params["method"] == "text"`). The rules read a sentence's words, split on
whitespace, against short tables of cue words (English, and German for the thesis-style
"X heißt Y"); no regular expression touches document text, so every check is linear.

- A definition: "X is defined as / refers to / is known as / denotes Y" and "X is a / an /
  the Y", "Xs are Y" (German "X ist ein Y"): X becomes the deletion. "X is called Y" (German
  "X heißt Y"): Y, the term, becomes the deletion.
- A finding: "we find / show / observe that …", "results show that …": the quantity in it,
  or the clause after "that" when it is short.
- A quantity: a number with a unit or a percentage ("35 degrees", "12.5%").
- A dated sentence: a year from 1500 to 2100 (not a citation such as "Smith (2019)" or
  "et al., 2019", not a duration such as "2000 years"), with its month and day when the
  sentence gives them ("14 June 2005", "June 14, 2005", "31. Dezember 2016", "2005-06-14",
  "11.02.2014"), or a decade ("the 1960s"); a range ("from 1990 to 1995", "1990-1995",
  "2013/2014") gives the event an end.

A document's reference list (after a "References" or "Bibliography" heading) is not read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from research.citations import citations_from_json
from research.models import Answer, Page, StudyJob
from research.sentences import CLOSERS, PUNCTUATION, sentences
from research.study.generators import flashcards, timelines
from research.study.generators.base import GenerationFailed, Tally, clip, text_key
from research.study.generators.flashcards import CardDraft
from research.study.generators.timelines import EventDraft, When, parse_when

MIN_SENTENCE_CHARS = 30
MAX_SENTENCE_CHARS = 400
EN_DASH, EM_DASH = "\u2013", "\u2014"
REFERENCE_HEADINGS = frozenset(
    {
        "references",
        "bibliography",
        "works cited",
        "literature cited",
        "literatur",
        "literaturverzeichnis",
        "quellen",
        "quellenverzeichnis",
    }
)

# -- reading the pages ---------------------------------------------------------------------


@dataclass(frozen=True)
class PageSentence:
    document_id: int
    page: int
    text: str
    order: int  # reading order across the unit


def _reference_line(line: str) -> bool:
    """ "References", "7 References", "8. Bibliography" on a line of its own."""
    words = line.lower().split()
    if len(words) > 4:  # a heading is a few words: no need to look further
        return False
    first = 0
    while first < len(words) and words[first].rstrip(".").isdecimal():
        first += 1
    return " ".join(words[first:]) in REFERENCE_HEADINGS


def _before_references(text: str) -> tuple[str, bool]:
    """The page's text up to a reference-list heading, and whether one was found."""
    kept: list[str] = []
    for line in text.split("\n"):
        if _reference_line(line):
            return "\n".join(kept), True
        kept.append(line)
    return text, False


def usable(sentence: str) -> bool:
    """A whole sentence of prose: not a fragment cut at a page edge, a table row, a formula
    or a reference, and free of cloze braces."""
    if not MIN_SENTENCE_CHARS <= len(sentence) <= MAX_SENTENCE_CHARS:
        return False
    if not (sentence[0].isupper() or sentence[0].isdigit()):
        return False
    if sentence.rstrip("".join(CLOSERS))[-1:] not in (".", "!", "?"):
        return False
    if "{{" in sentence or "}}" in sentence or "::" in sentence or "http" in sentence:
        return False
    letters = sum(character.isalpha() for character in sentence)
    visible = len(sentence) - sentence.count(" ")
    return letters >= 0.65 * visible and len(sentence.split()) >= 5


def page_sentences(pages: Iterable[tuple[int, int, str]]) -> Iterator[PageSentence]:
    """The usable sentences of (document id, page number, text) in reading order, each
    document's reference list left out."""
    order = 0
    stopped: set[int] = set()
    for document_id, number, text in pages:
        if document_id in stopped:
            continue
        text, ended = _before_references(text)
        if ended:
            stopped.add(document_id)
        for sentence in sentences(text):
            if usable(sentence):
                yield PageSentence(document_id, number, sentence, order)
                order += 1


def pages_for_unit(unit: dict[str, Any]) -> list[tuple[int, int, str]]:
    """(document id, page number, text) of the pages a study unit covers: a document, some
    of its pages, or the pages an answer cites."""
    rows = Page.objects.order_by("document_id", "number")
    if "answer_id" in unit:
        answer = Answer.objects.filter(pk=unit["answer_id"]).first()
        cited: set[tuple[int, int]] = set()
        for citation in citations_from_json(answer.citations if answer else []):
            if citation.flagged or citation.source_id is None:
                continue
            cited.update(
                (citation.source_id, page)
                for page in range(citation.page_start, citation.page_end + 1)
            )
        found = rows.filter(
            document_id__in={doc for doc, _ in cited}, number__in={page for _, page in cited}
        ).values_list("document_id", "number", "text")
        return [row for row in found if (row[0], row[1]) in cited]
    rows = rows.filter(document_id=unit["document_id"])
    pages = unit.get("pages")
    if isinstance(pages, list) and len(pages) == 2:
        rows = rows.filter(number__gte=pages[0], number__lte=pages[1])
    return list(rows.values_list("document_id", "number", "text"))


# -- cloze cards ---------------------------------------------------------------------------

ARTICLES = frozenset(
    """a an the ein eine einer eines einem einen der die das den dem des""".split()  # noqa: SIM905
)
NOT_SUBJECTS = frozenset(
    """it this that these those there they he she we i you which what who whom whose here
    such each one our its their his her all some both however thus therefore hence then
    in on at for to as if when while since because although but and or so of by with from
    also only it's there's es er sie wir ich das dies diese dieser dieses dann sei seien
    hier so wenn weil aber und oder auch man jede jeder jedes alle da damit somit nun denn
    also für im nach mit bei aus zu von ist sind""".split()  # noqa: SIM905
)
# (cue words, strength): the subject before them is the term defined
SUBJECT_CUES: tuple[tuple[tuple[str, ...], int], ...] = (
    (("is", "defined", "as"), 0),
    (("are", "defined", "as"), 0),
    (("is", "known", "as"), 0),
    (("are", "known", "as"), 0),
    (("refers", "to"), 0),
    (("refer", "to"), 0),
    (("denotes",), 0),
    (("stands", "for"), 0),
    (("bezeichnet",), 0),
    (("is", "a"), 2),
    (("is", "an"), 2),
    (("is", "the"), 2),
    (("ist", "ein"), 2),
    (("ist", "eine"), 2),
    (("are",), 3),
    (("sind",), 3),
)
# the term defined comes after these: "X is called Y", "X heißt Y"
TERM_CUES: tuple[tuple[str, ...], ...] = (
    ("is", "called"),
    ("are", "called"),
    ("heißt",),
    ("heissen",),
    ("heißen",),
)
TERM_ENDS = frozenset({"if", "when", "wenn", "falls", "and", "und", "where", "wobei"})
NOT_PREDICATES = frozenset(
    """not also shown given used then very more less able likely based available listed
    presented described depicted summarized reported in on at of to from by with as for
    so being been often usually always still too nicht auch""".split()  # noqa: SIM905
)
FINDING_VERBS = frozenset(
    """find found show showed shown shows observe observed demonstrate demonstrated
    demonstrates conclude concluded indicate indicated indicates suggest suggested
    suggests reveal revealed reveals confirm confirmed confirms""".split()  # noqa: SIM905
)
UNITS = frozenset(
    """% percent per cent degrees degree °c °f ° kelvin kg g mg µg ng km m cm mm µm nm
    s ms µs ns sec seconds minutes min hours h days weeks months years hz khz mhz ghz kw
    mw gw mv kv kj mj kwh mb gb tb kb bit bits bytes tokens points pp times fold ml mol
    mmol ppm bar pa kpa mpa db""".split()  # noqa: SIM905
)
MAX_TERM_WORDS = 6
MAX_CALLED_WORDS = 3
PREPOSITIONS = frozenset(
    """of with in on at from for by to von mit im in auf an zwischen bei aus zu für über""".split()  # noqa: SIM905
)
SKIPPED_BEFORE_TERM = frozenset({"also", "auch", "often", "oft", "sometimes", "usually", "then"})
MAX_BLANK_WORDS = 12


@dataclass(frozen=True)
class Cloze:
    front: str
    priority: int  # 0 a clear definition, 1 a finding, 2-3 a looser definition, 4 a quantity


def _clean(word: str) -> str:
    return word.strip(PUNCTUATION).lower()


def _blank(words: Sequence[str], start: int, end: int) -> str:
    """The sentence with words[start:end] as the deletion; punctuation before the first and
    after the last word stays outside it."""
    first, last = words[start], words[end - 1]
    lead = len(first) - len(first.lstrip(PUNCTUATION))
    trail = len(last) - len(last.rstrip(PUNCTUATION))
    inner = list(words[start:end])
    inner[0] = inner[0][lead:]
    inner[-1] = inner[-1][: len(inner[-1]) - trail] if trail else inner[-1]
    term = " ".join(inner)
    cloze = first[:lead] + "{{c1::" + term + "}}" + (last[len(last) - trail :] if trail else "")
    return " ".join([*words[:start], cloze, *words[end:]])


def _cue_at(clean: Sequence[str], cue: Sequence[str], limit: int) -> int | None:
    """Where `cue` starts among the first `limit` + 1 words (after at least one word)."""
    for index in range(1, min(limit + 1, len(clean) - len(cue) + 1)):
        if all(clean[index + offset] == word for offset, word in enumerate(cue)):
            return index
    return None


def _subject(words: Sequence[str], clean: Sequence[str], end: int) -> tuple[int, int] | None:
    """The span of the term before a cue: a short noun phrase, its article left out."""
    start = 1 if clean[0] in ARTICLES else 0
    span = words[start:end]
    if not 1 <= len(span) <= MAX_TERM_WORDS or clean[start] in NOT_SUBJECTS:
        return None
    if any(word.endswith((",", ":", ";")) for word in span):
        return None
    if not all(_wordlike(word) for word in span):
        return None
    return start, end


def _wordlike(word: str) -> bool:
    """A word of prose (letters, perhaps hyphenated), not a formula or a symbol."""
    bare = word.strip(PUNCTUATION).replace("-", "")
    return len(bare) >= 2 and bare.isalpha()


def _term_after(words: Sequence[str], clean: Sequence[str], start: int) -> tuple[int, int] | None:
    """The term a "… is called" / "… heißt" names: up to a comma, "if"/"wenn" or the
    sentence's end when that is at most MAX_CALLED_WORDS words, else its first word."""
    while start < len(words) and clean[start] in ARTICLES | SKIPPED_BEFORE_TERM:
        start += 1
    end = start
    while end < len(words) and clean[end] not in TERM_ENDS:
        end += 1
        if words[end - 1].endswith((",", ".", ";", ":")):
            break
    cut = next((at for at in range(start + 1, end) if clean[at] in PREPOSITIONS), end)
    end = cut if cut - start <= MAX_CALLED_WORDS else start + 1 if end - start > 3 else end
    if end == start or not all(_wordlike(word) for word in words[start:end]):
        return None
    if any(mark in word for word in words[start:end] for mark in "()[]"):
        return None
    if end < len(words) and words[end].startswith(("=", ":=")):
        return None  # "X heißt T := …": a symbol being defined, not a term
    return start, end


def _definition(words: Sequence[str], clean: Sequence[str]) -> Cloze | None:
    for cue in TERM_CUES:
        at = _cue_at(clean, cue, MAX_TERM_WORDS + 1)
        if at is None:
            continue
        span = _term_after(words, clean, at + len(cue))
        if span is not None:
            return Cloze(_blank(words, *span), 0)
    for cue, strength in SUBJECT_CUES:
        at = _cue_at(clean, cue, MAX_TERM_WORDS + 1)
        if at is None:
            continue
        rest = clean[at + len(cue) :]
        if len(rest) < 3 or rest[0] in NOT_PREDICATES or (strength == 3 and rest[0].endswith("ed")):
            continue
        span = _subject(words, clean, at)
        if span is not None:
            return Cloze(_blank(words, *span), strength)
    return None


def _quantity(words: Sequence[str], clean: Sequence[str], start: int = 0) -> tuple[int, int] | None:
    """The first number with a unit or a percentage at or after `start`, as a word span."""
    for index in range(start, len(words)):
        word = clean[index]
        digits = word.rstrip("%°")
        number = digits.replace(".", "").replace(",", "").lstrip("-+")
        if not number.isdecimal():
            head = 0
            while head < len(word) and (word[head].isdigit() or word[head] in ".,"):
                head += 1
            if head and word[head:] in UNITS and word[:head].strip(".,"):
                return index, index + 1  # "35°c", "12ms"
            continue
        if words[index].endswith((")", "]")) or words[index].startswith(("(", "[")):
            continue  # "(3)", "2.8)": a label, not a quantity
        if word.endswith("%"):
            return index, index + 1
        unit = words[index + 1].strip(PUNCTUATION) if index + 1 < len(words) else ""
        if len(unit) == 1 and unit.isupper():
            continue  # "3 M": a name, not metres
        if index + 1 < len(words) and clean[index + 1] in UNITS:
            if clean[index + 1] in ("per",) and index + 2 < len(words):
                return index, index + 3
            return index, index + 2
    return None


def _finding(words: Sequence[str], clean: Sequence[str]) -> Cloze | None:
    for index in range(len(clean) - 1):
        if clean[index] not in FINDING_VERBS:
            continue
        that = next(
            (at for at in (index + 1, index + 2) if at < len(clean) and clean[at] == "that"), None
        )
        if that is None:
            continue
        quantity = _quantity(words, clean, that + 1)
        if quantity is not None:
            return Cloze(_blank(words, *quantity), 1)
        end = len(words)
        for at in range(that + 1, len(words)):
            if words[at].endswith((",", ";", ":")):
                end = at + 1
                break
        if 2 <= end - (that + 1) <= MAX_BLANK_WORDS:
            return Cloze(_blank(words, that + 1, end), 1)
        return None
    return None


def cloze_for(sentence: str) -> Cloze | None:
    """A cloze deletion for a sentence that defines something, states a finding or gives a
    quantity; None for any other sentence."""
    words = sentence.split()
    clean = [_clean(word) for word in words]
    if len(words) < 4:
        return None
    found = _definition(words, clean) or _finding(words, clean)
    if found is not None:
        return found
    quantity = _quantity(words, clean)
    if quantity is not None and len(words) >= 6:
        return Cloze(_blank(words, *quantity), 4)
    return None


@dataclass(frozen=True)
class TextCard:
    front: str
    document_id: int
    page: int


def cloze_cards(found: Iterable[PageSentence], *, count: int) -> list[TextCard]:
    """At most `count` cloze cards, clearest definitions first, then findings, then looser
    definitions and quantities; in reading order; one per distinct sentence."""
    candidates: list[tuple[int, int, TextCard]] = []
    seen: set[str] = set()
    for item in found:
        key = text_key(item.text)
        if key in seen:
            continue
        seen.add(key)
        cloze = cloze_for(item.text)
        if cloze is None:
            continue
        candidates.append(
            (cloze.priority, item.order, TextCard(cloze.front, item.document_id, item.page))
        )
    candidates.sort(key=lambda candidate: candidate[:2])
    chosen = sorted(candidates[:count], key=lambda candidate: candidate[1])
    return [card for _, _, card in chosen]


# -- dated sentences -----------------------------------------------------------------------

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            "january jan januar jänner",
            "february feb februar",
            "march mar märz maerz",
            "april apr",
            "may mai",
            "june jun juni",
            "july jul juli",
            "august aug",
            "september sep sept",
            "october oct oktober okt",
            "november nov",
            "december dec dezember dez",
        ],
        start=1,
    )
    for name in names.split()
}
FIRST_YEAR, LAST_YEAR = 1500, 2100
NOT_DATES = frozenset(
    """years year jahre jahren jahr days tage people participants patients samples words
    tokens times mal km m kg euro eur dollars usd percent images pages papers""".split()  # noqa: SIM905
)
# Words that introduce a bare year ("in 1998", "since 1998", "seit 1998").
YEAR_CUES = frozenset(
    """in on since by from until till of during after before around circa ca c early late
    mid year years between im seit bis ab vom am von nach vor um jahr jahre anno zwischen""".split()  # noqa: SIM905
)
RANGE_WORDS = frozenset({"to", "until", "till", "bis", "-", EN_DASH, EM_DASH, "and", "und"})
MAX_YEARS_IN_SENTENCE = 3  # more is a list of citations, not an event
TITLE_WORDS = 12


def _year(word: str) -> int | None:
    if len(word) == 4 and word.isdecimal() and FIRST_YEAR <= int(word) <= LAST_YEAR:
        return int(word)
    return None


def _day(word: str) -> int | None:
    word = word.rstrip(".")
    return int(word) if 1 <= len(word) <= 2 and word.isdecimal() and 1 <= int(word) <= 31 else None


def _cited(raw: Sequence[str], clean: Sequence[str], index: int) -> bool:
    """A year that cites a work: "Smith (2019)", "(Smith, 2019)", "et al. 2019"."""
    if index == 0:
        return False
    before, word = raw[index - 1], raw[index]
    if clean[index - 1] == "al" or before.endswith(("al.", "al.,")):
        return True
    name = before.strip(PUNCTUATION)
    capitalised = name[:1].isupper() and name.isalpha() and clean[index - 1] not in MONTHS
    if word.startswith(("(", "[")) and capitalised:
        return True  # Smith (2019)
    return capitalised and before.endswith(",") and word.endswith((")", ";", "]"))


def _when_in(token: str) -> tuple[When, When | None, str] | None:
    """A date written as one token: 2005-06-14, 2005-06, 11.02.2014, 1990-1995, 2013/2014,
    1960s."""
    for dash in (EN_DASH, EM_DASH, "/"):
        first, mark, second = token.partition(dash)
        if mark and _year(first) and _year(second):
            return When(int(first)), When(int(second)), "year"
    if token.endswith("s") and _year(token[:-1]) and token[:-1].endswith("0"):
        return When(int(token[:-1])), None, "decade"
    if len(token) in (7, 10) and token[4:5] == "-" and _year(token[:4]):
        when = parse_when(token)
        if when is not None:
            return when, None, when.finest
    first, mark, second = token.partition("-")
    if mark and _year(first) and _year(second):
        return When(int(first)), When(int(second)), "year"
    parts = token.split(".")
    if len(parts) == 3 and _year(parts[2]) and _day(parts[0]) and parts[1].isdecimal():
        when = parse_when(f"{parts[2]}-{int(parts[1]):02d}-{int(parts[0]):02d}")
        if when is not None:
            return when, None, "day"
    return None


def date_in(sentence: str) -> tuple[When, When | None, str] | None:
    """The first date the sentence gives (start, end or None, precision), by the rules in
    this module's docstring; None when it gives none."""
    raw = sentence.split()
    clean = [word.strip(PUNCTUATION).lower() for word in raw]
    years = sum(1 for word in clean if _year(word[:4]))
    if years > MAX_YEARS_IN_SENTENCE:
        return None
    for index, word in enumerate(clean):
        if _cited(raw, clean, index):
            continue
        if not _year(word):
            token = _when_in(word)
            if token is not None:
                return token
            continue
        following = clean[index + 1] if index + 1 < len(clean) else ""
        if following in NOT_DATES:
            continue
        year = int(word)
        month = MONTHS.get(clean[index - 1]) if index >= 1 else None
        introduced = index == 0 or clean[index - 1] in YEAR_CUES or raw[index][:1] in "(["
        if month is None and not (index >= 2 and MONTHS.get(clean[index - 2])) and not introduced:
            continue  # "2048 hidden units": a number, unless a word says it is a year
        day = None
        if month is not None and index >= 2:
            day = _day(clean[index - 2])
        elif index >= 2 and _day(clean[index - 1]) and MONTHS.get(clean[index - 2]):
            month, day = MONTHS[clean[index - 2]], _day(clean[index - 1])
        written = f"{year:04d}" + (f"-{month:02d}" if month else "")
        start = parse_when(written + (f"-{day:02d}" if month and day else "")) or When(year)
        end = None
        joined = following not in ("and", "und") or (
            index >= 1 and clean[index - 1] in ("between", "zwischen")
        )
        if following in RANGE_WORDS and joined and index + 2 < len(clean):
            end_year = _year(clean[index + 2])
            if end_year and end_year >= year:
                end = When(end_year)
        precision = "year" if end is not None else start.finest
        return start.at(precision), end, precision
    return None


def dated_events(found: Iterable[PageSentence], *, count: int) -> list[EventDraft]:
    """At most `count` events, one per dated sentence, in reading order."""
    drafts: list[EventDraft] = []
    for item in found:
        if len(drafts) >= count:
            break
        dated = date_in(item.text)
        if dated is None:
            continue
        start, end, precision = dated
        words = item.text.split()
        title = " ".join(words[:TITLE_WORDS]) + ("…" if len(words) > TITLE_WORDS else "")
        drafts.append(
            EventDraft(
                title=clip(title, 200),
                description=item.text if len(words) > TITLE_WORDS else "",
                start=start,
                end=end,
                precision=precision,
                document_id=item.document_id,
                pages=[item.page],
            )
        )
    return drafts


# -- study units -----------------------------------------------------------------------------


def _unit_sentences(unit: dict[str, Any]) -> list[PageSentence]:
    pages = pages_for_unit(unit)
    if not any(text.strip() for _, _, text in pages):
        raise GenerationFailed("no_sources", "There is no text to generate from.")
    return list(page_sentences(pages))


def flashcards_unit(*, job: StudyJob, unit: dict[str, Any], **_: Any) -> tuple[list[Any], Tally]:
    """A flashcard unit's cards from its text (the generator's `from_text`): cloze cards,
    each citing its page; no model call."""
    count = int(job.params.get("count", flashcards.DEFAULT_COUNT))
    cards = cloze_cards(_unit_sentences(unit), count=count)
    drafts = [CardDraft("cloze", card.front, "", card.document_id, [card.page]) for card in cards]
    return drafts, Tally()


def timeline_unit(*, job: StudyJob, unit: dict[str, Any], **_: Any) -> tuple[list[Any], Tally]:
    """A timeline unit's events from its dated sentences, each citing its page."""
    count = int(job.params.get("count", timelines.DEFAULT_COUNT))
    return dated_events(_unit_sentences(unit), count=count), Tally()
