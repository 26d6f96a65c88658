"""Undo and branch: moving a campaign back in time, or forking it at a turn.

Undo marks the turns after the chosen one, and every event recorded after it, as undone
(nothing is deleted: the timeline still shows them), drops snapshots and summaries that
reach past it, and rebuilds the projection from the events that remain. A branch is a
new campaign made from the export of this one cut at a turn (stories.exchange), so its
world is exactly the replay of the events up to that turn.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F

from stories.exchange import campaign_export, campaign_import
from stories.locking import campaign_lease
from stories.models import Campaign, CampaignMember, Event, Snapshot, Turn
from stories.projection import rebuild
from stories.replay import state_at
from stories.summaries import summaries_after_undo


class HistoryProblem(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def campaign_undo(*, campaign: Campaign, member: CampaignMember, to_turn: int) -> int:
    """Undo every turn after `to_turn`; the number of turns undone."""
    if not member.can_edit:
        raise HistoryProblem("Only the owner and editors can undo turns.")
    label = f"{member.user.get_username()} is undoing turns"
    with campaign_lease(campaign.pk, label=label), transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if not 0 <= to_turn < locked.head_turn:
            raise HistoryProblem(
                f"Choose a turn between 0 and {max(0, locked.head_turn - 1)} to go back to."
            )
        undone = Turn.objects.filter(campaign=locked, undone=False, number__gt=to_turn).update(
            undone=True
        )
        Event.objects.filter(campaign=locked, undone=False, turn_number__gt=to_turn).update(
            undone=True
        )
        Snapshot.objects.filter(campaign=locked, turn_number__gt=to_turn).delete()
        summaries_after_undo(campaign=locked, to_turn=to_turn)
        rebuild(locked, state_at(locked, to_turn))
        Campaign.objects.filter(pk=locked.pk).update(
            head_turn=to_turn, history_version=F("history_version") + 1
        )
    campaign.refresh_from_db()
    return undone


def campaign_branch(*, campaign: Campaign, user: User, at_turn: int, title: str = "") -> Campaign:
    """A new campaign owned by `user` whose history and world are this one's up to `at_turn`."""
    if not 0 <= at_turn <= campaign.head_turn:
        raise HistoryProblem(f"Choose a turn between 0 and {campaign.head_turn} to branch from.")
    data = campaign_export(campaign, through_turn=at_turn)
    return campaign_import(
        owner=user,
        data=data,
        title=(title.strip() or f"{campaign.title} (from turn {at_turn})")[:200],
        branched_from=campaign,
        branched_at_turn=at_turn,
    )
