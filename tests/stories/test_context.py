"""Packing a turn's prompt: order, exact counts, the context map, and never over the window."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stories.context import (
    TRUNCATION_MARK,
    Block,
    ContextTooSmall,
    PastTurn,
    TurnRequest,
    _truncate,
    clean,
    count_piece,
    count_text,
    pack_turn,
    prompt_tokens,
)
from workspace.runtime.tokenizer import get_tokenizer
from workspace.runtime.types import Message

WORDS = st.sampled_from(
    [
        "the",
        "Ada",
        "harbor",
        "crown",
        "ünïcode",
        "東京",
        "🙂",
        "\n",
        "\n\n",
        "  ",
        "<bos>",
        "<start_of_turn>",
        "<end_of_turn>",
        "<eos>",
        "{",
        "}",
        "…",
        "x" * 30,
    ]
)
TEXT = st.lists(WORDS, max_size=60).map(" ".join) | st.text(max_size=300)


def past(number: int, user: str, assistant: str) -> PastTurn:
    return PastTurn(
        number,
        user,
        assistant,
        count_piece("user", clean(user)),
        count_piece("assistant", clean(assistant)),
    )


@st.composite
def requests(draw) -> TurnRequest:
    n_turns = draw(st.integers(0, 25))
    turns = [past(n, draw(TEXT), draw(TEXT)) for n in range(n_turns, 0, -1)]
    summaries = []
    start = 1
    while start <= n_turns and draw(st.booleans()):
        end = draw(st.integers(start, n_turns))
        summaries.append(Block(f"summary:{start}", f"Turns {start}-{end}", draw(TEXT), start, end))
        start = end + 1
    return TurnRequest(
        rules=draw(TEXT),
        canon=[
            Block(f"entity:{i:06d}", f"canon {i}", draw(TEXT))
            for i in range(draw(st.integers(0, 4)))
        ],
        entities=[
            Block(f"entity:{i:06d}", f"e{i}", draw(TEXT))
            for i in range(10, 10 + draw(st.integers(0, 12)))
        ],
        summaries=summaries,
        turns=turns,
        last_turn=n_turns,
        action=draw(TEXT),
        window=draw(st.integers(200, 5000)),
        reserve=draw(st.integers(0, 400)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_a_packed_prompt_never_exceeds_the_window_and_its_count_is_exact(request):
    try:
        packed = pack_turn(request)
    except ContextTooSmall as exc:
        # Only when even the action with the fixed frame does not fit.
        assert exc.needed > request.window - request.reserve
        assert count_piece("user", clean(request.action)) > 0
        return
    exact = get_tokenizer().count_messages(packed.messages)
    assert packed.prompt_tokens == exact
    assert exact <= request.window - request.reserve
    assert packed.messages[0].role == "system"
    assert packed.messages[-1] == Message("user", clean(request.action))
    sections = {s["name"]: s for s in packed.context_map["sections"]}
    assert [s["name"] for s in packed.context_map["sections"]] == [
        "rules",
        "entities",
        "summaries",
        "turns",
        "action",
    ]
    # Verbatim turns are the newest ones, in order, right before the action.
    verbatim = sections["turns"]["verbatim"]
    count = sections["turns"]["verbatim_count"]
    if count:
        assert verbatim == [[request.last_turn - count + 1, request.last_turn]]
    history = packed.messages[3:-1]
    assert len(history) == 2 * count
    # Every earlier turn is accounted for: summarized or dropped, never lost silently.
    covered = sum(
        b - a + 1 for a, b in sections["turns"]["summarized"] + sections["turns"]["dropped"]
    )
    assert covered + count == request.last_turn


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["system", "user", "assistant"]), TEXT), min_size=1, max_size=6
    )
)
def test_counting_by_pieces_equals_the_tokenizer_on_the_whole_prompt(pairs):
    messages = [Message(role, clean(text)) for role, text in pairs]
    assert prompt_tokens(messages) == get_tokenizer().count_messages(messages)


def _request(**overrides) -> TurnRequest:
    turns = [
        past(n, f"Ada: I take step {n}.", f"Step {n} is taken. " * 20) for n in range(40, 0, -1)
    ]
    values = dict(
        rules="You are the DM.",
        canon=[],
        entities=[
            Block(f"entity:{i:06d}", f"Entity {i}", f"[character] Entity {i}\n" + "lore " * 40)
            for i in range(30)
        ],
        summaries=[Block("summary:1", "Turns 1-20", "Turns 1-20: the early days. " * 5, 1, 20)],
        turns=turns,
        last_turn=40,
        action="Ada: I rest.",
        window=3000,
        reserve=500,
    )
    values.update(overrides)
    return TurnRequest(**values)  # type: ignore[arg-type]


def test_the_context_map_says_what_went_in_what_was_summarized_and_what_was_dropped():
    packed = pack_turn(_request())
    sections = {s["name"]: s for s in packed.context_map["sections"]}
    turns = sections["turns"]
    assert turns["verbatim_count"] > 0
    first_verbatim = turns["verbatim"][0][0]
    assert first_verbatim > 21
    assert turns["summarized"] == [[1, 20]]
    assert turns["dropped"] == [[21, first_verbatim - 1]]
    assert sections["entities"]["dropped_count"] > 0
    assert sections["entities"]["dropped_count"] + len(sections["entities"]["included"]) == 30
    assert packed.prompt_tokens <= 2500


def test_entity_cards_are_taken_by_relevance_but_shown_in_a_stable_order():
    blocks = [Block(f"entity:{i:06d}", f"E{i}", f"card {i}") for i in (7, 3, 5)]
    packed = pack_turn(_request(entities=blocks, turns=[], last_turn=0, summaries=[], window=8000))
    world = packed.messages[1].content
    assert world.index("card 3") < world.index("card 5") < world.index("card 7")


def test_overlong_rules_are_truncated_and_flagged():
    packed = pack_turn(_request(rules="Rule. " * 3000, turns=[], last_turn=0))
    rules = packed.context_map["sections"][0]
    assert rules["truncated"] is True
    assert packed.prompt_tokens <= 2500


def test_an_action_that_cannot_fit_is_refused():
    with pytest.raises(ContextTooSmall):
        pack_turn(_request(action="word " * 3000))


@settings(max_examples=150, deadline=None)
@given(TEXT, st.integers(0, 60))
def test_truncated_text_with_its_mark_never_exceeds_the_tokens_asked_for(text, tokens):
    cut = _truncate(text, tokens)
    assert count_text(cut) <= tokens
    if cut != text:  # a prefix of the text, marked as cut, or nothing at all
        assert cut == "" or cut.endswith(TRUNCATION_MARK)
        assert text.startswith(cut.removesuffix(TRUNCATION_MARK))


@pytest.mark.timeout(120)
def test_tiny_windows_shrink_long_rules_to_nothing_instead_of_looping_forever():
    """The shrink loop halves the rules until they fit; a truncation mark that did not count
    against the cut once made it grow back to the same size, forever (found by CI)."""
    rules = "{  🙂\n[... the harbor, the crown and the tower. " * 40
    outcomes = set()
    for window in range(20, 140, 3):
        request = _request(rules=rules, turns=[], last_turn=0, window=window, reserve=0)
        try:
            packed = pack_turn(request)
        except ContextTooSmall:
            outcomes.add("too small")
            continue
        assert packed.prompt_tokens == get_tokenizer().count_messages(packed.messages)
        assert packed.prompt_tokens <= window
        outcomes.add("truncated" if TRUNCATION_MARK in packed.messages[0].content else "other")
    assert {"too small", "truncated"} <= outcomes
