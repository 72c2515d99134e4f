"""Data migrations of orders: what they make of rows stored before them."""

import importlib

import pytest
from django.apps import apps

from orders.models import IdempotencyKey
from tests.factories import StaffFactory
from tests.helpers import place

pytestmark = pytest.mark.django_db

key_scope = importlib.import_module("orders.migrations.0008_idempotency_key_scope")


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
