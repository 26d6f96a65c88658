"""Not found, not allowed, server error and an expired form each get Carrel's own page with
the reason in words and a way back, instead of Django's bare ones."""

from __future__ import annotations

import pytest
from django.template import loader
from django.test import Client
from django.urls import clear_url_caches, reverse

from research.library import services
from research.sharing.services import project_share_add

pytestmark = pytest.mark.django_db


def _error_page(response, status: int) -> str:
    assert response.status_code == status
    page = response.content.decode()
    assert 'data-testid="error-page"' in page
    assert "Back to your projects</a>" in page
    assert '<link rel="stylesheet" href="/static/css/carrel.css">' in page
    return page


def test_a_missing_page_says_so_with_a_way_back(signed_in_client):
    page = _error_page(signed_in_client.get("/research/999999/"), 404)
    assert "No such project." in page
    assert "Not found (404)" in page
    assert 'href="/">Back to your projects' in page
    assert "Sign out" in page  # the site's own header: base.html
    page = _error_page(signed_in_client.get("/no/such/url/"), 404)
    assert "Resolver404" not in page


def test_a_viewer_refused_a_change_gets_the_reason(client, user, other_user):
    project = services.project_create(owner=user, title="Shared")
    project_share_add(
        project=project, kind="user", name=other_user.username, role="viewer", created_by=user
    )
    client.force_login(other_user)
    response = client.post(reverse("research:document_upload", args=[project.pk]))
    page = _error_page(response, 403)
    assert "You can read this project but not change it." in page
    assert "Not allowed (403)" in page


def test_a_server_error_renders_without_any_context(client, user, settings):
    html = loader.get_template("500.html").render()  # as Django's server_error renders it
    assert "Server error (500)" in html and 'href="/"' in html
    settings.ROOT_URLCONF = "tests.workspace.error_urls"
    clear_url_caches()
    try:
        client.force_login(user)
        client.raise_request_exception = False
        page = _error_page(client.get("/broken/"), 500)
    finally:
        clear_url_caches()
    assert "a bug" not in page  # no internals
    assert "Go back and try again" in page


def test_an_expired_form_says_to_reload(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = _error_page(client.post(reverse("logout")), 403)
    assert "That form has expired" in page
