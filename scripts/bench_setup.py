"""What the in-process benchmark scripts share: a scratch database made afresh, Django set up
on it with the test settings, and one JSON line per figure."""

from __future__ import annotations

import json
import os
from urllib.parse import urlparse

from ensure_services import maintenance_connection

BASE_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/backorder")


def emit(name: str, value: float, unit: str, **detail: object) -> None:
    print(json.dumps({"name": name, "value": round(value, 3), "unit": unit, **detail}), flush=True)


def django_on_scratch_database(name: str) -> None:
    """Drop and create database `name` on `TEST_DATABASE_URL`'s server, set Django up on it
    and migrate it."""
    with maintenance_connection(BASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["TEST_DATABASE_URL"] = urlparse(BASE_URL)._replace(path=f"/{name}").geturl()
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    # A broker queue of its own: the refreshes the services ask for here must never reach
    # a test suite's worker on the same Redis. Nothing consumes it; `broker_purge` empties it.
    os.environ["CELERY_TEST_QUEUE"] = "backorder-bench-in-process"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def purchase_orders_ahead(sku: str) -> None:
    """Three purchase orders covering parts of a 20,000-line queue of `sku`: 4,000 units in
    5 days, 6,000 in 12 and 5,000 in 20; the rest waits for the 30-day lead time."""
    from datetime import timedelta

    from django.utils import timezone

    from inventory.models import Supplier
    from inventory.purchasing import PurchaseLineRequest, purchase_order_create

    supplier = Supplier.objects.create(name="Bench supplier", lead_time_days=30)
    today = timezone.localdate()
    for days, quantity in ((5, 4000), (12, 6000), (20, 5000)):
        purchase_order_create(
            supplier=supplier,
            lines=[PurchaseLineRequest(sku, quantity, today + timedelta(days=days))],
        )


def broker_purge() -> None:
    """Drop the refreshes the run asked for: nothing consumes its queue."""
    from config.celery import app

    app.control.purge()
