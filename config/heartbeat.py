"""Heartbeats (`config.models.Heartbeat`): each Celery worker writes its own every
`PULSE_SECONDS` from a thread of its main process; beat records every task it sends.

`config.health` calls a worker alive while its heartbeat is younger than a minute and beat
alive while its last run is recent. A worker stopped cleanly removes its row; one killed
leaves it to age. A heartbeat that cannot be written (the database away) is logged and
tried again at the next pulse: the worker goes on with its tasks.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import timedelta
from typing import Any

from celery import signals
from celery.beat import PersistentScheduler, ScheduleEntry
from django.db import DatabaseError, connection
from django.utils import timezone

from config.models import Heartbeat

logger = logging.getLogger(__name__)

PULSE_SECONDS = 15
FORGET_AFTER = timedelta(days=1)


def heartbeat_write(
    role: str, name: str, *, queues: list[str] | None = None, task: str = ""
) -> None:
    """Record that `name` was alive just now (one upsert)."""
    values: dict[str, Any] = {"seen_at": timezone.now()}
    if queues is not None:
        values["queues"] = queues
    if task:
        values["last_task"] = task
    Heartbeat.objects.update_or_create(role=role, name=name, defaults=values)


def _quietly(write: Any, *args: Any, **kwargs: Any) -> None:
    try:
        write(*args, **kwargs)
    except DatabaseError as error:
        logger.warning("Could not write the heartbeat: %s", error)
        # A broken connection is opened afresh at the next pulse.
        connection.close()


class _Pulse(threading.Thread):
    def __init__(self, name: str, queues: list[str]) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.node = name
        self.queues = queues
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            _quietly(heartbeat_write, Heartbeat.Role.WORKER, self.node, queues=self.queues)
            # Its own connection, closed between pulses: nothing held open for a minute.
            connection.close()
            self.stopped.wait(PULSE_SECONDS)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=PULSE_SECONDS)
        try:
            Heartbeat.objects.filter(role=Heartbeat.Role.WORKER, name=self.node).delete()
        except DatabaseError as error:
            logger.warning("Could not remove the heartbeat: %s", error)
        finally:
            connection.close()


_pulses: dict[str, _Pulse] = {}


def _forget_the_long_gone() -> None:
    """Rows of processes not heard from for a day (killed, their hosts replaced)."""
    Heartbeat.objects.filter(seen_at__lt=timezone.now() - FORGET_AFTER).delete()


def _worker_ready(sender: Any = None, **_kwargs: Any) -> None:
    _quietly(_forget_the_long_gone)
    # `sender` is the worker's consumer: its node name and the queues it was told to serve.
    queues = sorted(sender.app.amqp.queues.consume_from)
    pulse = _Pulse(sender.hostname, queues)
    _pulses[sender.hostname] = pulse
    pulse.start()


def _worker_shutdown(sender: Any = None, **_kwargs: Any) -> None:
    for name in list(_pulses):
        _pulses.pop(name).stop()


def beat_name() -> str:
    # One beat per deployment: its host names it, so a restart takes over the same row.
    return socket.gethostname()


class Scheduler(PersistentScheduler):
    """Celery's own scheduler (the schedule kept in a file), recording each task it sends
    as beat's last run (`CELERY_BEAT_SCHEDULER`)."""

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        super().apply_entry(entry, producer=producer)
        _quietly(heartbeat_write, Heartbeat.Role.BEAT, beat_name(), task=entry.name)

    def setup_schedule(self) -> None:
        super().setup_schedule()
        # Started counts as a run: the first entry is due only after its interval.
        _quietly(heartbeat_write, Heartbeat.Role.BEAT, beat_name(), task="(started)")


def connect() -> None:
    """Hook the worker signals (`OperationsConfig.ready`; in any other process, inert)."""
    signals.worker_ready.connect(_worker_ready, weak=False, dispatch_uid="heartbeat-ready")
    signals.worker_shutdown.connect(_worker_shutdown, weak=False, dispatch_uid="heartbeat-shutdown")
