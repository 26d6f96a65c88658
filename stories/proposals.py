"""Entities proposed from a campaign's world documents, for the user to accept.

The world documents are a research Project (kind "world") that the research app
ingests into Documents and Chunks. A proposal run reads the ready documents' chunks in
window-sized batches and asks the model (structured, stories.world.ProposedEntities) for
the characters, places, items, factions, arcs and quests they introduce. Each becomes an
EntityProposal; accepting one validates and records it like any other world change.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth.models import User
from django.utils import timezone

from research.access import project_documents_for_user
from research.models import Chunk, Document
from stories import prompts, world
from stories.context import count_text, prompt_tokens
from stories.models import Campaign, EntityProposal, Event, ProposalRun
from stories.projection import load_state
from stories.services import WorldEditProblem, _one, _only, world_write
from stories.state import WorldState, name_key
from stories.validation import Verdict, validate_create
from workspace.jobs import enqueue_on_commit, task_signature
from workspace.runtime import get_runtime
from workspace.runtime.errors import InvalidModelOutput
from workspace.runtime.types import Message, ModelRuntime

PROPOSAL_MAX_TOKENS = 2048
PROPOSAL_ATTEMPTS = 3
MAX_BATCHES = 20
KNOWN_NAMES_SHOWN = 300
PROPOSE_TASK = "stories.tasks.propose_entities"
NOT_QUEUED = "Carrel could not reach its task queue, so the documents were not read; try again."


def proposal_run_request(*, campaign: Campaign, user: User) -> ProposalRun:
    """Queue a run (at most one waiting or running per campaign)."""
    active = campaign.proposal_runs.filter(
        status__in=[ProposalRun.Status.QUEUED, ProposalRun.Status.RUNNING]
    ).first()
    if active:
        return active
    run = ProposalRun.objects.create(campaign=campaign, requested_by=user)
    enqueue_on_commit(
        task_signature(PROPOSE_TASK, run.pk),
        on_failure=lambda _exc: proposal_run_fail(run_id=run.pk, error=NOT_QUEUED),
    )
    return run


def _batches(campaign: Campaign, limit: int) -> Iterator[tuple[Document, str]]:
    """(document, text) pieces of ready world documents, each within `limit` tokens."""
    # A background job reads as the campaign's owner (research/access.py): a branch that
    # shares a world project its owner may no longer read gets no documents from it.
    documents = (
        project_documents_for_user(user=campaign.owner, project_id=campaign.world_project_id)
        .filter(stage=Document.Stage.READY)
        .order_by("created_at", "id")
    )
    for document in documents:
        parts: list[str] = []
        used = 0
        for text, tokens in (
            Chunk.objects.filter(document=document)
            .order_by("ordinal")
            .values_list("text", "token_count")
        ):
            tokens = tokens or count_text(text)
            if parts and used + tokens > limit:
                yield document, "\n\n".join(parts)
                parts, used = [], 0
            parts.append(text)
            used += tokens
        if parts:
            yield document, "\n\n".join(parts)


def proposal_run_execute(*, run_id: int) -> int:
    """Do a queued run; the number of proposals made. Claimed, so a repeat is harmless."""
    claimed = ProposalRun.objects.filter(pk=run_id, status=ProposalRun.Status.QUEUED).update(
        status=ProposalRun.Status.RUNNING, message="Reading the world documents…"
    )
    if not claimed:
        return 0
    run = ProposalRun.objects.select_related("campaign").get(pk=run_id)
    campaign = run.campaign
    runtime = get_runtime()
    window = runtime.facts().context_window
    state = load_state(campaign)
    known = {name_key(e.name) for e in state.entities.values()}
    known |= {
        name_key(p.name) for p in campaign.proposals.filter(status=EntityProposal.Status.PENDING)
    }
    shown = (
        ", ".join(sorted(e.name for e in state.entities.values())[:KNOWN_NAMES_SHOWN]) or "(none)"
    )
    instruction = prompts.PROPOSE.replace("{known}", shown)
    limit = max(256, window - PROPOSAL_MAX_TOKENS - count_text(instruction) - 64)
    made = 0
    try:
        for batch_number, (document, text) in enumerate(_batches(campaign, limit)):
            if batch_number >= MAX_BATCHES:
                break
            messages = [Message("system", instruction), Message("user", text)]
            if prompt_tokens(messages) + PROPOSAL_MAX_TOKENS > window:
                continue
            proposed = _ask(runtime, messages)
            rows = []
            for entity in proposed.entities:
                key = name_key(entity.name)
                if key in known:
                    continue
                known.add(key)
                rows.append(
                    EntityProposal(
                        campaign=campaign,
                        run=run,
                        source_document=document,
                        change=entity.model_dump(mode="json"),
                    )
                )
            EntityProposal.objects.bulk_create(rows)
            made += len(rows)
            ProposalRun.objects.filter(pk=run_id).update(
                message=f"Read {batch_number + 1} part(s); {made} proposal(s) so far."
            )
    except InvalidModelOutput as exc:
        proposal_run_fail(run_id=run_id, error=f"{exc.message} ({made} proposal(s) were kept).")
        return made
    message = (
        f"{made} new proposal(s)."
        if made
        else "No new entities found in the ready world documents."
    )
    _finish(run_id, failed=False, message=message)
    return made


def _ask(runtime: ModelRuntime, messages: list[Message]) -> world.ProposedEntities:
    last: InvalidModelOutput | None = None
    for _ in range(PROPOSAL_ATTEMPTS):
        try:
            return runtime.structured(
                messages, schema=world.ProposedEntities, max_tokens=PROPOSAL_MAX_TOKENS
            )
        except InvalidModelOutput as exc:
            last = exc
    assert last is not None
    raise InvalidModelOutput(
        f"The model's proposals were still invalid after {PROPOSAL_ATTEMPTS} attempts: "
        f"{last.message}",
        last.raw,
    )


def _finish(run_id: int, *, failed: bool, message: str = "", error: str = "") -> None:
    ProposalRun.objects.filter(pk=run_id).update(
        status=ProposalRun.Status.FAILED if failed else ProposalRun.Status.DONE,
        message=message,
        error=error,
        finished_at=timezone.now(),
    )


def proposal_run_fail(*, run_id: int, error: str) -> None:
    """End the run as failed with `error` shown on the page (the proposals made so far stay)."""
    _finish(run_id, failed=True, error=error)


def proposal_run_requeue(*, run_id: int, message: str) -> None:
    """Put a running run back in the queue, so the task's retry claims it again."""
    ProposalRun.objects.filter(pk=run_id, status=ProposalRun.Status.RUNNING).update(
        status=ProposalRun.Status.QUEUED, message=message
    )


def proposal_accept(*, proposal: EntityProposal, user: User) -> Verdict:
    """Add the proposed entity to the world (validated like any change)."""
    if proposal.status != EntityProposal.Status.PENDING:
        raise WorldEditProblem("This proposal was already handled.")
    campaign = proposal.campaign
    change = world.NewEntity.model_validate(proposal.change)

    def build(state: WorldState) -> list[Verdict]:
        return _one(validate_create(state, change), state, campaign.head_turn)

    verdicts = world_write(campaign=campaign, user=user, build=build, source=Event.Source.PROPOSAL)
    if not verdicts[0].accepted:
        EntityProposal.objects.filter(pk=proposal.pk).update(reason=verdicts[0].reason)
        proposal.reason = verdicts[0].reason
    else:
        EntityProposal.objects.filter(pk=proposal.pk).update(status=EntityProposal.Status.ACCEPTED)
        proposal.status = EntityProposal.Status.ACCEPTED
    return _only(verdicts)


def proposal_dismiss(*, proposal: EntityProposal) -> None:
    EntityProposal.objects.filter(pk=proposal.pk, status=EntityProposal.Status.PENDING).update(
        status=EntityProposal.Status.DISMISSED
    )
