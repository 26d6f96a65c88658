"""Campaigns, their event-sourced world state, turns and summaries.

The source of truth is the Event log: every applied change (from a narration, a hand
edit, an import) is one row, in `sequence` order, with its resolved payload. Entity,
Connection, Holding and Relationship rows are a projection of the applied, not-undone
events, written in the same transaction as the events. Anything outside the projection
refers to entities by their per-campaign `number` (not a foreign key), because undo,
branching and import rebuild the projection from the events.
"""

from __future__ import annotations

from secrets import token_hex

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from research.models import Document, Project
from stories.world import ENTITY_KINDS


class Campaign(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="campaigns"
    )
    title = models.CharField(max_length=200)
    premise = models.TextField(blank=True)
    tone = models.CharField(max_length=200, blank=True)
    rules_notes = models.TextField(blank=True)
    world_project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="campaigns"
    )
    branched_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="branches"
    )
    branched_at_turn = models.PositiveIntegerField(null=True, blank=True)
    # Dice (stories.table): every roll's generator is seeded from this and the roll's event
    # sequence; a branch keeps its original's seed, so it rolls what the original rolled.
    dice_seed = models.CharField(max_length=32, blank=True, editable=False)
    zero_hp = models.CharField(
        "At 0 hit points",
        max_length=16,
        choices=[("unconscious", "Unconscious"), ("dead", "Dead")],
        default="unconscious",
    )
    rolls_public = models.BooleanField(
        default=True,
        help_text="Players see each other's rolls. Off: a roll is seen by whoever made it "
        "and by the owner and editors.",
    )

    head_turn = models.PositiveIntegerField(default=0)  # the last live, finished turn
    last_sequence = models.PositiveBigIntegerField(default=0)  # the last event's sequence
    clock_minutes = models.BigIntegerField(default=0)  # projection of clock events
    encounter = models.JSONField(null=True, blank=True)  # projection: the fight under way
    summarized_through = models.PositiveIntegerField(default=0)  # turns <= this are summarized
    history_version = models.PositiveIntegerField(default=0)  # bumped by undo

    # A lease serializes turns and edits per campaign (see stories.locking).
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_label = models.CharField(max_length=200, blank=True)
    summarizing_since = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs) -> None:
        if not self.dice_seed:
            origin = self.branched_from
            self.dice_seed = origin.dice_seed if origin and origin.dice_seed else token_hex(16)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("stories:campaign_detail", args=[self.pk])


class CampaignMember(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        EDITOR = "editor", "Editor (edits the world, plays, undoes)"
        PLAYER = "player", "Player (plays a character)"
        VIEWER = "viewer", "Viewer (reads only)"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="campaign_memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PLAYER)
    character_number = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "user"], name="unique_campaign_member")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.campaign} ({self.role})"

    @property
    def can_edit(self) -> bool:
        return self.role in {self.Role.OWNER, self.Role.EDITOR}

    @property
    def can_play(self) -> bool:
        return self.role != self.Role.VIEWER


class Entity(models.Model):
    """Projection: one character, faction, place, item, arc, quest or lore entry."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="entities")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=[(k, k.title()) for k in ENTITY_KINDS])
    name = models.CharField(max_length=200)
    name_key = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=200, blank=True)
    location = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="occupants"
    )
    stats = models.JSONField(default=dict, blank=True)
    traits = models.JSONField(default=list, blank=True)
    goals = models.JSONField(default=list, blank=True)
    aliases = models.JSONField(default=list, blank=True)
    pinned = models.BooleanField(default=False)  # canon: always in the prompt
    log = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="unique_entity_number"),
            models.UniqueConstraint(fields=["campaign", "name_key"], name="unique_entity_name"),
        ]
        indexes = [models.Index(fields=["campaign", "kind"])]
        verbose_name_plural = "entities"

    def __str__(self) -> str:
        return self.name


class Connection(models.Model):
    """Projection: a path between two places (stored once, a.number < b.number)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="connections")
    a = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="+")
    b = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["a", "b"], name="unique_connection")]

    def __str__(self) -> str:
        return f"{self.a} - {self.b}"


class Holding(models.Model):
    """Projection: how many of an item a character, faction or place holds."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="holdings")
    holder = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="holdings")
    item = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="held_by")
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["holder", "item"], name="unique_holding"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="holding_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.holder} holds {self.quantity} {self.item}"


class Relationship(models.Model):
    """Projection: how source stands toward target, -100..100, with its history."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="relationships")
    source = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="relationships_out")
    target = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="relationships_in")
    relation = models.CharField(max_length=200)
    strength = models.IntegerField(default=0)
    history = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "target", "relation"], name="unique_relationship"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.relation} {self.target} ({self.strength:+d})"


class Turn(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be narrated"
        NARRATING = "narrating", "Narrating"
        PROPOSING = "proposing", "Working out what changed"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="turns")
    number = models.PositiveIntegerField(null=True, blank=True)  # set when narration starts
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    undone = models.BooleanField(default=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200)  # who acted, as the prompt names them
    character_number = models.PositiveIntegerField(null=True, blank=True)
    action = models.TextField()
    narration = models.TextField(blank=True)
    error = models.TextField(blank=True)  # narration failed: why
    changes_error = models.TextField(blank=True)  # state-change call failed: why (narration kept)
    changes_raw = models.TextField(blank=True)  # the last invalid answer, shown to the user
    # The check step before the narration (stories.turns): {} when none was asked for, else
    # {"verdict": {kind, payload, accepted, reason, proposed}} (the roll, or why it was
    # refused), or {"error": why the step gave no check}. Kept from the roll on, so a
    # retried turn narrates the same roll; recorded as the turn's first event at its end.
    check_step = models.JSONField(default=dict, blank=True)
    # The prompt that produced this turn: exact tokens, window, and what went in.
    prompt_tokens = models.PositiveIntegerField(default=0)
    context_window = models.PositiveIntegerField(default=0)
    context_map = models.JSONField(default=dict, blank=True)
    # Tokens of this turn's rendered chat pieces, so packing never re-tokenizes history.
    action_tokens = models.PositiveIntegerField(default=0)
    narration_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "number"],
                condition=Q(undone=False, number__isnull=False),
                name="unique_live_turn_number",
            )
        ]
        indexes = [models.Index(fields=["campaign", "undone", "number"])]

    def __str__(self) -> str:
        return f"Turn {self.number or '-'} of {self.campaign}"

    @property
    def live(self) -> bool:
        return not self.undone and self.status == self.Status.DONE


class Event(models.Model):
    class Source(models.TextChoices):
        NARRATION = "narration", "Narration"
        USER = "user", "Hand edit"
        IMPORT = "import", "Import"
        PROPOSAL = "proposal", "Accepted proposal"
        ROLL = "roll", "Dice rolled at the table"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="events")
    sequence = models.PositiveBigIntegerField()
    turn = models.ForeignKey(
        Turn, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    turn_number = models.PositiveIntegerField()  # the world turn this belongs to (0 = setup)
    kind = models.CharField(max_length=16)
    source = models.CharField(max_length=16, choices=Source.choices)
    payload = models.JSONField(default=dict)  # resolved (applied) or as proposed (rejected)
    proposed = models.JSONField(default=dict, blank=True)  # what the model/user asked for
    applied = models.BooleanField()
    reason = models.TextField(blank=True)  # why it was rejected
    undone = models.BooleanField(default=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "sequence"], name="unique_event_sequence")
        ]
        indexes = [models.Index(fields=["campaign", "turn_number"])]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.kind} (turn {self.turn_number})"


class Snapshot(models.Model):
    """The whole world state after a turn, so "state as of turn N" replays few events."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="snapshots")
    turn_number = models.PositiveIntegerField()
    sequence = models.PositiveBigIntegerField()  # the last event it includes
    state = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["turn_number"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "turn_number"], name="unique_snapshot")
        ]

    def __str__(self) -> str:
        return f"Snapshot after turn {self.turn_number}"


class Summary(models.Model):
    """Older turns in brief. A session summary covers a run of turns; an arc summary
    merges several summaries (which then point at it via superseded_by)."""

    class Kind(models.TextChoices):
        SESSION = "session", "Session summary"
        ARC = "arc", "Arc summary"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="summaries")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SESSION)
    first_turn = models.PositiveIntegerField()
    last_turn = models.PositiveIntegerField()
    text = models.TextField()
    token_count = models.PositiveIntegerField(default=0)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["first_turn", "id"]
        verbose_name_plural = "summaries"

    def __str__(self) -> str:
        return f"Turns {self.first_turn}-{self.last_turn} ({self.kind})"


class ProposalRun(models.Model):
    """One pass of the model over the campaign's world documents."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Reading the world documents"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="proposal_runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Proposal run {self.pk} ({self.status})"


class EntityProposal(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for you"
        ACCEPTED = "accepted", "Accepted"
        DISMISSED = "dismissed", "Dismissed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="proposals")
    run = models.ForeignKey(
        ProposalRun, on_delete=models.CASCADE, null=True, blank=True, related_name="proposals"
    )
    source_document = models.ForeignKey(
        Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    change = models.JSONField()  # a stories.world.NewEntity
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)  # why accepting failed
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Proposed {self.entity_kind}: {self.name}"

    @property
    def name(self) -> str:
        return str(self.change.get("name", ""))

    @property
    def entity_kind(self) -> str:
        return str(self.change.get("entity_kind", ""))
