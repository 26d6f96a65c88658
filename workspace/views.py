from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from research.models import Document
from stories.selectors import campaign_list_for_user
from workspace import health
from workspace.forms import SampleNoteForm, SampleProjectForm
from workspace.http import AuthedRequest, HtmxHttpRequest
from workspace.selectors import project_summary_list_for_user, status_report


def home(request: AuthedRequest) -> HttpResponse:
    projects = project_summary_list_for_user(user=request.user)
    campaigns = list(campaign_list_for_user(user=request.user)[:50])
    return render(request, "home.html", {"projects": projects, "campaigns": campaigns})


def styleguide(request: AuthedRequest) -> HttpResponse:
    """Every class and partial of the design system on one page (docs/ui.md), for people
    writing templates and for the browser suite's screenshots and contrast checks."""
    note_form = SampleNoteForm(request.GET if "note" in request.GET else None)
    context = {
        "stages": Document.Stage.choices,
        "sample_form": SampleProjectForm({"title": "", "kind": "research"}),
        "note_form": note_form,
        "note": note_form.cleaned_data["note"] if note_form.is_valid() else "",
        "grade": request.GET.get("grade", ""),
    }
    return render(request, "styleguide.html", context)


def status(request: HtmxHttpRequest) -> HttpResponse:
    template = "partials/status_panel.html" if request.htmx else "status.html"
    return render(request, template, status_report(user=request.user))


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    database = health.check_database()
    return JsonResponse({"ok": database.ok}, status=200 if database.ok else 503)


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.CARREL_ALLOW_SIGNUP:
        raise Http404("Sign-up is closed on this server; ask an administrator for an account.")
    form: UserCreationForm[User] = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        if not settings.PRODUCTION and User.objects.count() == 1:
            # The first account on a local install administers it; a lab server's staff
            # are made with createsuperuser (docs/deploy.md), even when sign-up is open.
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})
