"""Packing one turn's prompt into the model's window, and saying what went in.

Order, stable prefix first so a server's KV cache is reused from one turn to the next:

    system     the dungeon master's rules, the campaign's rules notes and its canon
               (pinned entities)
    user       the world state relevant to this turn (entity cards, most relevant first
               up to a cap, then shown in number order), then the story so far (summaries)
    assistant  a fixed acknowledgement, so the history alternates as chat models expect
    user/assistant pairs   the most recent turns verbatim, oldest first
    user       this turn's action

Token counts are exact Gemma counts, computed piece by piece: the rendered prompt is split
by special tokens (<start_of_turn>, <end_of_turn>), which the tokenizer never merges
across, so the prompt's count is the sum of its per-message pieces. Each past turn's
pieces are counted once when the turn is written (Turn.action_tokens/narration_tokens),
so packing a campaign with 10,000 turns tokenizes only this turn's new text.

This module knows nothing about the database: `pack_turn` takes plain data (the caller
decides relevance and renders cards) and returns messages, the exact prompt size and a
context map. It is meant to be routable through a shared packer later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from stories import prompts
from workspace.runtime.tokenizer import get_tokenizer
from workspace.runtime.types import Message

NARRATION_MAX_TOKENS = 1024
CHANGES_MAX_TOKENS = 1024
CHECK_MAX_TOKENS = 256  # the check step's answer: {"check": null} or one short check

ACKNOWLEDGEMENT = (
    "Understood. I will narrate what happens next, keeping to the rules, the canon and the "
    "world state above."
)
RULES_SHARE = 0.25  # rules notes + canon
ENTITY_SHARE = 0.25
SUMMARY_SHARE = 0.20
DROPPED_LABELS_SHOWN = 50
LEFTOVER_WORTH_A_RECOUNT = 256  # tokens
_SPECIALS = ("<start_of_turn>", "<end_of_turn>")


class ContextTooSmall(Exception):
    """Even the action alone does not fit the window."""

    def __init__(self, needed: int, budget: int) -> None:
        self.needed = needed
        self.budget = budget
        super().__init__(
            f"This action needs {needed:,} tokens of prompt but only {budget:,} are available "
            "in the model's window; write a shorter action or use a model with a larger window."
        )
        self.message = str(self)


def clean(text: str) -> str:
    """Text that cannot forge chat turns (the markers are special tokens)."""
    while any(marker in text for marker in _SPECIALS):
        for marker in _SPECIALS:
            text = text.replace(marker, "")
    return text


def count_piece(role: str, content: str) -> int:
    """Exact tokens of one rendered chat message: <start_of_turn>role\\n...<end_of_turn>\\n."""
    gemma_role = "model" if role == "assistant" else role
    piece = f"<start_of_turn>{gemma_role}\n{content}<end_of_turn>\n"
    return len(get_tokenizer().encode(piece, special=True))


def count_text(text: str) -> int:
    return len(get_tokenizer().encode(text, special=True)) if text else 0


@cache
def output_reserve() -> int:
    """Tokens a turn keeps free after its prompt: the check step (its question and answer;
    afterwards the same room holds the rolled check told to the narrator), the narration,
    then the state-change call (the summaries budget their prompts against the same window)."""
    return (
        check_reserve()
        + NARRATION_MAX_TOKENS
        + 8
        + count_piece("user", prompts.CHANGES)
        + CHANGES_MAX_TOKENS
    )


@cache
def check_reserve() -> int:
    """Room for the check step: its question appended to the action, and its answer."""
    return count_text("\n\n" + prompts.CHECK) + CHECK_MAX_TOKENS


@lru_cache(maxsize=8192)
def _count_block(text: str) -> int:
    """Blocks (entity cards, summaries) mostly repeat from turn to turn: count each once."""
    return count_text(text)


GENERATION_TOKENS_TEXT = "<start_of_turn>model\n"


@lru_cache(maxsize=16)
def _fixed_piece(role: str, content: str) -> int:
    return count_piece(role, content)


@lru_cache(maxsize=1)
def generation_tokens() -> int:
    return len(get_tokenizer().encode(GENERATION_TOKENS_TEXT, special=True))


def prompt_tokens(messages: Sequence[Message]) -> int:
    """Exact count_messages() of a prompt, by pieces (equal to the tokenizer's own count)."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    total = 1 + generation_tokens()
    pending = system
    for message in messages:
        if message.role == "system":
            continue
        content = message.content
        if message.role == "user" and pending:
            content, pending = f"{pending}\n\n{content}", ""
        total += count_piece(message.role, content)
    if pending:
        total += count_piece("user", pending)
    return total


@dataclass(frozen=True)
class Block:
    key: str  # "entity:12", "summary:3"
    label: str  # for people: "Ada (character)"
    text: str
    first_turn: int = 0  # summaries: the turns they cover
    last_turn: int = 0


@dataclass(frozen=True)
class PastTurn:
    number: int
    user: str  # the action as the prompt shows it
    assistant: str  # the narration
    user_tokens: int  # count_piece("user", user), stored with the turn
    assistant_tokens: int  # count_piece("assistant", assistant)


@dataclass
class TurnRequest:
    rules: str
    canon: Sequence[Block]
    entities: Sequence[Block]  # most relevant first
    summaries: Sequence[Block]  # oldest first
    turns: Iterable[PastTurn]  # newest first; consumed lazily
    last_turn: int  # the newest past turn's number (0: none); turns are 1..last_turn
    action: str
    window: int
    reserve: int  # tokens kept free for the answer(s)
    world_heading: str = "World state"


@dataclass
class PackedPrompt:
    messages: list[Message]
    prompt_tokens: int
    budget: int
    context_map: dict[str, Any] = field(default_factory=dict)
    action_tokens: int = 0  # the action's piece, reused when this turn becomes history


def _fit(blocks: Sequence[Block], cap: int) -> tuple[list[tuple[Block, int]], list[Block]]:
    """Blocks in order while their estimated tokens stay within cap (a block that does
    not fit is skipped, smaller later ones may still go in)."""
    taken: list[tuple[Block, int]] = []
    dropped: list[Block] = []
    used = 0
    for block in blocks:
        tokens = _count_block(clean(block.text)) + 1  # +1: the blank line between blocks
        if used + tokens <= cap:
            taken.append((block, tokens))
            used += tokens
        else:
            dropped.append(block)
    return taken, dropped


TRUNCATION_MARK = "\n[... truncated to fit the window]"


def _truncate(text: str, tokens: int) -> str:
    """A prefix of text, as long as fits in `tokens` together with TRUNCATION_MARK.

    The result never has more than `tokens` tokens, so shrinking with it always makes
    progress: "" when even the mark alone does not fit.
    """
    if tokens <= 0 or not text:
        return ""
    if count_text(text) <= tokens:
        return text
    # Binary search over character prefixes (never a token cut, which can split a
    # character): every accepted length was counted with the mark, so the result fits.
    fits, too_long = 0, len(text)
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if count_text(text[:middle].rstrip() + TRUNCATION_MARK) <= tokens:
            fits = middle
        else:
            too_long = middle
    cut = text[:fits].rstrip()
    return cut + TRUNCATION_MARK if cut else ""


def _ranges(numbers: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for n in sorted(numbers):
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def _subtract(
    span: tuple[int, int], covered: Sequence[tuple[int, int]]
) -> tuple[list[list[int]], list[list[int]]]:
    """Split the turn span into ranges covered by the summaries and ranges not covered."""
    first, last = span
    if first > last:
        return [], []
    inside: list[list[int]] = []
    outside: list[list[int]] = []
    cursor = first
    for a, b in sorted(covered):
        a, b = max(a, first), min(b, last)
        if a > b or b < cursor:
            continue
        if a > cursor:
            outside.append([cursor, a - 1])
        inside.append([max(a, cursor), b])
        cursor = b + 1
    if cursor <= last:
        outside.append([cursor, last])
    return inside, outside


def _entry(block: Block, tokens: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"key": block.key, "label": block.label, "tokens": tokens}
    if block.last_turn:
        entry["turns"] = [block.first_turn, block.last_turn]
    return entry


def pack_turn(request: TurnRequest) -> PackedPrompt:
    budget = request.window - request.reserve
    action = clean(request.action)
    ack_tokens = _fixed_piece("assistant", ACKNOWLEDGEMENT)
    action_tokens = count_piece("user", action)
    fixed = 1 + generation_tokens() + ack_tokens + action_tokens
    overhead = _fixed_piece("user", "\n\n")  # the world message's markers, without content
    available = budget - fixed - overhead
    if available < 0:
        raise ContextTooSmall(fixed + overhead, budget)

    # 1. Rules and canon, within their share.
    rules_cap = int(available * RULES_SHARE)
    rules = clean(request.rules)
    rules_tokens = count_text(rules)
    rules_truncated = rules_tokens > rules_cap
    if rules_truncated:
        rules = _truncate(rules, rules_cap)
        rules_tokens = count_text(rules)
    canon, canon_dropped = _fit(request.canon, rules_cap - rules_tokens)

    # 2. Relevant entities and 3. summaries (newest first while they fit, shown oldest first).
    entities, entities_dropped = _fit(request.entities, int(available * ENTITY_SHARE))
    newest_first, summaries_dropped = _fit(
        list(reversed(request.summaries)), int(available * SUMMARY_SHARE)
    )

    def assemble() -> tuple[str, str, int]:
        system = rules
        if canon:
            system += "\n\n# Canon\n\n" + "\n\n".join(clean(b.text) for b, _ in canon)
        cards = sorted(entities, key=lambda bt: bt[0].key)  # stable order: cache-friendly
        world = f"# {request.world_heading}\n\n" + (
            "\n\n".join(clean(b.text) for b, _ in cards) if cards else "(nothing relevant yet)"
        )
        summaries = sorted(newest_first, key=lambda bt: (bt[0].first_turn, bt[0].key))
        if summaries:
            world += "\n\n# The story so far\n\n" + "\n\n".join(clean(b.text) for b, _ in summaries)
        return system, world, count_piece("user", f"{system}\n\n{world}")

    system, world, first_tokens = assemble()
    # Estimates are sums of parts; the exact count decides. Shrink until it fits.
    while fixed + first_tokens > budget:
        if entities:
            entities_dropped.insert(0, entities.pop()[0])
        elif newest_first:
            summaries_dropped.insert(0, newest_first.pop()[0])
        elif canon:
            canon_dropped.insert(0, canon.pop()[0])
        elif rules:
            rules, rules_truncated = _truncate(rules, max(0, count_text(rules) // 2)), True
            rules_tokens = count_text(rules)
        else:
            raise ContextTooSmall(fixed + first_tokens, budget)
        system, world, first_tokens = assemble()

    # 4. Recent turns, newest first, whole turns only, in what is left.
    remaining = budget - fixed - first_tokens
    recent: list[PastTurn] = []
    for past in request.turns:
        cost = past.user_tokens + past.assistant_tokens
        if cost > remaining:
            break
        recent.append(past)
        remaining -= cost

    # 5. Left-over room goes back to entities that did not fit their share (worth a recount
    # of the world message only when it is more than a card or two).
    if remaining >= LEFTOVER_WORTH_A_RECOUNT and entities_dropped:
        extra, still_dropped = _fit(entities_dropped, remaining)
        if extra:
            before = (list(entities), first_tokens)
            entities.extend(extra)
            system, world, first_tokens = assemble()
            if (
                fixed + first_tokens + sum(p.user_tokens + p.assistant_tokens for p in recent)
                > budget
            ):
                entities[:] = before[0]
                system, world, first_tokens = assemble()
            else:
                entities_dropped = still_dropped

    messages = [
        Message("system", system),
        Message("user", world),
        Message("assistant", ACKNOWLEDGEMENT),
    ]
    for past in reversed(recent):
        messages.append(Message("user", clean(past.user)))
        messages.append(Message("assistant", clean(past.assistant)))
    messages.append(Message("user", action))
    total = fixed + first_tokens + sum(p.user_tokens + p.assistant_tokens for p in recent)

    verbatim = sorted(p.number for p in recent)
    first_verbatim = verbatim[0] if verbatim else request.last_turn + 1
    summary_spans = [(b.first_turn, b.last_turn) for b, _ in newest_first]
    summarized, dropped_turns = _subtract((1, first_verbatim - 1), summary_spans)
    context_map = {
        "window": request.window,
        "reserve": request.reserve,
        "budget": budget,
        "prompt_tokens": total,
        "sections": [
            {
                "name": "rules",
                "title": "Rules and canon",
                "tokens": rules_tokens + sum(t for _, t in canon),
                "truncated": rules_truncated,
                "included": [_entry(b, t) for b, t in canon],
                "dropped": [b.label for b in canon_dropped[:DROPPED_LABELS_SHOWN]],
                "dropped_count": len(canon_dropped),
            },
            {
                "name": "entities",
                "title": "Relevant entities",
                "tokens": sum(t for _, t in entities),
                "included": [_entry(b, t) for b, t in entities],
                "dropped": [b.label for b in entities_dropped[:DROPPED_LABELS_SHOWN]],
                "dropped_count": len(entities_dropped),
            },
            {
                "name": "summaries",
                "title": "Summaries",
                "tokens": sum(t for _, t in newest_first),
                "included": [
                    _entry(b, t) for b, t in sorted(newest_first, key=lambda x: x[0].first_turn)
                ],
                "dropped": [b.label for b in summaries_dropped[:DROPPED_LABELS_SHOWN]],
                "dropped_count": len(summaries_dropped),
            },
            {
                "name": "turns",
                "title": "Recent turns, verbatim",
                "tokens": sum(p.user_tokens + p.assistant_tokens for p in recent),
                "verbatim": _ranges(verbatim),
                "verbatim_count": len(verbatim),
                "summarized": summarized,
                "dropped": dropped_turns,
            },
            {"name": "action", "title": "This action", "tokens": action_tokens},
        ],
    }
    return PackedPrompt(messages, total, budget, context_map, action_tokens)
