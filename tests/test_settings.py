"""The settings modules: clean system checks, and production passes `check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import fresh_setting

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "SECRET_KEY": "x7Yq2-production-like-secret-key-with-enough-entropy-0123456789abcdef",
    "ALLOWED_HOSTS": "shop.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
}


def _check(settings_module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`manage.py check` in a clean process with only `env` of the project's variables set."""
    ours = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "DEBUG", "EMAIL_URL")
    base = {k: v for k, v in os.environ.items() if k not in ours}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--fail-level", "WARNING", *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": settings_module, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_local_settings_pass_the_system_checks_with_no_environment():
    result = _check("config.settings.local", env={})

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_pass_check_deploy_without_warnings():
    result = _check("config.settings.production", "--deploy", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}

    result = _check("config.settings.production", env=env)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_emails_are_written_under_var_mail_by_default():
    assert fresh_setting("settings.EMAIL_FILE_PATH") == str(ROOT / "var" / "mail")
    assert fresh_setting("settings.EMAIL_FILE_PATH", EMAIL_URL="filemail:///srv/mail") == (
        "/srv/mail"
    )
