"""Entities proposed from ingested world documents, accepted or dismissed by the user."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from research.models import Chunk, Document
from stories.models import EntityProposal, Event, ProposalRun
from stories.projection import load_state
from stories.proposals import proposal_accept, proposal_run_execute, proposal_run_request
from stories.services import WorldEditProblem
from stories.tasks import propose_entities
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime

pytestmark = pytest.mark.django_db

BIBLE = (
    "Saltmarsh is a fishing town. The Old Lighthouse stands on the point, kept by Mira, "
    "a retired smuggler. The Harbor is busy at dawn."
)


@pytest.fixture
def world_document(campaign, user):
    document = Document.objects.create(
        project=campaign.world_project,
        uploaded_by=user,
        title="Setting bible",
        original_name="bible.md",
        file_type="markdown",
        content_hash="x" * 64,
        stage="ready",
    )
    Chunk.objects.create(
        document=document, ordinal=0, text=BIBLE, token_count=40, page_start=1, page_end=1
    )
    return document


def proposal(**fields) -> dict:
    return {"kind": "create", **fields}


def test_world_documents_yield_proposals_for_new_entities_only(
    campaign, user, world_document, django_capture_on_commit_callbacks
):
    answer = {
        "entities": [
            proposal(entity_kind="location", name="Old Lighthouse", description="On the point."),
            proposal(
                entity_kind="character",
                name="Mira",
                description="A retired smuggler.",
                location="Old Lighthouse",
            ),
            proposal(entity_kind="location", name="harbor"),  # already in the world
        ]
    }
    runtime = ScriptedRuntime([json.dumps(answer)], context_window=8192)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = proposal_run_request(campaign=campaign, user=user)
    assert len(callbacks) == 1 and run.status == ProposalRun.Status.QUEUED
    with use_runtime(runtime):
        assert proposal_run_execute(run_id=run.pk) == 2
        assert proposal_run_execute(run_id=run.pk) == 0  # claimed already: a repeat is harmless
    assert BIBLE in runtime.calls[0][-1].content
    run.refresh_from_db()
    assert run.status == ProposalRun.Status.DONE and "2 new" in run.message
    mira, lighthouse = (
        EntityProposal.objects.get(campaign=campaign, change__name=n)
        for n in ("Mira", "Old Lighthouse")
    )
    assert mira.source_document == world_document

    with pytest.raises(WorldEditProblem, match="Old Lighthouse"):
        proposal_accept(proposal=mira, user=user)  # its place is not in the world yet
    mira.refresh_from_db()
    assert mira.status == "pending" and "Old Lighthouse" in mira.reason
    proposal_accept(proposal=lighthouse, user=user)
    proposal_accept(proposal=mira, user=user)
    state = load_state(campaign)
    mira_number = state.find("Mira")
    assert mira_number is not None
    assert state.entities[mira_number].location == state.find("Old Lighthouse")
    assert Event.objects.filter(campaign=campaign, source="proposal").count() == 2


def test_invalid_proposal_json_fails_the_run_clearly(campaign, user, world_document):
    run = proposal_run_request(campaign=campaign, user=user)
    with use_runtime(ScriptedRuntime(["{oops"] * 3, context_window=8192)):
        proposal_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == ProposalRun.Status.FAILED and "after 3 attempts" in run.error


def test_the_proposals_page_lists_and_accepts(signed_in_client, campaign, user, world_document):
    run = ProposalRun.objects.create(campaign=campaign, status="done", message="1 new proposal(s).")
    p = EntityProposal.objects.create(
        campaign=campaign, run=run, change=proposal(entity_kind="item", name="Brass key")
    )
    dismissed = EntityProposal.objects.create(
        campaign=campaign, run=run, change=proposal(entity_kind="item", name="Rope")
    )
    page = signed_in_client.get(reverse("stories:proposals", args=[campaign.pk])).content.decode()
    assert "Brass key" in page and "Setting bible" in page
    signed_in_client.post(reverse("stories:proposal_accept", args=[campaign.pk, p.pk]))
    signed_in_client.post(reverse("stories:proposal_dismiss", args=[campaign.pk, dismissed.pk]))
    assert load_state(campaign).find("Brass key") is not None
    dismissed.refresh_from_db()
    assert dismissed.status == "dismissed"


def test_a_server_error_is_retried_with_backoff_then_the_run_fails_with_its_words(
    ollama, campaign, user, world_document
):
    ollama.error = (503, "the GPU is busy")
    run = proposal_run_request(campaign=campaign, user=user)
    propose_entities.apply(args=(run.pk,))
    run.refresh_from_db()
    retries = propose_entities.model_max_retries
    assert len(ollama.chat_requests()) == 1 + retries  # each retry claimed the run again
    assert run.status == ProposalRun.Status.FAILED and "the GPU is busy" in run.error


def test_an_error_retrying_cannot_fix_fails_the_run_at_once(ollama, campaign, user, world_document):
    ollama.error = (400, "invalid option: num_ctx")
    run = proposal_run_request(campaign=campaign, user=user)
    propose_entities.apply(args=(run.pk,))
    run.refresh_from_db()
    assert len(ollama.chat_requests()) == 1
    assert run.status == ProposalRun.Status.FAILED and "invalid option" in run.error


def test_an_unexpected_error_fails_the_run_with_its_words(campaign, user, monkeypatch):
    def broken(campaign):
        raise LookupError("the projection is missing a row")

    monkeypatch.setattr("stories.proposals.load_state", broken)
    run = proposal_run_request(campaign=campaign, user=user)
    assert propose_entities.apply(args=(run.pk,)).failed()
    run.refresh_from_db()
    assert run.status == ProposalRun.Status.FAILED
    assert run.error == (
        "Unexpected error in propose_entities: LookupError: the projection is missing a row"
    )
