"""The production path (README, "Deploy"): `compose.yaml` validates with `docker-compose
config` and refuses to run without its secrets; static files collected as the Dockerfile
collects them are served by whitenoise from gunicorn under the production settings; and the
image's health probe (`config.probe`) passes on that server and fails on a 503.

This machine cannot pull the base images, so the image itself is not built here: each of its
steps that runs the project (collectstatic, gunicorn, the probe) is run here as it is written.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tests.helpers import free_port
from tests.worker import ROOT, gunicorn_server
from tests.worker import _test_database_url as database_url

SECRETS = {
    "SECRET_KEY": "x7Yq2-compose-secret-key-with-enough-entropy-0123456789abcdef",
    "ALLOWED_HOSTS": "shop.example.com",
    "SITE_URL": "https://shop.example.com",
    "POSTGRES_PASSWORD": "db-password",
    "EMAIL_URL": "smtp+tls://shop:mail-password@smtp.example.com:587",
}
APP_SERVICES = {"migrate", "web", "worker", "beat"}


def compose_config(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    ours = {"SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL", "POSTGRES_PASSWORD", "EMAIL_URL", "PORT"}
    base = {k: v for k, v in os.environ.items() if k not in ours}
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return subprocess.run(
        # Only `env`: never a developer's own `.env`.
        ["docker-compose", "--env-file", str(empty), "config"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_file_validates_and_runs_every_process_from_the_one_image(tmp_path):
    result = compose_config(SECRETS, tmp_path)

    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == APP_SERVICES | {"db", "redis"}
    for name in APP_SERVICES:
        service = services[name]
        assert service["image"] == "backorder:latest", name
        environment = service["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production", name
        assert environment["SECRET_KEY"] == SECRETS["SECRET_KEY"], name
        assert environment["DATABASE_URL"] == (
            "postgres://backorder:db-password@db:5432/backorder"
        ), name
        assert environment["REDIS_URL"] == "redis://redis:6379/0", name
    # The migrations run once, before web, workers and beat start.
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name
    assert services["web"]["command"] == ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    assert {"pgdata", "redisdata", "beat"} <= set(config["volumes"])
    assert services["db"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "POSTGRES_PASSWORD", "EMAIL_URL"])
def test_compose_refuses_to_run_without_a_secret_and_says_which(missing, tmp_path):
    result = compose_config({k: v for k, v in SECRETS.items() if k != missing}, tmp_path)

    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


def test_the_image_runs_as_a_user_with_gunicorn_and_collects_static_files_at_build():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]

    assert lines[[line.startswith("FROM ") for line in lines].index(True)].endswith(
        "-slim-bookworm"
    )
    assert "USER backorder" in lines
    assert 'CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]' in lines
    assert any("manage.py collectstatic --noinput" in line for line in lines)


def _production_env(static_root: Path, **extra: str) -> dict[str, str]:
    ours = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "DEBUG", "EMAIL_URL")
    base = {k: v for k, v in os.environ.items() if k not in ours}
    return {
        **base,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "STATIC_ROOT": str(static_root),
        **extra,
    }


@contextmanager
def production_gunicorn(static_root: Path, port: int) -> Iterator[None]:
    environment = _production_env(
        static_root,
        SECRET_KEY=SECRETS["SECRET_KEY"],
        ALLOWED_HOSTS="shop.example.com",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        WEB_CONCURRENCY="1",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_ACCESS_LOG="",
    )
    log = ROOT / "var" / f"gunicorn-deploy-{port}.log"
    ready = lambda: _get(port, "/healthz?check=database")[0] in (200, 503)  # noqa: E731
    with gunicorn_server(environment, log, ready):
        yield


def _get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "GET",
            path,
            headers={"Host": "shop.example.com", "X-Forwarded-Proto": "https", **headers},
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    except OSError:
        return 0, {}, b""
    finally:
        connection.close()


def probe(port: int, *checks: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "config.probe", *checks],
        cwd=ROOT,
        env={**os.environ, "PORT": str(port), "ALLOWED_HOSTS": "shop.example.com,.example.com"},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_static_files_collected_as_the_image_does_are_served_by_whitenoise(tmp_path):
    # given: static files collected as the Dockerfile collects them
    static_root = tmp_path / "staticfiles"
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=_production_env(
            static_root, SECRET_KEY="collectstatic-only", ALLOWED_HOSTS="localhost"
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert collected.returncode == 0, collected.stderr
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["admin/css/base.css"]
    assert hashed != "admin/css/base.css"

    port = free_port()
    with production_gunicorn(static_root, port):
        # when: a browser asks for a stylesheet by its hashed name, accepting gzip
        status, headers, body = _get(port, f"/static/{hashed}", **{"Accept-Encoding": "gzip"})
        # and: the health probe runs, for the database alone and for everything
        database_probe = probe(port)
        everything_probe = probe(port, "database,worker")

    # then: served compressed and cached for good (its name changes when it does)
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "immutable" in headers["Cache-Control"]
    assert body[:2] == b"\x1f\x8b"
    # and: the probe passes while this server reaches its database, and fails on a 503 (no
    # worker runs here)
    assert database_probe.returncode == 0, database_probe.stderr
    assert everything_probe.returncode == 1
    assert everything_probe.stderr.startswith("/healthz answered 503:")


def test_the_probe_fails_when_nothing_answers():
    result = probe(free_port())

    assert result.returncode == 1
    assert result.stderr.startswith("/healthz did not answer:")
