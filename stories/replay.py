"""The world as it was after any turn, rebuilt from the event log.

"State as of turn N" is the nearest snapshot at or before N plus the live (applied, not
undone) events after it whose turn is <= N, applied in sequence order by the same
`apply_event` the live path uses. A turn's number covers the turn itself and any hand
edits made after it and before the next turn. Snapshots are taken every SNAPSHOT_EVERY
turns, so a 10,000-turn campaign replays at most a hundred turns of events.
"""

from __future__ import annotations

from django.db import transaction

from stories.ledger import SNAPSHOT_EVERY
from stories.models import Campaign, Event, Snapshot
from stories.state import WorldState, apply_event


def _live_events(campaign: Campaign, *, through_turn: int | None, after_sequence: int = 0):
    events = Event.objects.filter(
        campaign=campaign, applied=True, undone=False, sequence__gt=after_sequence
    )
    if through_turn is not None:
        events = events.filter(turn_number__lte=through_turn)
    return events.order_by("sequence").values_list("sequence", "turn_number", "kind", "payload")


def state_at(
    campaign: Campaign, turn: int | None = None, *, use_snapshots: bool = True
) -> WorldState:
    """The world after `turn` (None: after everything)."""
    state = WorldState()
    after = 0
    if use_snapshots:
        snapshots = Snapshot.objects.filter(campaign=campaign)
        if turn is not None:
            snapshots = snapshots.filter(turn_number__lte=turn)
        snapshot = snapshots.order_by("-turn_number").first()
        if snapshot is not None:
            state = WorldState.from_dict(snapshot.state)
            after = snapshot.sequence
    for _sequence, turn_number, kind, payload in _live_events(
        campaign, through_turn=turn, after_sequence=after
    ).iterator(chunk_size=2000):
        apply_event(state, kind, payload, turn_number)
    state.clear_touched()
    return state


def snapshots_rebuild(campaign: Campaign) -> int:
    """Recreate the campaign's snapshots from its events (after import or branch)."""
    marks = list(range(SNAPSHOT_EVERY, campaign.head_turn + 1, SNAPSHOT_EVERY))
    state = WorldState()
    created = []
    last_sequence = 0
    pending = iter(marks)
    mark = next(pending, None)
    for sequence, turn_number, kind, payload in _live_events(campaign, through_turn=None).iterator(
        chunk_size=2000
    ):
        while mark is not None and turn_number > mark:
            created.append(
                Snapshot(
                    campaign=campaign,
                    turn_number=mark,
                    sequence=last_sequence,
                    state=state.as_dict(),
                )
            )
            mark = next(pending, None)
        apply_event(state, kind, payload, turn_number)
        last_sequence = sequence
    while mark is not None:
        created.append(
            Snapshot(
                campaign=campaign, turn_number=mark, sequence=last_sequence, state=state.as_dict()
            )
        )
        mark = next(pending, None)
    with transaction.atomic():
        Snapshot.objects.filter(campaign=campaign).delete()
        Snapshot.objects.bulk_create(created, batch_size=50)
    return len(created)
