"""The story's structured calls through the services with the real embedded model (Gemma 3
270M base through llama.cpp, in a child process): a turn's state-change call and a proposal
run finish without crashing the model process, and invalid JSON fails only that call, with
a message, the narration kept and the world unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stories import proposals, turns
from stories.models import ProposalRun
from stories.projection import load_state
from stories.proposals import proposal_run_execute, proposal_run_request
from tests.stories.test_proposals import world_document  # noqa: F401  (a fixture)
from workspace.runtime import use_runtime
from workspace.runtime.embedded import EmbeddedRuntime, packaged_gguf_path

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedRuntime]:
    runtime = EmbeddedRuntime(packaged_gguf_path(), n_ctx=4096)
    yield runtime
    runtime.close()


class Recorded:
    """The real embedded runtime, noting the schema of each structured call it answers (or
    refuses): proof that the call ran, whatever the model said."""

    def __init__(self, runtime: EmbeddedRuntime) -> None:
        self.runtime = runtime
        self.structured_calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runtime, name)

    def structured(self, messages: Any, *, schema: Any, **kwargs: Any) -> Any:
        self.structured_calls.append(schema.__name__)
        return self.runtime.structured(messages, schema=schema, **kwargs)


@pytest.fixture
def model(embedded: EmbeddedRuntime, monkeypatch) -> Iterator[Recorded]:
    """The embedded model, with the turn's outputs kept short (2 shared cores)."""
    monkeypatch.setattr(turns, "NARRATION_MAX_TOKENS", 96)
    monkeypatch.setattr(turns, "CHANGES_MAX_TOKENS", 256)
    monkeypatch.setattr(proposals, "PROPOSAL_MAX_TOKENS", 256)
    recorded = Recorded(embedded)
    with use_runtime(recorded):
        yield recorded


def test_a_story_turn_runs_its_state_change_call_on_the_embedded_model(
    model, campaign, owner_member
):
    turn = turns.turn_play(campaign=campaign, member=owner_member, action="I walk to the market.")
    assert turn.status == turn.Status.DONE, turn.error
    assert turn.number == 1 and turn.narration.strip()
    assert model.structured_calls and set(model.structured_calls) == {"ChangeSet"}
    # Its changes validated (applied or rejected one by one; the small model often proposes
    # none), or the call's failure is said on the turn with the world left alone.
    if turn.changes_error:
        assert "world is unchanged" in turn.changes_error and not turn.events.exists()
    first = model.process_id
    assert first is not None
    second = turns.turn_play(campaign=campaign, member=owner_member, action="I look around.")
    assert second.status == second.Status.DONE and second.number == 2
    assert model.process_id == first  # the same model process served every call


def test_invalid_model_json_fails_only_that_turns_changes_with_a_message(
    model, campaign, owner_member, monkeypatch
):
    """Too few tokens for any ChangeSet: every attempt is cut off mid-JSON."""
    monkeypatch.setattr(turns, "CHANGES_MAX_TOKENS", 3)
    before = load_state(campaign).as_dict()
    turn = turns.turn_play(campaign=campaign, member=owner_member, action="I open the door.")
    assert turn.status == turn.Status.DONE and turn.narration.strip()  # nothing lost
    assert f"still invalid after {turns.CHANGE_ATTEMPTS} attempts" in turn.changes_error
    assert "the world is unchanged" in turn.changes_error
    assert turn.changes_raw  # the last invalid answer, shown on the turn
    assert not turn.events.exists()
    campaign.refresh_from_db()
    assert load_state(campaign).as_dict() == before
    assert campaign.head_turn == 1  # the turn counts; the next one follows it


def test_a_proposal_run_reads_a_world_document_with_the_embedded_model(
    model,
    campaign,
    user,
    world_document,  # noqa: F811
):
    run = proposal_run_request(campaign=campaign, user=user)
    made = proposal_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status in (ProposalRun.Status.DONE, ProposalRun.Status.FAILED)
    assert model.structured_calls and set(model.structured_calls) == {"ProposedEntities"}
    if run.status == ProposalRun.Status.FAILED:  # invalid JSON three times: said, not crashed
        assert "invalid" in run.error
    else:
        assert made == campaign.proposals.count()
    assert model.process_id is not None
