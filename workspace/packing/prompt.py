"""Prompt assembly with a stable prefix: system rules first, then the sources in a fixed
order, then the conversation, and the question last. Two questions over the same sources
share the whole prefix up to the question, so the model server can reuse its KV cache."""

from __future__ import annotations

from collections.abc import Sequence

from workspace.packing.layout import QUESTION_HEADING
from workspace.runtime.types import Message

Turn = tuple[str, str]  # an earlier (question, answer) of the same thread


def build_messages(
    *, system: str, sources_text: str, question: str, history: Sequence[Turn] = ()
) -> list[Message]:
    """[system], user(sources + first question), then earlier answers and questions."""
    messages: list[Message] = []
    if system:
        messages.append(Message("system", system))
    first = history[0][0] if history else question
    messages.append(Message("user", f"{sources_text}{QUESTION_HEADING}{first}"))
    for index, (_, answer) in enumerate(history):
        following = history[index + 1][0] if index + 1 < len(history) else question
        messages.append(Message("assistant", answer))
        messages.append(Message("user", following))
    return messages
