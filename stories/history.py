"""Undo and branch: moving a campaign back in time, or forking it at a turn.

Undo marks the turns after the chosen one, and every event recorded after it, as undone
(nothing is deleted: the timeline still shows them), drops snapshots and summaries that
reach past it, and rebuilds the projection from the events that remain. A branch is a
new campaign made from the export of this one cut at a turn (stories.exchange), so its
world is exactly the replay of the events up to that turn. Its world documents are the
source's research project when the person branching may read it, else their own copy.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F

from research.access import project_readable_by_user
from research.library.services import project_copy
from research.models import Project
from stories.exchange import campaign_export, campaign_import
from stories.locking import campaign_lease
from stories.models import Campaign, CampaignMember, Event, Snapshot, Turn
from stories.projection import rebuild
from stories.replay import state_at
from stories.summaries import summaries_after_undo

EDIT_ROLES = (CampaignMember.Role.OWNER, CampaignMember.Role.EDITOR)


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
            raise HistoryProblem(undo_range_problem(locked.head_turn))
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


def undo_range_problem(head_turn: int) -> str:
    """What to say when the turn asked for cannot be gone back to (no nonsense range)."""
    if head_turn == 0:
        return "No turn has finished yet, so there is nothing to undo."
    if head_turn == 1:
        return "Only turn 0 (the start, before turn 1) can be gone back to."
    return f"Choose a turn from 0 to {head_turn - 1} to go back to."


def branch_range_problem(head_turn: int) -> str:
    if head_turn == 0:
        return "No turn has finished yet, so a branch can only start at turn 0 (the start)."
    return f"Choose a turn from 0 to {head_turn} to branch from."


def campaign_branch(*, campaign: Campaign, user: User, at_turn: int, title: str = "") -> Campaign:
    """A new campaign owned by `user` whose history and world are this one's up to `at_turn`.
    Only the campaign's owner and editors may branch it."""
    if not CampaignMember.objects.filter(
        campaign=campaign, user=user, role__in=EDIT_ROLES
    ).exists():
        raise HistoryProblem("Only the campaign's owner and editors can branch it.")
    if not 0 <= at_turn <= campaign.head_turn:
        raise HistoryProblem(branch_range_problem(campaign.head_turn))
    data = campaign_export(campaign, through_turn=at_turn)
    title = (title.strip() or f"{campaign.title} (from turn {at_turn})")[:200]
    with transaction.atomic():
        return campaign_import(
            owner=user,
            data=data,
            title=title,
            branched_from=campaign,
            branched_at_turn=at_turn,
            world_project=_branch_world_project(campaign=campaign, user=user, title=title),
        )


def _branch_world_project(*, campaign: Campaign, user: User, title: str) -> Project | None:
    """The world documents of a branch by `user`: the source's own project when `user` may
    read it (research/access.py: every later read is checked again, so losing the share
    later hides its documents), otherwise a copy owned by `user` of the documents as they
    are now; None (a new, empty project) when the source has none."""
    source = campaign.world_project
    if source is None:
        return None
    if project_readable_by_user(user=user, project_id=source.pk):
        return source
    return project_copy(project=source, owner=user, title=f"{title} — world documents")
