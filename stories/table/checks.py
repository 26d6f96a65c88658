"""Checks and table rolls: validated like any change, rolled by code, kept as events.

A check (`stories.world.Check`, asked for by the model in a turn's structured output)
names who attempts what, with which dice, against which target number. Validation
resolves `who` to a character or faction of the world and parses the dice
(stories.table.dice) before anything is rolled; the roll's generator is seeded from the
campaign's dice seed and the sequence number the check's event will have (kept in the
payload as `sequence`), so replay and branches give the same roll, and the payload keeps
the result (replay never rolls). A turn asks for its check before narrating and rolls it
then (stories.turns); checks in the changes proposed after the narration are refused.
A roll from the campaign page (`roll` events) is the same without a target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stories import world
from stories.state import WorldState
from stories.table.dice import DiceProblem, dice_roll, roll_seed

WHO_KINDS = frozenset({"character", "faction"})
CHECK_AFTER_NARRATION = (
    "A check is asked for before the narration, which is written knowing its roll; "
    "one listed with the changes after it is not rolled."
)


@dataclass(frozen=True)
class DiceSource:
    """Where a change set's rolls come from: the campaign's seed, and the sequence of the
    event before the first one this set will write (its verdicts become consecutive
    events, one each, in order)."""

    campaign_seed: str
    last_sequence: int
    public: bool = True
    zero_hp: str = "unconscious"  # the campaign's rule for a character at 0 hit points
    # False for the state changes proposed after a narration: a turn's check is asked for
    # and rolled before it is narrated (stories.turns), so one listed afterwards is refused.
    checks: bool = True

    def seed_for(self, position: int) -> tuple[int, int]:
        """(event sequence, generator seed) of the verdict at `position` in the set."""
        sequence = self.last_sequence + position + 1
        return sequence, roll_seed(campaign_seed=self.campaign_seed, sequence=sequence)


class CheckRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_resolve(
    state: WorldState, change: world.Check, *, dice: DiceSource | None, position: int
) -> dict[str, Any]:
    """The check's event payload, rolled; CheckRejected says why it cannot be made."""
    if dice is None:
        raise CheckRejected("Checks are rolled only during a turn.")
    if not dice.checks:
        raise CheckRejected(CHECK_AFTER_NARRATION)
    number = state.find(change.who)
    if number is None:
        raise CheckRejected(f"No character named {change.who!r} exists to make this check.")
    entity = state.entities[number]
    if entity.kind not in WHO_KINDS:
        raise CheckRejected(f"{entity.name} is a {entity.kind}; only characters make checks.")
    if entity.status == "dead":
        raise CheckRejected(f"{entity.name} is dead and cannot make a check.")
    sequence, seed = dice.seed_for(position)
    try:
        roll = dice_roll(change.dice, seed=seed)
    except DiceProblem as exc:
        raise CheckRejected(exc.message) from exc
    return {
        "entity": number,
        "what": change.what.strip(),
        "dice": roll.expression,
        "target": change.target,
        "why": change.why.strip(),
        "total": roll.total,
        "detail": roll.detail,
        "success": roll.total >= change.target,
        "sequence": sequence,
        "public": dice.public,
    }


def check_fact_line(payload: dict[str, Any], *, who: str) -> str:
    """A rolled check in a line for the narrator: "Ada tried to pick the lock: 1d20+3 = 14
    against 15: failure" (bounded: names and `what` are at most 200 characters each, the
    dice 100)."""
    what = str(payload["what"]).strip()[:200]
    if not what.lower().startswith("to "):
        what = f"to {what}"
    verdict = "success" if payload["success"] else "failure"
    return (
        f"{who[:200]} tried {what}: {payload['dice']} = {payload['total']} "
        f"against {payload['target']}: {verdict}"
    )


def roll_payload(
    *, dice: DiceSource, expression: str, reason: str, who: str, entity: int | None
) -> dict[str, Any]:
    """A roll from the page (the next event); DiceProblem if the dice are not dice."""
    sequence, seed = dice.seed_for(0)
    roll = dice_roll(expression, seed=seed)
    return {
        "entity": entity,
        "who": who,
        "dice": roll.expression,
        "reason": reason.strip(),
        "total": roll.total,
        "detail": roll.detail,
        "sequence": sequence,
        "public": dice.public,
    }


def roll_replayed(*, campaign_seed: str, payload: dict[str, Any]) -> int:
    """Roll a recorded check or roll again from its seed: the total it must have had."""
    seed = roll_seed(campaign_seed=campaign_seed, sequence=int(payload["sequence"]))
    return dice_roll(str(payload["dice"]), seed=seed).total


HP = "hp"
KNOCKED_OUT = "unconscious"


def hit_points_resolve(
    state: WorldState, change: world.Damage | world.Heal, *, zero_hp: str
) -> dict[str, Any]:
    """Damage or healing on the entity's `hp` stat (never below 0); a character brought to
    0 follows the campaign's rule (`zero_hp`: unconscious or dead), and an unconscious one
    healed above 0 wakes. The payload says every effect, so applying it is plain."""
    number = state.find(change.entity)
    if number is None:
        raise CheckRejected(f"No entity named {change.entity!r} exists.")
    entity = state.entities[number]
    if HP not in entity.stats:
        raise CheckRejected(f"{entity.name} has no hit points (no {HP} stat).")
    if entity.status == "dead":
        raise CheckRejected(f"{entity.name} is dead.")
    before = entity.stats[HP]
    if isinstance(change, world.Damage):
        after = max(0, before - change.amount)
        status = None
        if after == 0 and entity.kind == "character":
            status = "dead" if zero_hp == "dead" else KNOCKED_OUT
            if status == entity.status:
                status = None
    else:
        after = before + change.amount
        status = "alive" if entity.status == KNOCKED_OUT and after > 0 else None
    return {
        "entity": number,
        "amount": change.amount,
        "hp_before": before,
        "hp": after,
        "status": status,
        "previous": entity.status,
        "cause": change.cause.strip(),
    }
