"""A scripted dungeon master for tests, the benchmark and demos (with ScriptedRuntime).

Each scripted turn is the check step's answer (`check`: the check asked for before the
narration, none by default; `check_raw` overrides it with any text), a narration, and the
state-change answer(s) to give when Carrel asks for the changes (several answers script
invalid JSON followed by a valid retry). The script tells the calls apart by the last
message: the check question ends it, or it is the state-change instruction.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stories import prompts
from workspace.runtime.types import Message


@dataclass
class ScriptedTurn:
    narration: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    raw_answers: list[str] | None = None  # overrides `changes` (e.g. invalid JSON first)
    check: dict[str, Any] | None = None  # {"who", "what", "dice", "target", "why"}
    check_raw: str | None = None  # overrides `check` (e.g. not JSON)

    def check_answer(self) -> str:
        if self.check_raw is not None:
            return self.check_raw
        return json.dumps({"check": self.check})

    def answers(self) -> list[str]:
        if self.raw_answers is not None:
            return list(self.raw_answers)
        return [json.dumps({"changes": self.changes})]


class StoryScript:
    """Use as ScriptedRuntime(StoryScript([...])); add turns with .add()."""

    def __init__(self, turns: Sequence[ScriptedTurn] = ()) -> None:
        self.turns: deque[ScriptedTurn] = deque(turns)
        self._answers: deque[str] = deque()
        self.narrations = 0
        self.change_calls = 0
        self.check_calls = 0
        self.other_calls: list[list[Message]] = []
        self.other_reply = "A scripted summary of those turns."

    def add(self, narration: str, changes: list[dict[str, Any]] | None = None, **kw: Any) -> None:
        self.turns.append(ScriptedTurn(narration, changes or [], **kw))

    def __call__(self, messages: Sequence[Message]) -> str:
        last = messages[-1].content if messages else ""
        if last.endswith(prompts.CHECK):  # before the turn's narration: its check, if any
            self.check_calls += 1
            return self.turns[0].check_answer() if self.turns else json.dumps({"check": None})
        if last == prompts.CHANGES:
            self.change_calls += 1
            if not self._answers:
                return json.dumps({"changes": []})
            return self._answers.popleft()
        if (
            messages
            and messages[0].role == "system"
            and messages[0].content.startswith(prompts.DUNGEON_MASTER)
        ):
            if not self.turns:
                raise AssertionError("The story script ran out of turns")
            turn = self.turns.popleft()
            self._answers = deque(turn.answers())
            self.narrations += 1
            return turn.narration
        self.other_calls.append(list(messages))
        return self.other_reply
