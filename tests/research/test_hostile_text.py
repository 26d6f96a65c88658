"""Hostile text meets every parser of user, document and model text, and each answers.

Each input below made an old regular expression backtrack for minutes to hours; each runs
here in its own interpreter with a generous timeout (tests/hostile.py), and the test checks
what came back.
"""

from __future__ import annotations

from tests.hostile import run_isolated


def test_a_pathological_markdown_file_is_read_and_its_headings_found():
    result = run_isolated(
        """
        from research.library.extraction import text_pages
        from tests.hostile import pathological_markdown
        info, pages = text_pages(
            pathological_markdown(spaces=50_000), file_type="markdown", name="evil.md"
        )
        result = [info.title, [page.label[:20] for page in pages]]
        """
    )
    title, labels = result
    assert title == "a"  # the front matter's title: lines are cut before they are parsed
    assert labels == ["a (lines 4-7)", "x (lines 8-11)"]


def test_markdown_headings_follow_commonmark_and_skip_code_fences():
    from research.markdown import front_matter_title, markdown_headings

    lines = [
        "# Title #",
        "",
        "    # indented code, not a heading",
        "```",
        "# inside a fence",
        "```",
        "##   Two   words  ##",
        "#not a heading",
        "#",
        "~~~",
        "```",
        "# still fenced: a ~~~ fence closes only with ~~~",
        "~~~",
        "###### Six",
    ]
    found = [(h.line, h.level, h.text) for h in markdown_headings(lines)]
    assert found == [(0, 1, "Title"), (6, 2, "Two words"), (13, 6, "Six")]
    assert front_matter_title('Title: "A paper"') == "A paper"
    assert front_matter_title("title:   'x'  ") == "x"
    assert front_matter_title("subtitle: x") is None
    assert front_matter_title('title: ""') is None


def test_unclosed_cloze_deletions_are_read_in_one_pass():
    result = run_isolated(
        """
        from research.cloze import cloze_deletions, has_cloze
        from research.study.selectors import cloze_hidden, cloze_shown
        from research.templatetags.study_extras import cloze_marked
        text = "{{c1::" * 200_000 + "x"
        closed = "{{c1::" * 200_000 + "{{c2::term::hint}}"
        result = [
            has_cloze(text),
            cloze_hidden(text) == text,
            len(cloze_marked(text)) > 0,
            [(d.answer, d.hint[-16:]) for d in cloze_deletions(closed)],
            cloze_shown(closed),
        ]
        """
    )
    assert result[:3] == [False, True, True]
    # The first opening runs to the only closing, and its first `::` starts the hint, as
    # the pattern it replaces read it.
    assert result[3] == [["{{c1", "{{c2::term::hint"]]
    assert result[4] == "{{c1"


def test_cloze_deletions_read_as_before():
    from research.cloze import cloze_deletions
    from research.study.selectors import cloze_hidden, cloze_shown

    text = "The {{c1::mitochondria}} is the {{c2::powerhouse::what kind of house?}} of {{c3::"
    assert [(d.answer, d.hint) for d in cloze_deletions(text)] == [
        ("mitochondria", ""),
        ("powerhouse", "what kind of house?"),
    ]
    assert cloze_hidden(text) == "The […] is the [what kind of house?] of {{c3::"
    assert cloze_shown(text) == "The mitochondria is the powerhouse of {{c3::"
    assert cloze_deletions("{{c::x}} {{c1:x}} {{c1::}}") == []


def test_hostile_citations_page_lists_and_highlights_are_linear():
    result = run_isolated(
        """
        from research.citations import parse_citations
        from research.library.reading import highlight, linked_citations
        from research.study.forms import parse_pages
        answer = ("[" + " " * 398 + "x]") * 5_000 + "[Real paper, pp. 3-4]"  # 58 ms each
        cited = [(c.title, c.page_start, c.page_end) for c in parse_citations(answer)]
        try:
            parse_pages("1" + " " * 200_000 + "x")
            pages = "accepted"
        except ValueError:
            pages = "refused"
        page = "a " * 250_000
        pieces, marks = highlight(page, "a " * 20_000 + "b")
        summary = "[p. " * 100_000 + "[p. 2]"
        links = [p.page for p in linked_citations(summary, page_count=3) if p.page]
        result = [cited, pages, marks, links, parse_pages(" 3 , 5 - 7 ")]
        """
    )
    cited, pages, marks, links, parsed = result
    assert cited == [["Real paper", 3, 4]]
    assert pages == "refused"
    assert marks == 200  # word marks, capped at MAX_MARKS
    assert links == [2]
    assert parsed == [3, 5, 6, 7]


def test_hostile_document_text_is_read_for_sentences_cards_dates_and_quotes_in_linear_time():
    result = run_isolated(
        """
        from research.qa.passages import quote_piece
        from research.sentences import sentences
        from research.study.generators.from_text import (
            cloze_cards, cloze_for, date_in, dated_events, page_sentences,
        )
        from workspace.packing import Piece
        hostile = [
            "." * 400_000,
            "a. " * 150_000,
            "e.g. " * 100_000 + "X.",
            "x" * 500_000,
            "exam-\\n" * 80_000 + "ple",
            ")" * 200_000 + ". A",
            "1998 " * 100_000,
            "is is is are are refers to " * 20_000,
            "We find that " * 30_000,
            "12% " * 100_000,
            "14 June " * 60_000 + "2005.",
            "(Smith, " * 60_000 + "2019)",
            "{{c1::" * 60_000,
            ("Moraines are ridges of till that a glacier leaves. " * 20_000) + "\\n\\n" * 50_000,
        ]
        counts = []
        for text in hostile:
            found = sentences(text)
            pages = [(1, 1, text), (1, 2, text[: len(text) // 2])]
            cards = cloze_cards(page_sentences(pages), count=30)
            events = dated_events(page_sentences(pages), count=40)
            cloze_for(text[:20_000])
            date_in(text[:20_000])
            quote = quote_piece(
                Piece(1, 1, 0, text, 0, 1, 2), title="T", query="moraines till 1998",
                page_texts={1: text, 2: text[:1000]},
            )
            counts.append([len(found) > 0, len(cards), len(events), quote is not None])
        result = counts
        """
    )
    assert len(result) == 14
    assert all(found for found, *_ in result)
    assert result[-1][1] == 1  # one card for the repeated definition, however often it repeats
