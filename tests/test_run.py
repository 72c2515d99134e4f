"""`make run` as a developer runs it: it starts, writes its emails where a person reads them,
and Ctrl-C (or TERM) stops all of it, leaving no process behind and no error from make.

Each run is in a copy of the tree, so a developer's `var/` is never touched, and uses this
virtualenv as it is (`make -o` keeps make from installing into it).
"""

import email
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from tests.helpers import free_port, fresh_setting

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)
# What a developer's shell would not have set (an outer `make test` included).
NOT_INHERITED = (
    "DATABASE_URL",
    "REDIS_URL",
    "EMAIL_URL",
    "SITE_URL",
    "DJANGO_SETTINGS_MODULE",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
)
STARTED_WITHIN = 60
STOPPED_WITHIN = 20

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the working tree, without its virtualenv and its `var/`."""
    copy = tmp_path_factory.mktemp("run") / "backorder"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".venv", "var", ".git", "__pycache__", "*_cache", ".hypothesis", "test-artifacts"
        ),
    )
    return copy


def _environment(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    return {**base, **extra}


@dataclass
class Process:
    """A process, read from /proc."""

    pid: int
    state: str
    session: int
    command: str = field(default="")


def processes() -> list[Process]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            line = stat.read_text()
            command = stat.with_name("cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = line.rsplit(")", 1)[1].split()
        found.append(Process(int(stat.parent.name), fields[0], int(fields[3]), command.strip()))
    return found


def session(sid: int) -> list[Process]:
    """The live processes of session `sid` (an exited one waiting to be reaped is gone)."""
    return [p for p in processes() if p.session == sid and p.state != "Z"]


@dataclass
class Run:
    process: subprocess.Popen
    log: Path
    port: int

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return int(r.status)


def _answers(run: Run) -> bool:
    try:
        return run.get("/") == 200
    except OSError:
        return False


@pytest.fixture
def start_make_run(tree, tmp_path) -> Iterator[Callable[..., Run]]:
    """Start `make run` in its own session, with no environment of ours but `env`, and wait
    until the web server answers and the worker is ready. Whatever is left of it afterwards
    is killed."""
    started: list[subprocess.Popen] = []

    def start(**env: str) -> Run:
        port = free_port()
        log = tmp_path / f"run-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["make", "-o", f"{VENV}/.installed-run", f"VENV={VENV}", "run"],
                cwd=tree,
                env=_environment(PORT=str(port), **env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        run = Run(process, log, port)
        deadline = time.monotonic() + STARTED_WITHIN
        while not (_answers(run) and re.search(r"celery@\S+ ready", run.output)):
            assert process.poll() is None, run.output
            assert time.monotonic() < deadline, run.output
            time.sleep(0.2)
        return run

    yield start
    for process in started:
        for leftover in session(process.pid):
            os.kill(leftover.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _stop(run: Run, signum: int) -> None:
    """Send `signum` to the whole group, as a terminal's Ctrl-C does, and wait."""
    os.killpg(run.process.pid, signum)
    run.process.wait(timeout=STOPPED_WITHIN)
    deadline = time.monotonic() + 5
    while session(run.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _assert_stopped_cleanly(run: Run, signum: int) -> None:
    assert session(run.process.pid) == []
    # run.sh exits 0, so make prints no "*** [run] Error 130"; make itself got the signal
    # too and ends with it, which is how a command reports being interrupted.
    assert run.process.returncode in (0, -signum), run.output
    assert "make: ***" not in run.output
    assert "Error 130" not in run.output


def test_make_run_serves_the_shop_and_ctrl_c_stops_every_process_it_started(start_make_run, tree):
    make_run = start_make_run()
    started = session(make_run.process.pid)
    assert any("runserver" in p.command for p in started)
    assert any("celery" in p.command and "worker" in p.command for p in started)
    assert any("celery" in p.command and "beat" in p.command for p in started)
    assert make_run.get("/admin/login/") == 200
    assert "Emails:               one .eml file per email in var/mail/" in make_run.output
    # The demo orders' confirmations, sent by the worker: one file per email; and the demo's
    # purchase orders, emailed to their supplier with the lines as CSV.
    messages = _messages(tree / "var" / "mail", make_run, "@example.com", "konveksi-bandung")
    customer, supplier = messages["@example.com"], messages["konveksi-bandung"]
    assert {part.get_content_type() for part in _parts(customer)} == {"text/plain", "text/html"}
    assert {part.get_content_type() for part in _parts(supplier)} == {
        "text/plain",
        "text/html",
        "text/csv",
    }
    assert list((tree / "var" / "mail").glob("*.log")) == []

    _stop(make_run, signal.SIGINT)

    _assert_stopped_cleanly(make_run, signal.SIGINT)
    assert "killing" not in make_run.output


def test_make_run_stops_every_process_it_started_on_term(start_make_run):
    make_run = start_make_run()

    _stop(make_run, signal.SIGTERM)

    _assert_stopped_cleanly(make_run, signal.SIGTERM)
    assert "killing" not in make_run.output


def test_make_run_kills_a_process_that_does_not_stop_when_asked(start_make_run):
    make_run = start_make_run(STOP_SECONDS="2")
    (worker,) = [
        p for p in session(make_run.process.pid) if "celery" in p.command and "worker" in p.command
    ]
    # A stopped process cannot act on TERM, as the worker hung on a lock could not.
    os.kill(worker.pid, signal.SIGSTOP)

    _stop(make_run, signal.SIGINT)

    _assert_stopped_cleanly(make_run, signal.SIGINT)
    assert f"killing: {worker.pid}" in make_run.output


def _messages(folder: Path, run: Run, *recipients: str) -> dict[str, Message]:
    """The first email to an address containing each of `recipients`, once each arrived."""
    deadline = time.monotonic() + 30
    while True:
        found: dict[str, Message] = {}
        for path in sorted(folder.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes())
            for recipient in recipients:
                if recipient in message["To"] and recipient not in found:
                    found[recipient] = message
        if len(found) == len(recipients):
            return found
        assert time.monotonic() < deadline, run.output
        time.sleep(0.2)


def _parts(message: Message) -> list[Message]:
    return [part for part in message.walk() if not part.is_multipart()]


def test_only_the_production_server_keeps_database_connections_open():
    postgres = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/backorder"}
    production = {**postgres, "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "shop.example.com"}
    conn_max_age = 'settings.DATABASES["default"]["CONN_MAX_AGE"]'

    assert fresh_setting(conn_max_age) == "0"
    assert fresh_setting(conn_max_age, **postgres) == "0"
    assert fresh_setting(conn_max_age, "config.settings.production", **production) == "60"


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """An empty PostgreSQL database next to the suite's own, dropped afterwards."""
    url = urlparse(
        os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/backorder")
    )
    name = f"{url.path.lstrip('/') or 'backorder'}_run"
    maintenance = url._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(maintenance, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _connections(database_url: str) -> int:
    url = urlparse(database_url)
    with psycopg.connect(url._replace(path="/postgres").geturl()) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [url.path.lstrip("/")]
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_development_server_on_postgresql_closes_its_connections(tree, scratch_database):
    env = _environment(
        DJANGO_SETTINGS_MODULE="config.settings.local", DATABASE_URL=scratch_database
    )
    python = str(VENV / "bin" / "python")
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput"],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run = Run(server, Path(os.devnull), port)
    try:
        deadline = time.monotonic() + STARTED_WITHIN
        while not _answers(run):
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)

        # A burst: each request in a thread of the server's own, each reading the catalogue.
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(lambda _: run.get("/"), range(100)))

        assert statuses == [200] * 100
        deadline = time.monotonic() + 5
        while (left := _connections(scratch_database)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == 0
    finally:
        server.terminate()
        server.wait(timeout=10)
