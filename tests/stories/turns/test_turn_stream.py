"""What a turn's worker writes to its Redis Stream, which the SSE view relays."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.conf import settings

from stories.tasks import run_turn
from stories.turns import TURN_STREAM, turn_start
from workspace.jobs.streams import stream_key

pytestmark = pytest.mark.django_db


def entries(turn_id: int) -> list[tuple[str, str]]:
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    rows: Any = client.xrange(stream_key(kind=TURN_STREAM, item_id=turn_id))
    return [(fields["event"], fields.get("data", "")) for _id, fields in rows]


def test_a_turns_stream_carries_its_narration_in_pieces_and_ends_once_however_often_it_is_sent(
    campaign, owner_member, script
):
    script.add("The tide turns. Ada waits.", [])
    turn = turn_start(campaign=campaign, member=owner_member, action="I wait.")
    assert entries(turn.pk) == []  # nothing until a worker runs it (reset when submitted)
    assert run_turn.apply(args=(turn.pk,)).get() == "done"
    assert run_turn.apply(args=(turn.pk,)).get() == "done"  # a repeated message: nothing
    events = entries(turn.pk)
    assert [event for event, _data in events].count("end") == 1 and events[-1][0] == "end"
    assert (
        "".join(data for event, data in events if event == "text") == "The tide turns. Ada waits."
    )
    kinds = [event for event, _data in events]
    assert kinds.index("started") < kinds.index("text") < kinds.index("proposing")
    assert kinds.index("proposing") < kinds.index("done") < kinds.index("end")
