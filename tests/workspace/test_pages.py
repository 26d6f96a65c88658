import pytest
from django.urls import reverse

from workspace import health

pytestmark = pytest.mark.django_db


def test_an_anonymous_visitor_is_sent_to_the_sign_in_page(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_sign_in_page_is_served_with_a_strict_content_security_policy(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "cdn" not in response.content.decode().lower()


def test_the_first_account_created_administers_the_machine(client, django_user_model):
    response = client.post(
        reverse("signup"),
        {"username": "ada", "password1": "a long passphrase 9", "password2": "a long passphrase 9"},
    )
    assert response.status_code == 302
    ada = django_user_model.objects.get(username="ada")
    assert ada.is_staff and ada.is_superuser
    client.post(reverse("logout"))
    client.post(
        reverse("signup"),
        {"username": "bob", "password1": "a long passphrase 8", "password2": "a long passphrase 8"},
    )
    assert not django_user_model.objects.get(username="bob").is_staff


def test_the_status_page_reports_the_backend_redis_and_a_dead_ollama(signed_in_client):
    response = signed_in_client.get(reverse("status"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="backend">scripted<' in page
    assert 'data-testid="ollama-reachable">no<' in page
    assert 'data-testid="redis">up<' in page
    assert 'data-testid="workers">down<' in page  # the reason is for staff


def _count_pings(monkeypatch) -> list[dict]:
    from workspace.celery import app

    calls: list[dict] = []
    real_ping = app.control.ping

    def ping(**options):
        calls.append(options)
        return real_ping(**options)

    monkeypatch.setattr(app.control, "ping", ping)
    return calls


@pytest.mark.worker
def test_the_status_page_sees_a_running_worker(celery_worker_factory, client, user, monkeypatch):
    worker = celery_worker_factory()
    user.is_staff = True  # worker names are for staff
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    pings = _count_pings(monkeypatch)
    page = client.get(reverse("status")).content.decode()
    assert 'data-testid="workers">up: ' in page
    assert worker.name in page
    # A ping waits its whole timeout; the polled page reuses a recent positive answer.
    assert worker.name in client.get(reverse("status")).content.decode()
    assert len(pings) == 1


def test_no_answer_from_workers_is_asked_again_at_every_look(signed_in_client, user, monkeypatch):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    pings = _count_pings(monkeypatch)
    for _ in range(2):
        page = signed_in_client.get(reverse("status")).content.decode()
        assert 'data-testid="workers">down: no Celery worker answered<' in page
    assert len(pings) == 2


def test_the_status_fragment_is_served_alone_to_htmx(signed_in_client):
    response = signed_in_client.get(reverse("status"), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="status-panel"')
    assert "<html" not in page


def test_every_page_says_plainly_when_the_weak_demo_model_answers(signed_in_client, settings):
    settings.CARREL_BACKEND = "embedded"
    page = signed_in_client.get(reverse("home")).content.decode()
    assert 'data-testid="demo-banner"' in page
    assert f"ollama pull {settings.OLLAMA_MODEL}" in page


def test_no_demo_banner_shows_when_a_real_backend_is_chosen(signed_in_client, settings):
    settings.CARREL_BACKEND = "ollama"
    page = signed_in_client.get(reverse("home")).content.decode()
    assert 'data-testid="demo-banner"' not in page
    assert "Campaigns" in page and "Research projects" in page


def test_a_worker_that_never_hears_its_own_ping_leaves_the_live_workers_unknown(monkeypatch):
    pings = _count_pings(monkeypatch)
    assert health.workers_ping(timeouts=(0.1, 0.2), expect="gone@nowhere") is None
    assert [ping["timeout"] for ping in pings] == [0.1, 0.2]  # asked again, waiting longer
    assert health.live_workers(me="") is None  # not asked from a worker: nothing is known


@pytest.mark.worker
def test_a_running_worker_finds_itself_among_the_live_workers(celery_worker_factory):
    worker = celery_worker_factory()
    answered = health.workers_ping(timeouts=(1.0,))
    assert answered is not None
    (me,) = [name for name in answered if name.startswith(worker.name)]
    live = health.live_workers(me=me)
    assert live is not None and me in live
