"""Writes for the table: a roll made from the campaign page, and the owner's table rules."""

from __future__ import annotations

from django.db import transaction

from stories.ledger import events_record
from stories.locking import campaign_lease
from stories.models import Campaign, CampaignMember, Event
from stories.projection import load_state
from stories.table.checks import DiceSource, roll_payload
from stories.table.dice import DiceProblem
from stories.validation import Verdict

REASON_MAX_CHARS = 200


class RollProblem(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def roll_make(*, member: CampaignMember, expression: str, reason: str = "") -> Event:
    """Roll `expression` for `member` (as their character, if they play one) and record it
    as the campaign's next event, under the campaign's lease (so it never interleaves with
    a turn's events and its sequence, hence its seed, is fixed)."""
    if not member.can_play:
        raise RollProblem("Viewers cannot roll dice in this campaign.")
    if len(reason) > REASON_MAX_CHARS:
        raise RollProblem(f"A reason is at most {REASON_MAX_CHARS} characters.")
    user = member.user
    label = f"{user.get_username()} is rolling dice"
    with campaign_lease(member.campaign_id, label=label), transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=member.campaign_id)
        state = load_state(campaign)
        number = member.character_number
        entity = number if number is not None and number in state.entities else None
        dice = DiceSource(
            campaign_seed=campaign.dice_seed,
            last_sequence=campaign.last_sequence,
            public=campaign.rolls_public,
        )
        try:
            payload = roll_payload(
                dice=dice,
                expression=expression,
                reason=reason,
                who=user.get_username(),
                entity=entity,
            )
        except DiceProblem as exc:
            raise RollProblem(exc.message) from exc
        proposed = {"kind": "roll", "dice": expression, "reason": reason}
        [event] = events_record(
            campaign=campaign,
            state=state,
            verdicts=[Verdict("roll", payload, accepted=True, proposed=proposed)],
            turn_number=campaign.head_turn,
            source=Event.Source.ROLL,
            actor=user,
        )
    return event


def table_rules_set(*, campaign: Campaign, rolls_public: bool, zero_hp: str) -> None:
    """The owner's choices, from now on: whether players see each other's rolls, and what
    0 hit points means (unconscious or dead)."""
    campaign.rolls_public = rolls_public
    campaign.zero_hp = zero_hp
    campaign.save(update_fields=["rolls_public", "zero_hp", "updated_at"])
