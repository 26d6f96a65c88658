"""The typed vocabulary of world-state changes, as the model proposes them.

These pydantic models are the JSON schema of the structured call that follows each
narration: the model names entities by name (it never sees database ids), and
`stories.validation` resolves those names against the world state, rejecting what does
not hold (an item nobody holds, a move to an unknown place, an edit to an entity that
does not exist). Each accepted change becomes one Event, whose payload is the resolved
form (entity numbers, before/after values) that `stories.state.apply_event` replays.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

EntityKind = Literal["character", "faction", "location", "item", "arc", "quest", "lore"]
ENTITY_KINDS: tuple[str, ...] = ("character", "faction", "location", "item", "arc", "quest", "lore")
ArcStatus = Literal["open", "resolved", "failed"]

Name = Annotated[str, Field(min_length=1, max_length=200)]
Note = Annotated[str, Field(max_length=2000)]
Tag = Annotated[str, Field(min_length=1, max_length=200)]


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Move(_Change):
    """A character, item or faction goes to a known location."""

    kind: Literal["move"]
    entity: Name
    to: Name


class Transfer(_Change):
    """Items change hands. No from_holder: the items appear (found, made, bought).
    No to_holder: they are used up, lost or destroyed."""

    kind: Literal["transfer"]
    item: Name
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    from_holder: Name | None = None
    to_holder: Name | None = None


class RelationshipChange(_Change):
    """How source feels about target (-100..100) moves by delta."""

    kind: Literal["relationship"]
    source: Name
    target: Name
    relation: Name
    delta: int = Field(ge=-200, le=200)
    note: Note = ""


class StatChange(_Change):
    kind: Literal["stat"]
    entity: Name
    stat: Name
    delta: int = Field(ge=-1_000_000, le=1_000_000)


class StatusChange(_Change):
    """A new status such as wounded, captured, hidden (use death for deaths)."""

    kind: Literal["status"]
    entity: Name
    status: Name


class Death(_Change):
    kind: Literal["death"]
    entity: Name
    cause: Note = ""


class TraitsChange(_Change):
    kind: Literal["traits"]
    entity: Name
    add: list[Tag] = Field(default_factory=list)
    remove: list[Tag] = Field(default_factory=list)


class GoalsChange(_Change):
    kind: Literal["goals"]
    entity: Name
    add: list[Tag] = Field(default_factory=list)
    remove: list[Tag] = Field(default_factory=list)


class NewEntity(_Change):
    """Someone or something new enters the story."""

    kind: Literal["create"]
    entity_kind: EntityKind
    name: Name
    description: Note = ""
    location: Name | None = None
    stats: dict[str, int] = Field(default_factory=dict)
    traits: list[Tag] = Field(default_factory=list)
    goals: list[Tag] = Field(default_factory=list)


class Connect(_Change):
    """A path now joins two known locations."""

    kind: Literal["connect"]
    a: Name
    b: Name


class ClockAdvance(_Change):
    kind: Literal["clock"]
    minutes: int = Field(ge=0, le=10 * 365 * 24 * 60)


class ArcProgress(_Change):
    """A story arc or quest moves on; status resolves or fails it."""

    kind: Literal["arc"]
    arc: Name
    status: ArcStatus | None = None
    note: Note = ""


class Check(_Change):
    """A check the story calls for: code rolls the dice, the total against the target
    number decides it (stories.table.checks); the model never chooses the result."""

    kind: Literal["check"]
    who: Name  # the character (or faction) making the check
    what: Name  # what is attempted: "pick the lock", "Stealth"
    dice: Annotated[str, Field(min_length=1, max_length=500)]  # 1d20+5; checked by the table
    target: int = Field(ge=-100_000, le=100_000)  # the number to meet or beat
    why: Note = ""


class Damage(_Change):
    """Hit points lost (the entity's `hp` stat); at 0 the campaign's rule applies:
    unconscious or dead (stories.table.checks)."""

    kind: Literal["damage"]
    entity: Name
    amount: int = Field(ge=1, le=1_000_000)
    cause: Note = ""


class Heal(_Change):
    """Hit points regained; an unconscious character above 0 wakes."""

    kind: Literal["heal"]
    entity: Name
    amount: int = Field(ge=1, le=1_000_000)
    cause: Note = ""


class Encounter(_Change):
    """A fight: start (the participants; code rolls initiative), next (whose turn it is
    moves on, the round with it), end."""

    kind: Literal["encounter"]
    action: Literal["start", "next", "end"]
    participants: list[Name] = Field(default_factory=list, max_length=30)
    note: Note = ""


class Condition(_Change):
    """Conditions on a participant of the encounter (prone, poisoned, grappled...)."""

    kind: Literal["condition"]
    entity: Name
    add: list[Tag] = Field(default_factory=list, max_length=10)
    remove: list[Tag] = Field(default_factory=list, max_length=10)


Change = Annotated[
    Move
    | Transfer
    | RelationshipChange
    | StatChange
    | StatusChange
    | Death
    | TraitsChange
    | GoalsChange
    | NewEntity
    | Connect
    | ClockAdvance
    | ArcProgress
    | Check
    | Damage
    | Heal
    | Encounter
    | Condition,
    Field(discriminator="kind"),
]


class CheckRequest(BaseModel):
    """A check the player's action calls for, asked for before the narration (the check
    step of a turn, stories.turns): the same fields as a Check change."""

    model_config = ConfigDict(extra="forbid")

    who: Name
    what: Name
    dice: Annotated[str, Field(min_length=1, max_length=500)]
    target: int = Field(ge=-100_000, le=100_000)
    why: Note = ""

    def as_change(self) -> Check:
        return Check(kind="check", **self.model_dump())


class CheckDecision(BaseModel):
    """The check step's answer: `check` is null when the action's outcome is not in doubt."""

    model_config = ConfigDict(extra="forbid")

    check: CheckRequest | None = None


class ChangeSet(BaseModel):
    """Everything the last narration changed in the world, in story order."""

    model_config = ConfigDict(extra="forbid")

    changes: list[Change] = Field(default_factory=list, max_length=100)


class ProposedEntities(BaseModel):
    """Entities a world document introduces, for the user to accept one by one."""

    entities: list[NewEntity] = Field(default_factory=list, max_length=200)
