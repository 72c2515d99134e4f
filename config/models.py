"""The machinery's own rows: when each Celery worker and beat was last heard from.

Kept in the database, which every process of a deployment shares whatever its broker (the
filesystem broker of `make run` included); `config.heartbeat` writes them, `config.health`
reads them.
"""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    class Role(models.TextChoices):
        WORKER = "worker", "Celery worker"
        BEAT = "beat", "Celery beat"

    role = models.CharField(max_length=10, choices=Role.choices)
    # The worker's node name (`celery@host`), or beat's host and process.
    name = models.CharField(max_length=200)
    # The queues a worker takes tasks from; for beat, the schedule entry it last sent.
    queues = models.JSONField(default=list)
    last_task = models.CharField(max_length=200, blank=True)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["role", "name"], name="heartbeat_one_per_process")
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} {self.name}"
