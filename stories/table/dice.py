"""Dice notation (the `d20` package, Avrae's engine) rolled by a seeded generator.

Every roll in a campaign is reproducible: its generator is seeded from the campaign's
`dice_seed` (kept by branches) and the sequence number of the event the roll becomes,
so replaying or branching a campaign gives the same rolls, and the roll's result is also
stored in its event's payload. `dice_check` parses an expression and refuses what is not
dice notation or is too big (`1000000d1000000`) before anything is rolled; rolling is
also capped by d20's own roll counter, which stops exploding and rerolling dice.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass

import d20
from d20 import expression as d20_expression

EXPRESSION_MAX_CHARS = 100
DICE_MAX = 100  # dice in one term: 100d6 yes, 101d6 no
SIDES_MAX = 1000
LITERAL_MAX = 100_000
ROLLS_MAX = 500  # dice actually rolled, counting rerolls and explosions

# d20 draws from the module-level `random`; rolling swaps in a seeded generator, one roll
# at a time in this process.
_ROLL_LOCK = threading.Lock()


class DiceProblem(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Roll:
    expression: str  # normalized, as d20 writes it back
    total: int
    detail: str  # each die shown: "1d20 (14) + 5 = `19`"


def _walk(node: d20.ast.Node) -> None:
    if isinstance(node, d20.ast.Dice):
        if int(node.num) > DICE_MAX:
            raise DiceProblem(f"At most {DICE_MAX} dice in one roll ({node.num} asked).")
        if node.size != "%" and not 1 <= int(node.size) <= SIDES_MAX:
            raise DiceProblem(f"Dice have 1 to {SIDES_MAX} sides ({node.size} asked).")
    elif isinstance(node, d20.ast.Literal) and abs(node.value) > LITERAL_MAX:
        raise DiceProblem(f"Numbers in a roll are at most {LITERAL_MAX:,}.")
    for child in node.children:
        _walk(child)


def dice_check(expression: str) -> d20.ast.Expression:
    """The parsed expression, or DiceProblem saying what is wrong with it."""
    text = " ".join(str(expression).split())
    if not text:
        raise DiceProblem("Write the dice to roll, such as 1d20+3.")
    if len(text) > EXPRESSION_MAX_CHARS:
        raise DiceProblem(f"Dice expressions are at most {EXPRESSION_MAX_CHARS} characters.")
    try:
        tree = d20.parse(text)
    except d20.RollSyntaxError as exc:
        raise DiceProblem(f"{text!r} is not dice notation (such as 1d20+5 or 2d20kh1).") from exc
    except d20.RollError as exc:
        raise DiceProblem(f"{text!r} cannot be rolled: {exc}") from exc
    _walk(tree)
    return tree


def roll_seed(*, campaign_seed: str, sequence: int) -> int:
    """The generator seed of the roll that becomes event `sequence`."""
    digest = hashlib.sha256(f"{campaign_seed}:{sequence}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def dice_roll(expression: str, *, seed: int) -> Roll:
    """Roll `expression` with a generator seeded by `seed`: the same seed, the same roll."""
    tree = dice_check(expression)
    roller = d20.Roller(context=d20.RollContext(max_rolls=ROLLS_MAX))
    with _ROLL_LOCK:
        saved = d20_expression.random
        d20_expression.random = random.Random(seed)
        try:
            result = roller.roll(tree, stringifier=d20.SimpleStringifier())
            total, detail = int(result.total), str(result)  # evaluated lazily
        except d20.TooManyRolls as exc:
            raise DiceProblem(f"That roll needs more than {ROLLS_MAX} dice.") from exc
        except (d20.RollError, ZeroDivisionError) as exc:
            raise DiceProblem(f"That roll cannot be made: {exc}") from exc
        finally:
            d20_expression.random = saved
    return Roll(expression=str(tree), total=total, detail=detail)
