"""The Celery app (settings under the `CELERY_` namespace) and the retry options tasks share."""

import os
from typing import Any

from celery import Celery
from django.db import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("backorder")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Retry options for tasks whose only expected failure is the database going away for a while.
RETRY_ON_DATABASE_ERRORS: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 5,
}
