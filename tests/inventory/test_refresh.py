"""`inventory.refresh`: a refresh the broker could not take is kept, and the beat asks again.

What is sent is read back from the Celery queue (no worker takes it); the broker that fails
is a private Redis the test stops.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from inventory.models import UnsentRefresh
from inventory.refresh import REFRESH_TASK, UNSENT_CHUNK, refresh_after_commit
from inventory.stock import stock_adjust
from orders.models import EtaChange
from orders.tasks import refresh_unsent_products
from tests.factories import ProductFactory
from tests.worker import PrivateRedis, queued

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_queue")]

STOCK_CHANGED = EtaChange.Cause.STOCK_CHANGED
PO_CREATED = EtaChange.Cause.PO_CREATED


def kept() -> list[tuple[int, str, str]]:
    return list(UnsentRefresh.objects.order_by("pk").values_list("product_id", "cause", "detail"))


def test_a_refresh_the_broker_cannot_take_is_kept_and_the_beat_task_sends_it(
    private_broker: PrivateRedis, hoodie, django_capture_on_commit_callbacks
):
    # given: the broker is down when a stock adjustment commits
    private_broker.kill()
    with django_capture_on_commit_callbacks(execute=True):
        stock_adjust(product=hoodie, quantity=2, reason="Found in the back")

    # then: the adjustment stands and its refresh is kept
    assert hoodie.stocks.get().on_hand == 2
    assert kept() == [(hoodie.pk, STOCK_CHANGED, "Found in the back")]

    # when: the broker is back (empty) and the beat task runs
    private_broker.start()
    with django_capture_on_commit_callbacks(execute=True):
        taken = refresh_unsent_products()

    # then: the refresh is queued once, as it was asked for, and no longer kept
    assert taken == 1
    assert queued() == [(REFRESH_TASK, [[hoodie.pk], STOCK_CHANGED, "Found in the back"])]
    assert kept() == []


def test_kept_refreshes_go_out_one_task_per_cause_in_chunks_each_product_once(
    django_capture_on_commit_callbacks,
):
    # given: more products than a chunk kept for one cause, one of them twice, and another cause
    products = ProductFactory.create_batch(UNSENT_CHUNK + 1)
    ids = sorted(product.pk for product in products)
    UnsentRefresh.objects.bulk_create(
        [UnsentRefresh(product_id=pk, cause=STOCK_CHANGED, detail="count") for pk in ids]
        + [
            UnsentRefresh(product_id=ids[0], cause=STOCK_CHANGED, detail="count"),
            UnsentRefresh(product_id=ids[0], cause=PO_CREATED, detail="PO-7"),
        ]
    )

    # when
    with django_capture_on_commit_callbacks(execute=True):
        taken = refresh_unsent_products()

    # then: every row was taken, and each product goes out once per cause and detail
    assert taken == UNSENT_CHUNK + 3
    assert queued() == [
        (REFRESH_TASK, [[ids[0]], PO_CREATED, "PO-7"]),
        (REFRESH_TASK, [ids[:UNSENT_CHUNK], STOCK_CHANGED, "count"]),
        (REFRESH_TASK, [ids[UNSENT_CHUNK:], STOCK_CHANGED, "count"]),
    ]
    assert kept() == []


def test_kept_refreshes_the_broker_still_cannot_take_are_kept_again(
    private_broker: PrivateRedis, hoodie, django_capture_on_commit_callbacks
):
    # given: a refresh kept while the broker is down
    private_broker.kill()
    with django_capture_on_commit_callbacks(execute=True):
        refresh_after_commit([hoodie.pk], cause=PO_CREATED, detail="PO-3")
    assert kept() == [(hoodie.pk, PO_CREATED, "PO-3")]

    # when: the beat task runs before the broker is back
    with django_capture_on_commit_callbacks(execute=True):
        taken = refresh_unsent_products()

    # then: it is kept still, once
    assert taken == 1
    assert kept() == [(hoodie.pk, PO_CREATED, "PO-3")]


def test_with_nothing_kept_the_beat_task_sends_nothing(django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        taken = refresh_unsent_products()

    # then
    assert taken == 0
    assert queued() == []


def test_the_beat_asks_for_kept_refreshes_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-unsent-products"]

    assert entry["task"] == refresh_unsent_products.name
    assert entry["schedule"] <= 60
