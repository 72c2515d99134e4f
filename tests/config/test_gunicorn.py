"""`config/gunicorn.py`: gunicorn takes it, and every setting comes from the environment."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
OURS = ("WEB_CONCURRENCY", "PORT", "FORWARDED_ALLOW_IPS")


def _gunicorn_config(**environment: str) -> dict[str, str]:
    """The settings gunicorn would run with, as it prints them."""
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in OURS and not key.startswith("GUNICORN_")
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--print-config"]
    output = subprocess.run(
        [*command, "config.wsgi"],
        cwd=ROOT,
        env={**base, **environment},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(re.findall(r"^(\w+)\s+= (.*)$", output, re.M))


def test_defaults_two_workers_per_core_on_port_8000():
    config = _gunicorn_config()

    assert config["workers"] == str(2 * (os.cpu_count() or 1))
    assert config["threads"] == "1"
    assert config["bind"] == "['0.0.0.0:8000']"
    assert config["timeout"] == "30"
    assert config["accesslog"] == "-"


def test_every_setting_from_the_environment():
    config = _gunicorn_config(
        WEB_CONCURRENCY="3",
        GUNICORN_THREADS="2",
        PORT="8123",
        GUNICORN_TIMEOUT="17",
        GUNICORN_GRACEFUL_TIMEOUT="9",
        GUNICORN_KEEPALIVE="7",
        GUNICORN_MAX_REQUESTS="1000",
        GUNICORN_MAX_REQUESTS_JITTER="50",
        GUNICORN_ACCESS_LOG="",
    )

    assert config["workers"] == "3"
    assert config["threads"] == "2"
    assert config["bind"] == "['0.0.0.0:8123']"
    assert (config["timeout"], config["graceful_timeout"], config["keepalive"]) == ("17", "9", "7")
    assert (config["max_requests"], config["max_requests_jitter"]) == ("1000", "50")
    assert config["accesslog"] == "None"


def test_a_bind_address_wins_over_the_port():
    config = _gunicorn_config(PORT="8123", GUNICORN_BIND="127.0.0.1:9001,unix:/tmp/b.sock")

    assert config["bind"] == "['127.0.0.1:9001', 'unix:/tmp/b.sock']"
