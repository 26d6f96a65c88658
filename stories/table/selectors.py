"""Reads for the table: who may see which roll, and the campaign's recent rolls."""

from __future__ import annotations

from dataclasses import dataclass

from stories.describe import Names, roll_line
from stories.models import CampaignMember, Event

ROLL_KINDS = ("check", "roll")
ROLLS_SHOWN = 10


def roll_visible(*, event: Event, member: CampaignMember | None) -> bool:
    """A public roll is seen by every member; a private one by whoever made it (or whose
    turn asked for it) and by the game masters (owner and editors)."""
    if event.payload.get("public", True) is not False:
        return True
    if member is None:
        return False
    return member.can_edit or (event.actor_id is not None and event.actor_id == member.user_id)


@dataclass
class RollLine:
    sequence: int
    turn_number: int
    text: str
    public: bool
    total: int | None  # None: hidden from this member


def roll_list_for_member(
    *, campaign_id: int, member: CampaignMember, names: Names, limit: int = ROLLS_SHOWN
) -> list[RollLine]:
    """The campaign's last rolls and checks (live ones), newest first, as `member` sees them."""
    events = Event.objects.filter(
        campaign_id=campaign_id, kind__in=ROLL_KINDS, applied=True, undone=False
    ).order_by("-sequence")[:limit]
    lines = []
    for event in events:
        shown = roll_visible(event=event, member=member)
        lines.append(
            RollLine(
                sequence=event.sequence,
                turn_number=event.turn_number,
                text=roll_line(event.kind, event.payload, names, shown=shown),
                public=event.payload.get("public", True) is not False,
                total=int(event.payload["total"]) if shown else None,
            )
        )
    return lines
