"""The status page shows no credentials to anyone and its details only to staff; every
place that shows a service's address or error masks the password in it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from workspace import health
from workspace.redact import redact
from workspace.runtime import select

pytestmark = pytest.mark.django_db

SECRET = "s3cret-Pa55"


def test_redact_masks_passwords_in_urls_and_in_free_text(settings):
    assert redact("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact("postgres://carrel:pw@db/carrel") == "postgres://carrel:***@db/carrel"
    assert redact("http://token@ollama:11434") == "http://***@ollama:11434"
    assert redact("Error at redis://u:p@h:1 and http://x:y@z/ (refused)") == (
        "Error at redis://u:***@h:1 and http://x:***@z/ (refused)"
    )
    assert redact("no credentials: http://host:11434/api, a://b") == (
        "no credentials: http://host:11434/api, a://b"
    )
    settings.CELERY_BROKER_URL = f"redis://:{SECRET}@broker:6379/1"
    assert redact(f"FATAL: password {SECRET} rejected") == "FATAL: password *** rejected"
    hostile = "://" * 100_000 + "a" * 100_000  # linear: no regular expression
    assert redact(hostile) == hostile


@pytest.fixture
def leaky_services(settings, monkeypatch):
    """Redis with a password that does not answer, an Ollama URL with credentials, and a
    database whose error names its password."""
    settings.REDIS_URL = f"redis://:{SECRET}@127.0.0.1:9/0"
    settings.OLLAMA_HOST = f"http://carrel:{SECRET}@127.0.0.1:9"
    select.probe_ollama(fresh=True)
    monkeypatch.setattr(
        health,
        "check_database",
        lambda: health.Check(False, redact(f"connection to postgres://c:{SECRET}@db failed")),
    )
    yield
    select.probe_ollama(fresh=True)


def test_no_one_sees_a_password_on_the_status_page(client, user, leaky_services):
    client.force_login(user)
    page = client.get(reverse("status")).content.decode()
    assert SECRET not in page
    assert 'data-testid="redis">down<' in page
    assert 'data-testid="database">down<' in page
    assert "127.0.0.1:9" not in page  # addresses are details
    assert "Addresses and error details are shown to staff." in page
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    page = client.get(reverse("status")).content.decode()
    assert SECRET not in page
    assert "redis://:***@127.0.0.1:9/0" in page
    assert "http://carrel:***@127.0.0.1:9" in page
    assert "postgres://c:***@db failed" in page
    assert "Addresses and error details are shown to staff." not in page


def test_model_errors_shown_to_people_carry_no_ollama_password(settings, leaky_services):
    from workspace.runtime.errors import ModelRuntimeError
    from workspace.runtime.ollama import list_ollama_models

    with pytest.raises(ModelRuntimeError) as caught:
        list_ollama_models(settings.OLLAMA_HOST, timeout=1)
    assert SECRET not in caught.value.message
    assert "http://carrel:***@127.0.0.1:9" in caught.value.message
