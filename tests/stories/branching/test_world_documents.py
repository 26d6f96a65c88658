"""A campaign's world documents (a research project) are read only through
research/access.py: a branch shares the source's project only when the person branching
may read it there, and otherwise gets its own copy, rows pointing at the same stored files."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from research.library.services import document_delete
from research.models import Chunk, Document, Page, Project, ProjectShare
from research.sharing.services import project_share_add, project_share_remove
from stories import services
from stories.history import campaign_branch
from stories.models import Campaign, ProposalRun
from stories.proposals import proposal_run_execute, proposal_run_request
from stories.selectors import world_document_list_for_campaign
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime

pytestmark = pytest.mark.django_db

BIBLE = "Saltmarsh is a fishing town. Mira keeps the Old Lighthouse on the point."


def add_world_document(campaign: Campaign, title: str, text: str = BIBLE) -> Document:
    """A ready world document with a stored file, one page and one chunk."""
    assert campaign.world_project is not None
    document = Document.objects.create(
        project=campaign.world_project,
        uploaded_by=campaign.owner,
        title=title,
        original_name=f"{title}.md",
        file_type=Document.FileType.MARKDOWN,
        content_hash=f"{title:x<64}"[:64],
        stage=Document.Stage.READY,
        size_bytes=len(text),
    )
    document.file.save(f"{title}.md", ContentFile(text.encode()), save=True)
    Page.objects.create(document=document, number=1, text=text, token_count=20)
    Chunk.objects.create(
        document=document, ordinal=0, text=text, token_count=20, page_start=1, page_end=1
    )
    return document


def titles(campaign: Campaign, user) -> list[str]:
    return [d.title for d in world_document_list_for_campaign(campaign=campaign, user=user)]


def editor(campaign: Campaign, person) -> None:
    services.member_add(campaign=campaign, username=person.username, role="editor")


def test_a_branch_by_a_reader_of_the_world_project_shares_it_until_the_share_is_removed(
    client, campaign, user, other_user
):
    editor(campaign, other_user)
    share = project_share_add(
        project=campaign.world_project,
        kind="user",
        name=other_user.username,
        role=ProjectShare.Role.VIEWER,
        created_by=user,
    )
    add_world_document(campaign, "Setting bible")
    branch = campaign_branch(campaign=campaign, user=other_user, at_turn=0)
    assert branch.world_project_id == campaign.world_project_id  # no copy: they may read it
    add_world_document(campaign, "Later notes")
    assert titles(branch, other_user) == ["Setting bible", "Later notes"]

    project_share_remove(share=share)

    assert titles(branch, other_user) == []  # not even the documents from before
    client.force_login(other_user)
    page = client.get(reverse("stories:proposals", args=[branch.pk])).content.decode()
    assert 'data-testid="world-documents-hidden"' in page
    assert "Later notes" not in page and "Setting bible" not in page
    # The proposal run, a background job, reads as the branch's owner: nothing to read.
    runtime = ScriptedRuntime([json.dumps({"entities": []})], context_window=8192)
    run = proposal_run_request(campaign=branch, user=other_user)
    with use_runtime(runtime):
        assert proposal_run_execute(run_id=run.pk) == 0
    run.refresh_from_db()
    assert run.status == ProposalRun.Status.DONE and runtime.calls == []
    assert titles(campaign, user) == ["Setting bible", "Later notes"]  # the owner still reads


def test_a_branch_by_someone_who_cannot_read_the_world_project_gets_a_copy(
    campaign, user, other_user
):
    editor(campaign, other_user)
    original = add_world_document(campaign, "Setting bible")
    assert titles(campaign, other_user) == []  # a campaign editor, but not a reader there

    branch = campaign_branch(campaign=campaign, user=other_user, at_turn=0)

    copy = branch.world_project
    assert copy is not None and copy.pk != campaign.world_project_id
    assert copy.owner == other_user and copy.kind == Project.Kind.WORLD
    (copied,) = copy.documents.all()
    assert copied.pk != original.pk and copied.file.name == original.file.name
    assert copied.stage == Document.Stage.READY and copied.uploaded_by is None
    assert list(copied.chunks.values_list("text", flat=True)) == [BIBLE]
    assert copied.pages.count() == 1
    add_world_document(campaign, "Later notes")
    assert titles(branch, other_user) == ["Setting bible"]  # only what there was at the branch
    assert titles(campaign, other_user) == []  # and still nothing of the original
    # The copy's chunks are in the keyword index, so the branch's proposals can read them.
    runtime = ScriptedRuntime([json.dumps({"entities": []})], context_window=8192)
    run = proposal_run_request(campaign=branch, user=other_user)
    with use_runtime(runtime):
        proposal_run_execute(run_id=run.pk)
    assert BIBLE in runtime.calls[0][-1].content


def test_the_owner_branching_keeps_the_same_world_project(campaign, user):
    add_world_document(campaign, "Setting bible")
    branch = campaign_branch(campaign=campaign, user=user, at_turn=0)
    assert branch.world_project_id == campaign.world_project_id
    assert Project.objects.filter(kind=Project.Kind.WORLD).count() == 1


def test_deleting_one_copy_keeps_the_others_file(
    campaign, user, other_user, django_capture_on_commit_callbacks
):
    editor(campaign, other_user)
    original = add_world_document(campaign, "Setting bible")
    storage, name = original.file.storage, str(original.file.name)
    branch = campaign_branch(campaign=campaign, user=other_user, at_turn=0)
    copied = Document.objects.get(project__campaigns=branch)

    with django_capture_on_commit_callbacks(execute=True):
        document_delete(document=copied)
    assert storage.exists(name)  # the original still uses it
    original.refresh_from_db()
    assert original.file.read().decode() == BIBLE

    branch2 = campaign_branch(campaign=campaign, user=other_user, at_turn=0)
    with django_capture_on_commit_callbacks(execute=True):
        Project.objects.filter(pk=campaign.world_project_id).delete()  # the owner deletes it
    assert storage.exists(name)  # the second branch's copy still uses it
    with django_capture_on_commit_callbacks(execute=True):
        Document.objects.get(project__campaigns=branch2).delete()
    assert not storage.exists(name)  # the last row gone, the file goes
