"""The sharing page of a project: who else may open it, and as what. The owner's only:
anyone else who may read the project gets 403, anyone who may not gets 404."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from research import access
from research.models import Project, ProjectShare
from research.sharing import selectors, services
from research.sharing.forms import ShareForm, ShareRoleForm
from workspace.http import AuthedRequest, found_or_404


def _owned(request: AuthedRequest, project_id: int) -> Project:
    return found_or_404(
        access.project_owned_by_user(user=request.user, project_id=project_id), "project"
    )


def _share(project: Project, share_id: int) -> ProjectShare:
    return found_or_404(
        selectors.share_get_for_project(project=project, share_id=share_id), "share"
    )


@require_http_methods(["GET", "POST"])
def share_list(request: AuthedRequest, project_id: int) -> HttpResponse:
    """The list of shares with a role form each, and a form to add one."""
    project = _owned(request, project_id)
    form = ShareForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                share = services.project_share_add(
                    project=project, created_by=request.user, **form.cleaned_data
                )
            except services.SharingProblem as exc:
                form.add_error("name", exc.message)
            else:
                messages.success(request, f"Shared with {share.grantee} as {share.role}.")
                return redirect("research:sharing:share_list", project_id=project.pk)
        status = 400
    shares = [
        (share, ShareRoleForm(initial={"role": share.role}, prefix=f"share{share.pk}"))
        for share in selectors.share_list_for_project(project=project)
    ]
    context = {"project": project, "form": form, "shares": shares}
    return render(request, "research/sharing/sharing.html", context, status=status)


@require_POST
def share_role(request: AuthedRequest, project_id: int, share_id: int) -> HttpResponse:
    project = _owned(request, project_id)
    share = _share(project, share_id)
    form = ShareRoleForm(request.POST, prefix=f"share{share.pk}")
    if form.is_valid():
        services.project_share_set_role(share=share, role=form.cleaned_data["role"])
        messages.success(request, f"{share.grantee} is now {share.role}.")
    else:
        messages.error(request, "Choose viewer or editor.")
    return redirect("research:sharing:share_list", project_id=project.pk)


@require_POST
def share_remove(request: AuthedRequest, project_id: int, share_id: int) -> HttpResponse:
    project = _owned(request, project_id)
    share = _share(project, share_id)
    services.project_share_remove(share=share)
    messages.success(request, f"{share.grantee} can no longer open this project.")
    return redirect("research:sharing:share_list", project_id=project.pk)
