"""The turn loop: an action in, a narration streamed out, the world changed by it.

    turn_submit   records the player's action as a pending turn (no number yet)
    turn_run      a generator the SSE view streams: it waits for the campaign's lease
                  (turns are serialized per campaign), numbers the turn, packs the prompt
                  (stories.context), asks whether the action needs a dice check and rolls
                  it (turn_check), streams the narration told the roll as a fixed fact,
                  asks for the state changes
                  as JSON (stories.world.ChangeSet, retried a bounded number of times),
                  validates them in story order and applies the valid ones with their
                  events in one transaction. Rejected changes are recorded and shown.
    turn_start    what the pages call: submit, then send the turn to a model worker
                  (stories.tasks.run_turn); no model is ever called in the web process
    turn_execute  in the worker: turn_run to the end, each update published to the turn's
                  Redis Stream (workspace/jobs/streams.py), which the SSE view relays
    turn_play     submit and run to the end in this process (tests, the bench);
                  turn_complete runs a submitted turn to the end

The check step is one small grammar-constrained call before the narration
(world.CheckDecision: no check, or who, what, dice, target, why). Code validates it (an
unknown character or nonsense dice: no roll, the reason recorded) and rolls it with the
campaign's seeded generator; the verdict is kept on the turn (Turn.check_step) from then
on and becomes the turn's first event when its changes are applied, so a retried turn
narrates the same roll and replay and branches read it from the log. Checks listed with
the changes after the narration are refused (DiceSource.checks). A base model (the
embedded demo) cannot judge what is uncertain, so its turns skip the step.

A turn that fails before its changes are applied (model down, model crashed) is marked
failed and loses its number; the next turn takes it. If only the state-change call fails,
the narration is kept and the error is shown on the turn. A turn whose worker died mid-run
(its campaign lease expired while it was narrating or proposing) is "stuck": turn_is_stuck
says so, and turn_retry / turn_discard replace or remove it under the campaign's lease.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import redis
from django.db import transaction
from django.utils import timezone

from stories import prompts
from stories.cards import CardIndex, relevant_entities, world_heading
from stories.context import (
    CHANGES_MAX_TOKENS,
    CHECK_MAX_TOKENS,
    NARRATION_MAX_TOKENS,
    Block,
    ContextTooSmall,
    PackedPrompt,
    PastTurn,
    TurnRequest,
    clean,
    count_piece,
    output_reserve,
    pack_turn,
)
from stories.describe import roll_line
from stories.ledger import SNAPSHOT_EVERY, events_record, snapshot_take
from stories.locking import (
    CampaignBusy,
    Heartbeat,
    LeaseLost,
    campaign_for_write,
    lease_holder,
    lease_release,
    lease_try,
)
from stories.models import Campaign, CampaignMember, Event, Summary, Turn
from stories.projection import load_state
from stories.state import WorldState, apply_event
from stories.summaries import summaries_maybe_request
from stories.table.checks import DiceSource, check_fact_line
from stories.validation import Verdict, validate_and_apply, validate_change
from stories.world import ChangeSet, CheckDecision, CheckRequest
from workspace.jobs import enqueue_on_commit, task_signature
from workspace.jobs.streams import stream_end, stream_publish, stream_reset
from workspace.runtime import get_runtime
from workspace.runtime.errors import InvalidModelOutput, ModelRuntimeError
from workspace.runtime.types import Message, ModelRuntime

CHANGE_ATTEMPTS = 3  # the structured call, retried on invalid JSON
MAX_CANDIDATE_ENTITIES = 150  # ranked entities offered to the packer
RECENT_TURNS_FOR_RELEVANCE = 2
PAST_TURN_PAGE = 64
LEASE_WAIT_SECONDS = 600.0  # how long a turn waits for the one before it
LEASE_POLL_SECONDS = 0.1
TURN_STREAM = "turn"  # workspace.jobs.streams kind: carrel:stream:turn:<turn id>
RUN_TASK = "stories.tasks.run_turn"
RUNNING = (Turn.Status.NARRATING, Turn.Status.PROPOSING)
NOT_QUEUED = "Carrel could not reach its task queue, so this turn was not narrated; try again."

logger = logging.getLogger(__name__)


@dataclass
class TurnUpdate:
    kind: str  # waiting | checking | check | started | text | proposing | done | failed
    # | skipped (the turn was not this run's to tell: already claimed, finished or gone)
    text: str = ""
    turn_id: int = 0


class TurnNotAllowed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- submitting -----------------------------------------------------------------------


def turn_submit(*, campaign: Campaign, member: CampaignMember, action: str) -> Turn:
    action = clean(action).strip()
    if not action:
        raise TurnNotAllowed("Write what your character does.")
    if not member.can_play:
        raise TurnNotAllowed("Viewers cannot take turns in this campaign.")
    username = member.user.get_username()
    label = username
    if member.character_number is not None:
        name = (
            campaign.entities.filter(number=member.character_number)
            .values_list("name", flat=True)
            .first()
        )
        if name:
            label = f"{name} (played by {username})"
    return Turn.objects.create(
        campaign=campaign,
        actor=member.user,
        actor_label=label,
        character_number=member.character_number,
        action=action,
    )


def turn_start(*, campaign: Campaign, member: CampaignMember, action: str) -> Turn:
    """Submit a turn and send it to a model worker; the pending turn (the pages' way)."""
    turn = turn_submit(campaign=campaign, member=member, action=action)
    _stream_fresh(turn.pk)
    turn_send(turn=turn)
    return turn


def turn_send(*, turn: Turn) -> None:
    """Send a pending turn to a model worker once its row is committed. Sending it twice is
    harmless: the run claims the turn with a conditional UPDATE."""

    def not_queued(_exc: Exception) -> None:
        Turn.objects.filter(pk=turn.pk, status=Turn.Status.PENDING).update(
            status=Turn.Status.FAILED, error=NOT_QUEUED, completed_at=timezone.now()
        )

    enqueue_on_commit(task_signature(RUN_TASK, turn.pk), on_failure=not_queued)


def turn_is_stuck(*, turn: Turn, campaign: Campaign) -> bool:
    """Narrating or proposing, but nobody holds the campaign's lease any more: the worker
    telling it died (a crash, a restart) and the turn will never finish by itself. A live
    turn always holds the lease (renewed by its Heartbeat) until it is done or failed."""
    if turn.status not in RUNNING:
        return False
    return campaign.lease_until is None or campaign.lease_until < timezone.now()


def _replace_stuck(turn: Turn, *, keep: bool) -> Turn | None:
    """Under the campaign's lease (free or expired, or the turn is not stuck): delete the
    stuck turn (it changed nothing: changes are applied in one transaction at its end) and,
    if `keep`, a fresh pending copy of its action. Taking the lease also fences the dead
    worker out: if it ever wakes, its token no longer matches and it cannot write."""
    token = lease_try(turn.campaign_id, label=f"{turn.actor_label}'s turn, restarted")
    if token is None:
        raise TurnNotAllowed("This turn is still being told; wait for it to finish.")
    try:
        with transaction.atomic():
            if not Turn.objects.filter(pk=turn.pk, status__in=RUNNING).delete()[0]:
                raise TurnNotAllowed("That turn has already finished.")
            if not keep:
                return None
            return Turn.objects.create(
                campaign_id=turn.campaign_id,
                actor=turn.actor,
                actor_label=turn.actor_label,
                character_number=turn.character_number,
                action=turn.action,
                check_step=check_carried(turn.check_step),
            )
    finally:
        lease_release(turn.campaign_id, token)


def check_carried(check: dict[str, Any]) -> dict[str, Any]:
    """What a retried turn keeps of its check step: a roll that was made (the narration is
    told again, the dice are not), nothing else (a refused or absent check is asked again)."""
    verdict = check.get("verdict")
    return {"verdict": verdict} if verdict and verdict.get("accepted") else {}


def turn_retry(*, turn: Turn) -> Turn:
    """Try a failed or stuck turn's action again, as the same player and character, sent
    to a model worker; the new pending turn. A failed turn stays (with its error); a stuck
    one is replaced. A check rolled for it is kept: the retry narrates the same roll."""
    if turn.status == Turn.Status.FAILED:
        new = Turn.objects.create(
            campaign_id=turn.campaign_id,
            actor=turn.actor,
            actor_label=turn.actor_label,
            character_number=turn.character_number,
            action=turn.action,
            check_step=check_carried(turn.check_step),
        )
    elif turn.status in RUNNING:
        replaced = _replace_stuck(turn, keep=True)
        assert replaced is not None
        new = replaced
    else:
        raise TurnNotAllowed("Only a failed or stopped turn can be tried again.")
    _stream_fresh(new.pk)
    turn_send(turn=new)
    return new


def turn_discard(*, turn: Turn) -> bool:
    """Remove a turn that is still waiting, or one that is stuck; False if it has started
    (or finished) meanwhile."""
    if turn.status in RUNNING:
        try:
            _replace_stuck(turn, keep=False)
        except TurnNotAllowed:
            return False
        return True
    return bool(Turn.objects.filter(pk=turn.pk, status=Turn.Status.PENDING).delete()[0])


# -- the stream a worker writes and the SSE view reads ----------------------------------


def _stream_fresh(turn_id: int) -> None:
    """A new turn's stream starts empty (ids can be reused, e.g. after a database reset)."""
    try:
        stream_reset(kind=TURN_STREAM, item_id=turn_id)
    except redis.RedisError:
        logger.warning("Could not reset the stream of turn %s", turn_id, exc_info=True)


def _publish(turn_id: int, event: str, data: str = "") -> bool:
    """Best effort: a turn whose stream cannot be written still finishes (the page then
    shows it when it is done); False once Redis refused."""
    try:
        if event == "end":
            stream_end(kind=TURN_STREAM, item_id=turn_id)
        else:
            stream_publish(kind=TURN_STREAM, item_id=turn_id, event=event, data=data)
    except redis.RedisError:
        logger.warning("Could not publish to the stream of turn %s", turn_id, exc_info=True)
        return False
    return True


def turn_execute(*, turn_id: int) -> str:
    """In a model worker: run the turn, publishing each update (`waiting`, `started`,
    `text`, `proposing`, `done`, `failed`) to its stream, which always ends; the status
    the turn ended in. A run that finds the turn not its to tell (a repeated message, or
    "Narrate it now" while it is told) leaves the stream to the run that tells it."""
    publishing = True
    skipped = False
    try:
        for update in turn_run(turn_id=turn_id):
            if update.kind == "skipped":
                skipped = True
            elif publishing:
                publishing = _publish(turn_id, update.kind, update.text)
    finally:
        if not skipped:
            _publish(turn_id, "end")
    return Turn.objects.filter(pk=turn_id).values_list("status", flat=True).first() or ""


# -- packing --------------------------------------------------------------------------


def _past_turns(campaign_id: int, before: int) -> Iterator[PastTurn]:
    upper = before
    while upper > 1:
        rows = list(
            Turn.objects.filter(
                campaign_id=campaign_id,
                undone=False,
                status=Turn.Status.DONE,
                number__lt=upper,
                number__isnull=False,
            )
            .order_by("-number")
            .values_list(
                "number", "actor_label", "action", "narration", "action_tokens", "narration_tokens"
            )[:PAST_TURN_PAGE]
        )
        if not rows:
            return
        for number, label, action, narration, action_tokens, narration_tokens in rows:
            if number is None:  # excluded by the query; keeps the type checker informed
                continue
            yield PastTurn(
                number=number,
                user=prompts.action_message(label, action),
                assistant=narration,
                user_tokens=action_tokens,
                assistant_tokens=narration_tokens,
            )
        upper = rows[-1][0] or 0


def summary_block(summary: Summary) -> Block:
    label = f"Turns {summary.first_turn}-{summary.last_turn} ({summary.get_kind_display().lower()})"
    return Block(
        key=f"summary:{summary.pk}",
        label=label,
        text=f"Turns {summary.first_turn}-{summary.last_turn}: {summary.text.strip()}",
        first_turn=summary.first_turn,
        last_turn=summary.last_turn,
    )


def turn_request(
    *, campaign: Campaign, state: WorldState, turn: Turn, number: int, window: int
) -> TurnRequest:
    index = CardIndex(state)
    recent = (
        Turn.objects.filter(
            campaign=campaign, undone=False, status=Turn.Status.DONE, number__lt=number
        )
        .order_by("-number")
        .values_list("action", "narration")[:RECENT_TURNS_FOR_RELEVANCE]
    )
    recent_text = "\n".join(f"{a}\n{n}" for a, n in recent)
    players = [
        n
        for n in campaign.members.exclude(character_number=None).values_list(
            "character_number", flat=True
        )
        if n is not None
    ]
    ranked = relevant_entities(
        state,
        index,
        action=turn.action,
        recent_text=recent_text,
        actor=turn.character_number,
        player_characters=players,
    )[:MAX_CANDIDATE_ENTITIES]

    def block(n: int) -> Block:
        e = state.entities[n]
        return Block(key=f"entity:{n:06d}", label=f"{e.name} ({e.kind})", text=index.card(n))

    canon = [block(n) for n in sorted(state.entities) if state.entities[n].pinned]
    summaries = [
        summary_block(s)
        for s in Summary.objects.filter(campaign=campaign, superseded_by=None).order_by(
            "first_turn", "id"
        )
    ]
    return TurnRequest(
        rules=prompts.campaign_rules(
            title=campaign.title,
            premise=campaign.premise,
            tone=campaign.tone,
            rules_notes=campaign.rules_notes,
        ),
        canon=canon,
        entities=[block(n) for n in ranked],
        summaries=summaries,
        turns=_past_turns(campaign.pk, number),
        last_turn=number - 1,
        action=prompts.action_message(turn.actor_label, turn.action),
        window=window,
        reserve=output_reserve(),
        world_heading=world_heading(state),
    )


# -- running --------------------------------------------------------------------------


def _fail(turn_id: int, message: str, narration: str | None = None) -> None:
    values: dict[str, object] = {
        "status": Turn.Status.FAILED,
        "number": None,
        "error": message,
        "completed_at": timezone.now(),
    }
    if narration is not None:
        values["narration"] = narration
    Turn.objects.filter(pk=turn_id).exclude(status=Turn.Status.DONE).update(**values)


def turn_fail_unfinished(*, turn_id: int, message: str) -> None:
    """The worker's task failed unexpectedly before the turn was claimed: it fails with why.
    (A claimed turn's run fails it itself; one whose worker died is stuck, with Retry.)"""
    Turn.objects.filter(pk=turn_id, status=Turn.Status.PENDING).update(
        status=Turn.Status.FAILED, error=message, completed_at=timezone.now()
    )


def _claim(campaign_id: int, turn_id: int, token: str) -> tuple[Campaign, int] | None:
    """Number the turn (head + 1) if it is still pending; interrupted turns fail first."""
    with transaction.atomic():
        campaign = campaign_for_write(campaign_id, token)
        Turn.objects.filter(
            campaign_id=campaign_id,
            status__in=[Turn.Status.NARRATING, Turn.Status.PROPOSING],
        ).update(
            status=Turn.Status.FAILED,
            number=None,
            error="This turn was interrupted before it finished.",
            completed_at=timezone.now(),
        )
        number = campaign.head_turn + 1
        claimed = Turn.objects.filter(pk=turn_id, status=Turn.Status.PENDING).update(
            status=Turn.Status.NARRATING, number=number
        )
    return (campaign, number) if claimed else None


def _with_note(messages: list[Message], note: str) -> list[Message]:
    """The messages with `note` added to the last one (the action): one user turn, so chat
    templates that insist on alternating roles accept it."""
    *head, last = messages
    return [*head, Message(last.role, f"{last.content}\n\n{note}")]


def check_ask(runtime: ModelRuntime, messages: list[Message]) -> tuple[CheckRequest | None, str]:
    """The check step's structured call: (the check asked for, or None; why none, when the
    step itself failed). One attempt: a turn without a check still goes on."""
    try:
        decision = runtime.structured(
            _with_note(messages, prompts.CHECK),
            schema=CheckDecision,
            max_tokens=CHECK_MAX_TOKENS,
            temperature=0.0,
        )
    except InvalidModelOutput as exc:
        return None, f"The check asked for was not a valid check ({exc.message}); no dice rolled."
    except ModelRuntimeError as exc:
        return None, f"Whether a check was needed could not be asked ({exc.message})."
    return decision.check, ""


def check_wanted(*, turn: Turn, runtime: ModelRuntime) -> bool:
    """Ask the model for a check? Not when the turn already has its roll (a retry), nor for
    a base model, which continues text rather than judging what is uncertain."""
    return not turn.check_step.get("verdict") and runtime.facts().instruction_tuned


def turn_check(
    *,
    turn: Turn,
    campaign: Campaign,
    state: WorldState,
    runtime: ModelRuntime,
    messages: list[Message],
) -> dict[str, Any]:
    """The check step, run under the campaign's lease before the narration: the turn's
    check record (Turn.check_step), saved at once. An accepted check is rolled here, seeded
    with the sequence its event will have (the turn's first); a refused one keeps why."""
    if not check_wanted(turn=turn, runtime=runtime):
        return turn.check_step
    request, error = check_ask(runtime, messages)
    record: dict[str, Any] = {}
    if error:
        logger.info("Turn %s: no check: %s", turn.pk, error)
        record = {"error": error}
    elif request is not None:
        dice = DiceSource(
            campaign_seed=campaign.dice_seed,
            last_sequence=campaign.last_sequence,
            public=campaign.rolls_public,
            zero_hp=campaign.zero_hp,
        )
        verdict = validate_change(state, request.as_change(), dice=dice, position=0)
        if not verdict.accepted:
            logger.info("Turn %s: check refused: %s", turn.pk, verdict.reason)
        record = {"verdict": dataclasses.asdict(verdict)}
    Turn.objects.filter(pk=turn.pk).update(check_step=record)
    turn.check_step = record
    return record


def _rolled(record: dict[str, Any]) -> dict[str, Any] | None:
    """The payload of the check the turn rolled, if it rolled one."""
    verdict = record.get("verdict")
    return verdict["payload"] if verdict and verdict.get("accepted") else None


def _told_the_roll(packed: PackedPrompt, payload: dict[str, Any], who: str) -> PackedPrompt:
    """The narration prompt with the rolled check after the action, as a fixed fact."""
    action = packed.messages[-1].content
    told = f"{action}\n\n{prompts.check_fact(check_fact_line(payload, who=who))}"
    tokens = packed.prompt_tokens - count_piece("user", action) + count_piece("user", told)
    context_map = {**packed.context_map, "prompt_tokens": tokens}
    return dataclasses.replace(
        packed,
        messages=[*packed.messages[:-1], Message("user", told)],
        prompt_tokens=tokens,
        context_map=context_map,
    )


def changes_propose(
    runtime: ModelRuntime, messages: list[Message], narration: str
) -> tuple[ChangeSet | None, str, str]:
    """The structured call: (changes, error message, last raw answer)."""
    asked = [*messages, Message("assistant", clean(narration)), Message("user", prompts.CHANGES)]
    last: InvalidModelOutput | None = None
    for _attempt in range(CHANGE_ATTEMPTS):
        try:
            return (
                runtime.structured(asked, schema=ChangeSet, max_tokens=CHANGES_MAX_TOKENS),
                "",
                "",
            )
        except InvalidModelOutput as exc:
            last = exc
        except ModelRuntimeError as exc:
            return None, f"The state changes could not be worked out: {exc.message}", ""
    assert last is not None
    return (
        None,
        f"The model's state changes were still invalid after {CHANGE_ATTEMPTS} attempts "
        f"({last.message}); the narration is kept and the world is unchanged. "
        "You can edit the world by hand.",
        last.raw[:20000],
    )


def turn_run(
    *, turn_id: int, wait: float = LEASE_WAIT_SECONDS
) -> Generator[TurnUpdate, None, None]:
    turn = Turn.objects.filter(pk=turn_id).first()
    if turn is None or turn.status != Turn.Status.PENDING:
        yield TurnUpdate("skipped", turn_id=turn_id)
        return
    campaign_id = turn.campaign_id
    label = f"{turn.actor_label}'s turn"
    deadline = time.monotonic() + wait
    last_notice = 0.0
    while True:
        token = lease_try(campaign_id, label=label)
        if token:
            break
        if time.monotonic() >= deadline:
            busy = CampaignBusy(lease_holder(campaign_id))
            yield TurnUpdate("failed", busy.message, turn_id)
            return
        if time.monotonic() - last_notice > 2:
            last_notice = time.monotonic()
            if not Turn.objects.filter(pk=turn_id, status=Turn.Status.PENDING).exists():
                yield TurnUpdate("skipped", turn_id=turn_id)  # another run took it
                return
            holder = lease_holder(campaign_id) or "another turn"
            yield TurnUpdate("waiting", f"Waiting for {holder} to finish…", turn_id)
        time.sleep(LEASE_POLL_SECONDS)
    try:
        with Heartbeat(campaign_id, token):
            yield from _run_claimed(turn_id, campaign_id, token)
    finally:
        lease_release(campaign_id, token)


def _run_claimed(turn_id: int, campaign_id: int, token: str) -> Iterator[TurnUpdate]:
    claimed = _claim(campaign_id, turn_id, token)
    if claimed is None:
        yield TurnUpdate("skipped", turn_id=turn_id)
        return
    campaign, number = claimed
    turn = Turn.objects.get(pk=turn_id)
    finished = False
    narration_parts: list[str] = []
    try:
        runtime = get_runtime()
        window = runtime.facts().context_window
        state = load_state(campaign)
        seen_sequence = campaign.last_sequence
        packed = pack_turn(
            turn_request(campaign=campaign, state=state, turn=turn, number=number, window=window)
        )
        if check_wanted(turn=turn, runtime=runtime):
            yield TurnUpdate("checking", turn_id=turn_id)
        record = turn_check(
            turn=turn, campaign=campaign, state=state, runtime=runtime, messages=packed.messages
        )
        rolled = _rolled(record)
        if rolled is not None:
            names = {n: e.name for n, e in state.entities.items()}
            shown = rolled.get("public", True) is not False
            yield TurnUpdate("check", roll_line("check", rolled, names, shown=shown), turn_id)
            who = names.get(int(rolled["entity"]), turn.actor_label)
            packed = _told_the_roll(packed, rolled, who)
        Turn.objects.filter(pk=turn_id).update(
            prompt_tokens=packed.prompt_tokens,
            context_window=window,
            context_map=packed.context_map,
            action_tokens=packed.action_tokens,
        )
        yield TurnUpdate("started", turn_id=turn_id)

        result_text = ""
        for chunk in runtime.stream_chat(
            packed.messages, max_tokens=NARRATION_MAX_TOKENS, temperature=0.8
        ):
            if chunk.text:
                narration_parts.append(chunk.text)
                yield TurnUpdate("text", chunk.text, turn_id)
            if chunk.done and chunk.result is not None:
                result_text = chunk.result.text
        narration = ("".join(narration_parts) or result_text).strip()
        if not narration:
            _fail(turn_id, "The model returned no narration; try again.")
            finished = True
            yield TurnUpdate("failed", "The model returned no narration; try again.", turn_id)
            return
        Turn.objects.filter(pk=turn_id).update(status=Turn.Status.PROPOSING, narration=narration)
        yield TurnUpdate("proposing", turn_id=turn_id)

        changes, changes_error, changes_raw = _propose_within_window(
            runtime, packed, narration, window
        )
        _apply(
            turn_id=turn_id,
            campaign_id=campaign_id,
            token=token,
            number=number,
            state=state,
            seen_sequence=seen_sequence,
            changes=changes,
            narration=narration,
            changes_error=changes_error,
            changes_raw=changes_raw,
            budget=packed.budget,
        )
        finished = True
        yield TurnUpdate("done", turn_id=turn_id)
    except (ModelRuntimeError, ContextTooSmall, LeaseLost) as exc:
        message = getattr(exc, "message", str(exc))
        _fail(turn_id, message, "".join(narration_parts))
        finished = True
        yield TurnUpdate("failed", message, turn_id)
    finally:
        if not finished:  # the stream was closed (page left) or an unexpected error
            _fail(
                turn_id,
                "The narration was interrupted before it finished.",
                "".join(narration_parts),
            )


def _propose_within_window(
    runtime: ModelRuntime, packed: PackedPrompt, narration: str, window: int
) -> tuple[ChangeSet | None, str, str]:
    needed = (
        packed.prompt_tokens
        + count_piece("assistant", clean(narration))
        + count_piece("user", prompts.CHANGES)
        + CHANGES_MAX_TOKENS
    )
    if needed > window:
        return (
            None,
            f"The narration was too long to ask for its state changes within the "
            f"{window:,}-token window; the world is unchanged. You can edit it by hand.",
            "",
        )
    return changes_propose(runtime, packed.messages, narration)


def _apply(
    *,
    turn_id: int,
    campaign_id: int,
    token: str,
    number: int,
    state: WorldState,
    seen_sequence: int,
    changes: ChangeSet | None,
    narration: str,
    changes_error: str,
    changes_raw: str,
    budget: int,
) -> None:
    with transaction.atomic():
        campaign = campaign_for_write(campaign_id, token)
        if campaign.last_sequence != seen_sequence:
            state = load_state(campaign)
        turn = Turn.objects.get(pk=turn_id)
        verdicts = _check_verdicts(turn.check_step, state, number)
        dice = DiceSource(
            campaign_seed=campaign.dice_seed,
            last_sequence=campaign.last_sequence + len(verdicts),
            public=campaign.rolls_public,
            zero_hp=campaign.zero_hp,
            checks=False,  # the turn's check was rolled before the narration
        )
        verdicts += validate_and_apply(
            state, list(changes.changes) if changes else [], turn=number, dice=dice
        )
        events_record(
            campaign=campaign,
            state=state,
            verdicts=verdicts,
            turn_number=number,
            source=Event.Source.NARRATION,
            turn=turn,
            actor=turn.actor,
        )
        Turn.objects.filter(pk=turn_id).update(
            status=Turn.Status.DONE,
            narration=narration,
            narration_tokens=count_piece("assistant", clean(narration)),
            changes_error=changes_error,
            changes_raw=changes_raw,
            completed_at=timezone.now(),
        )
        Campaign.objects.filter(pk=campaign_id).update(head_turn=number)
        campaign.head_turn = number
        if number % SNAPSHOT_EVERY == 0:
            snapshot_take(campaign=campaign, state=state, turn_number=number)
        summaries_maybe_request(campaign=campaign, budget=budget)


def _check_verdicts(record: dict[str, Any], state: WorldState, number: int) -> list[Verdict]:
    """The turn's check step as its first event: the roll (applied: it changes nothing in
    the world) or the refused request with its reason; none when no check was asked for."""
    verdict = record.get("verdict")
    if not verdict:
        return []
    made = Verdict(**verdict)
    if made.accepted:
        apply_event(state, made.kind, made.payload, number)
    return [made]


def turn_play(*, campaign: Campaign, member: CampaignMember, action: str) -> Turn:
    """Submit and run a turn to the end (no streaming)."""
    return turn_complete(turn=turn_submit(campaign=campaign, member=member, action=action))


def turn_complete(*, turn: Turn) -> Turn:
    """Run a submitted turn to the end (no streaming); the turn as it ended."""
    for _update in turn_run(turn_id=turn.pk):
        pass
    turn.refresh_from_db()
    return turn
