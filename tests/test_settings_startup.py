from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def _check(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "ENCRYPTION_KEY")}
    env.update(extra_env)
    # -c: import settings in a clean interpreter, away from the repo's .env file
    code = (
        "import os, sys, environ; environ.Env.read_env = staticmethod(lambda *a, **k: None);"
        "os.environ['DJANGO_SETTINGS_MODULE']='tradingagents.settings';"
        "import django; django.setup(); print('started')"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "ENCRYPTION_KEY"])
def test_with_debug_off_a_missing_secret_stops_start_up_naming_the_variable(missing):
    present = {"DJANGO_SECRET_KEY": "x" * 50, "ENCRYPTION_KEY": Fernet.generate_key().decode()}
    present.pop(missing)

    result = _check({"DEBUG": "false", **present})

    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
    assert "started" not in result.stdout


def test_with_debug_off_and_both_secrets_set_it_starts():
    result = _check({"DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 50, "ENCRYPTION_KEY": Fernet.generate_key().decode()})

    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_an_encryption_key_that_is_not_a_fernet_key_is_a_clear_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    from providers import crypto

    settings.ENCRYPTION_KEY = "not-a-fernet-key"
    with pytest.raises(ImproperlyConfigured, match="ENCRYPTION_KEY holds a value that is not a Fernet key"):
        crypto.encrypt("anything")
