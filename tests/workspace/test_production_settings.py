"""A lab server's settings are as docs/deploy.md says: DEBUG off whatever the environment
says, a real SECRET_KEY or no start, a local key file private from its first byte, and no
automatic administrator when sign-up is open on a lab server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from tests.workspace.test_deploy_settings import ROOT, _example_env, _manage

PRINT = "from django.conf import settings; print(settings.DEBUG, len(settings.SECRET_KEY))"


def test_production_turns_debug_off_even_when_asked_for_it(tmp_path):
    env = {**_example_env(), "DEBUG": "1"}
    result = _manage("shell", "-c", PRINT, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2] == "False"
    local = _manage(
        "shell", "-c", PRINT, env={"CARREL_ENV": "local", "DEBUG": "1"}, tmp_path=tmp_path
    )
    assert local.stdout.split()[-2] == "True"  # a developer's own machine may debug


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("change-me-to-a-long-random-string", "is a placeholder from an example"),
        ("change-me-" + "x" * 60, "is a placeholder from an example"),
        ("django-insecure-" + "abcdefghij" * 5, "is a placeholder from an example"),
        ("tooShort-42", "is 11 characters long; use at least 50 random ones"),
        ("ab" * 40, "repeats too few characters to be random"),
    ],
)
def test_production_refuses_a_placeholder_or_weak_secret_key(tmp_path, key, words):
    env = {**_example_env(), "SECRET_KEY": key}
    result = _manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"SECRET_KEY {words}" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


_KEY = """
import os, sys
from pathlib import Path
os.umask(0)
from workspace.env import local_secret_key
print(local_secret_key(Path(sys.argv[1])))
"""


def test_processes_starting_together_agree_on_one_private_local_key(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "workspace.settings"}
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", _KEY, str(tmp_path / "var")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    keys = {process.communicate(timeout=120)[0].strip() for process in starts}
    assert len(keys) == 1 and len(keys.pop()) >= 50
    key_file = tmp_path / "var" / "secret_key"
    assert oct(key_file.stat().st_mode)[-3:] == "600"  # umask 0 would have made it 666
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["secret_key"]


def test_a_loose_key_file_from_before_is_made_private(tmp_path):
    from workspace.env import local_secret_key

    (tmp_path / "secret_key").write_text("an-old-key\n")
    (tmp_path / "secret_key").chmod(0o644)
    assert local_secret_key(tmp_path) == "an-old-key"
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


@pytest.mark.django_db
@pytest.mark.parametrize(("production", "admin"), [(False, True), (True, False)])
def test_the_first_account_administers_only_a_local_install(client, settings, production, admin):
    settings.PRODUCTION = production
    settings.CARREL_ALLOW_SIGNUP = True  # a lab server that opened sign-up
    response = client.post(
        reverse("signup"),
        {"username": "ada", "password1": "a long passphrase 9", "password2": "a long passphrase 9"},
    )
    assert response.status_code == 302
    first = User.objects.get(username="ada")
    assert (first.is_staff, first.is_superuser) == (admin, admin)
