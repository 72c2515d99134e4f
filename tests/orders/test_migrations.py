"""Data migrations of orders: what they make of rows stored before them."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection

from orders.models import IdempotencyKey, Order, OrderLine
from tests.factories import StaffFactory
from tests.helpers import place, place_line

pytestmark = pytest.mark.django_db

key_scope = importlib.import_module("orders.migrations.0008_idempotency_key_scope")
queue_key = importlib.import_module("orders.migrations.0009_line_queue_key")


def test_stored_keys_go_to_the_user_who_placed_their_order(hoodie):
    # given keys stored before they had an owner: one a staff user's, one anonymous, one whose
    # order is still being placed
    staff = StaffFactory(username="ana")
    by_staff = place((hoodie, 1), actor=staff)
    by_customer = place((hoodie, 1))
    IdempotencyKey.objects.create(key="k-staff", fingerprint="f", order=by_staff)
    IdempotencyKey.objects.create(key="k-customer", fingerprint="f", order=by_customer)
    IdempotencyKey.objects.create(key="k-pending", fingerprint="f")

    # when
    key_scope.keys_to_their_callers(apps, None)

    # then
    assert dict(IdempotencyKey.objects.values_list("key", "user__username")) == {
        "k-staff": "ana",
        "k-customer": None,
        "k-pending": None,
    }


def test_every_line_takes_its_order_s_queue_key(hoodie):
    # given lines whose copy of the queue key is out of step with their orders
    first, second = place_line(hoodie, 1), place_line(hoodie, 2)
    placed = Order.objects.get(pk=second.order_id).created_at
    Order.objects.filter(pk=first.order_id).update(priority=7)
    OrderLine.objects.update(queue_priority=0, queued_at=placed + timedelta(days=1))

    # when
    with connection.cursor() as cursor:
        cursor.execute(queue_key.BACKFILL)

    # then
    assert list(OrderLine.objects.order_by("pk").values_list("queue_priority", "queued_at")) == [
        (7, Order.objects.get(pk=first.order_id).created_at),
        (0, placed),
    ]
