"""Players submitting at the same moment: turns are told one at a time, numbered in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from django.db import connection

from stories import services
from stories.models import CampaignMember, Event, Turn
from stories.projection import load_state
from stories.replay import state_at
from stories.scripting import StoryScript
from stories.turns import turn_play
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.types import Message

PLAYERS = 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_simultaneous_turns_are_serialized_and_leave_a_consistent_world(
    campaign, user, django_user_model
):
    story = StoryScript()
    for n in range(PLAYERS):
        story.add(
            f"Coin {n + 1} changes hands.",
            [
                {
                    "kind": "transfer",
                    "item": "Gold coin",
                    "quantity": 1,
                    "from_holder": "Ada",
                    "to_holder": "Bram",
                },
                {"kind": "clock", "minutes": 10},
            ],
        )
    inside = []

    def slow_reply(messages: Sequence[Message]) -> str:
        inside.append(1)
        assert len(inside) == 1, "two turns were with the model at once"
        try:
            time.sleep(0.15)
            return story(messages)
        finally:
            inside.pop()

    members = [campaign.members.get(user=user)]
    for n in range(1, PLAYERS):
        other = django_user_model.objects.create_user(
            username=f"player{n}", password="pw-123456789"
        )
        members.append(
            services.member_add(campaign=campaign, username=other.username, role="player")
        )
    members = [
        CampaignMember.objects.select_related("user", "campaign").get(pk=m.pk) for m in members
    ]
    runtime = ScriptedRuntime(slow_reply, context_window=8192)
    start = threading.Barrier(PLAYERS)
    errors: list[BaseException] = []

    def play(member: CampaignMember) -> None:
        try:
            start.wait()
            turn = turn_play(
                campaign=member.campaign, member=member, action=f"{member.user.username} acts."
            )
            assert turn.status == Turn.Status.DONE, turn.error
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    with use_runtime(runtime):
        threads = [threading.Thread(target=play, args=(m,)) for m in members]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors

    turns = list(Turn.objects.filter(campaign=campaign).order_by("number"))
    assert [t.number for t in turns] == list(range(1, PLAYERS + 1))
    assert {t.actor_id for t in turns} == {m.user_id for m in members}
    events = list(Event.objects.filter(campaign=campaign).order_by("sequence"))
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert all(e.applied for e in events if e.turn_id)
    state = load_state(campaign)
    n = campaign.numbers
    assert state.holdings[(n["Ada"], n["Gold coin"])] == 5 - PLAYERS
    assert state.holdings[(n["Bram"], n["Gold coin"])] == PLAYERS
    assert state.clock == 10 * PLAYERS
    assert state.as_dict() == state_at(campaign, use_snapshots=False).as_dict()
    # Each turn was told knowing the one before it.
    narration_calls = [c for c in runtime.calls if c[-1].content.endswith("acts.")]
    for previous, call in zip(turns, narration_calls[1:], strict=False):
        assert any(m.content == previous.narration for m in call)
    campaign.refresh_from_db()
    assert campaign.head_turn == PLAYERS and campaign.lease_token == ""
