"""Password guessing is paused after a few wrong passwords, at the sign-in page and in the
admin alike, with a page that says why and for how long; other people are not affected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse 42"  # tests/conftest.py's user


@pytest.fixture(autouse=True)
def quick_hashes(settings, user):
    """Each guess hashes a password: a fast hasher keeps twenty guesses quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])


@pytest.fixture
def staff(user):
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return user


def _sign_in(client, url: str, password: str, address: str = "10.1.2.3", **headers):
    return client.post(
        url, {"username": "ada", "password": password}, REMOTE_ADDR=address, **headers
    )


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_five_wrong_passwords_pause_that_username_from_that_address(client, staff, url):
    for _ in range(4):
        assert _sign_in(client, url, "guess").status_code == 200  # the form, with its error
    locked = _sign_in(client, url, "guess")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed sign-in attempts" in page
    assert "After 5 wrong passwords for <strong>ada</strong>" in page
    assert "paused for 15 minutes" in page
    assert f'href="{reverse("login")}"' in page
    # Even the right password is refused while the pause lasts...
    assert _sign_in(client, url, PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # ...but not from another address, nor for another username.
    assert _sign_in(client, url, PASSWORD, address="10.9.9.9").status_code == 302
    client.logout()


def test_the_pause_ends_after_the_cool_off_and_a_success_forgets_the_failures(client, user):
    for _ in range(5):
        _sign_in(client, "/accounts/login/", "guess")
    assert _sign_in(client, "/accounts/login/", PASSWORD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    assert _sign_in(client, "/accounts/login/", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.exists()


def test_the_limits_come_from_settings(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    assert _sign_in(client, "/accounts/login/", "guess").status_code == 200
    locked = _sign_in(client, "/accounts/login/", "guess")
    assert locked.status_code == 429
    assert "After 2 wrong passwords" in locked.content.decode()
    assert "paused for 1 minute." in locked.content.decode()


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(client, user, settings):
    settings.CARREL_PROXY_COUNT = 1
    forged = {"HTTP_X_FORWARDED_FOR": "1.1.1.1, 10.7.7.7"}  # a forged first hop, then nginx's
    for _ in range(5):
        _sign_in(client, "/accounts/login/", "guess", address="127.0.0.1", **forged)
    assert AccessAttempt.objects.get().ip_address == "10.7.7.7"
    other = {"HTTP_X_FORWARDED_FOR": "10.8.8.8"}  # another client through the same proxy
    assert (
        _sign_in(client, "/accounts/login/", PASSWORD, address="127.0.0.1", **other).status_code
        == 302
    )
