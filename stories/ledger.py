"""Writing verdicts to the event log and the projection, in the caller's transaction.

Every path that changes the world (a narrated turn, a hand edit, an import, an accepted
proposal) ends here: the verdicts become Event rows with consecutive sequence numbers
and the touched projection rows are written, so the log and the tables move together.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import User
from django.utils import timezone

from stories.models import Campaign, Event, Snapshot, Turn
from stories.projection import write_touched
from stories.state import WorldState
from stories.validation import Verdict

SNAPSHOT_EVERY = 100  # turns between full-state snapshots


def events_record(
    *,
    campaign: Campaign,
    state: WorldState,
    verdicts: Sequence[Verdict],
    turn_number: int,
    source: str,
    turn: Turn | None = None,
    actor: User | None = None,
) -> list[Event]:
    """Append the verdicts as events and project what `state` says they touched.

    The caller holds the campaign's lease, runs inside transaction.atomic, and has
    already applied the accepted verdicts to `state` (validation.validate_and_apply).
    """
    now = timezone.now()
    sequence = campaign.last_sequence
    events = []
    for verdict in verdicts:
        sequence += 1
        events.append(
            Event(
                campaign=campaign,
                sequence=sequence,
                turn=turn,
                turn_number=turn_number,
                kind=verdict.kind,
                source=source,
                payload=verdict.payload,
                proposed=verdict.proposed,
                applied=verdict.accepted,
                reason=verdict.reason,
                actor=actor if actor is not None and actor.pk else None,
                created_at=now,
            )
        )
    Event.objects.bulk_create(events)
    write_touched(campaign, state)
    Campaign.objects.filter(pk=campaign.pk).update(last_sequence=sequence, updated_at=now)
    campaign.last_sequence = sequence
    return events


def snapshot_take(*, campaign: Campaign, state: WorldState, turn_number: int) -> None:
    Snapshot.objects.update_or_create(
        campaign=campaign,
        turn_number=turn_number,
        defaults={"sequence": campaign.last_sequence, "state": state.as_dict()},
    )
