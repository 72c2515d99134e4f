"""The supply outlook cache (`inventory.outlook`), on the real Redis: the two public product
reads serve it between requests, and every change of supply shows in the very next read.

Transactional tests: the changes commit, so the generation counter really moves on commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inventory import outlook, selectors
from inventory.catalogue import supplier_update
from inventory.models import Product, PurchaseOrder, Supplier
from inventory.purchasing import (
    ReceiptRequest,
    purchase_order_cancel,
    purchase_order_line_cancel,
    purchase_order_line_reschedule,
    purchase_order_place,
    purchase_order_receive,
)
from tests.factories import ProductFactory, StaffFactory, SupplierProductFactory
from tests.helpers import (
    admin_supplier_terms_form,
    in_days,
    iso_in_days,
    purchase,
    receipt_with_delay,
)
from tests.outage import finished_within_hang_limit, frozen
from tests.worker import PrivateRedis

pytestmark = pytest.mark.django_db(transaction=True)

OUTLOOK_LOGGER = "inventory.outlook"


@pytest.fixture(autouse=True)
def _queue(empty_queue: None) -> None:
    """The refreshes these changes ask for go to this run's queue, emptied after."""


def stock(sku: str = "HOODIE-SE") -> dict[str, Any]:
    response = APIClient().get(f"/api/v1/products/{sku}")
    assert response.status_code == 200
    return response.json()["stock"]


def quote(sku: str = "HOODIE-SE", quantity: int = 1) -> dict[str, Any]:
    response = APIClient().get(f"/api/v1/products/{sku}/availability?quantity={quantity}")
    assert response.status_code == 200
    return response.json()


def supply(sku: str = "HOODIE-SE") -> tuple[int, str | None, int | None]:
    """What the product read says of its supply outlook: incoming units, next delivery and
    lead time; the availability read must agree on the ETA past all supply."""
    figures = stock(sku)
    return figures["incoming"], figures["next_delivery"], figures["lead_time_days"]


# Cached between requests ---------------------------------------------------------------------


def test_a_second_read_takes_the_outlook_from_the_cache(
    hoodie: Product, supplier: Supplier, django_assert_num_queries: Any
):
    # given: terms with a supplier and an open purchase order, read once
    SupplierProductFactory(supplier=supplier, product=hoodie, lead_time_days=5)
    purchase(hoodie, 10, days=7, supplier=supplier)
    # The product with its stock and queue counter, purchase orders, terms, reliability.
    with django_assert_num_queries(4):
        first_stock = stock()
    first = (first_stock, quote(quantity=3))

    # when: read again
    with django_assert_num_queries(2):  # for each read, the product with its stock
        again = (stock(), quote(quantity=3))

    # then: the same answers, the outlook from the cache
    assert again == first
    assert first[0]["incoming"] == 10
    assert first[1]["eta"] == iso_in_days(7)


def test_a_read_inside_a_transaction_that_changed_supply_sees_the_change(hoodie: Product):
    # given: the outlook cached
    assert supply() == (0, None, 14)

    # when: a purchase order is placed and read before its transaction commits
    with transaction.atomic():
        purchase(hoodie, 10, days=7)
        inside = selectors.stock_figures(hoodie)

    # then
    assert (inside.incoming, inside.next_delivery) == (10, in_days(7))
    assert supply() == (10, iso_in_days(7), 14)


def test_an_outlook_read_before_a_change_commits_is_never_served_after_it(hoodie: Product):
    # given: a read that takes the generation, then meets a change committing meanwhile
    def read_racing_a_change(product_ids: list[int]) -> dict[int, str]:
        outlook.supply_outlooks_forget()
        return dict.fromkeys(product_ids, "before the change")

    outlook.supply_outlooks([hoodie.pk], in_days(0), read_racing_a_change)

    # when: read again
    again = outlook.supply_outlooks(
        [hoodie.pk], in_days(0), lambda ids: dict.fromkeys(ids, "after the change")
    )

    # then: what the racing read stored is stale
    assert again == {hoodie.pk: "after the change"}


# Every change of supply shows in the next read -------------------------------------------------


def test_a_purchase_order_placed_shows_at_once(hoodie: Product):
    assert (supply(), quote(quantity=1)["eta"]) == ((0, None, 14), iso_in_days(14))

    purchase(hoodie, 10, days=7)

    assert (supply(), quote(quantity=1)["eta"]) == ((10, iso_in_days(7), 14), iso_in_days(7))


def test_a_draft_counts_once_it_is_placed(hoodie: Product):
    draft = purchase(hoodie, 10, days=7, place=False)
    assert supply() == (0, None, 14)

    purchase_order_place(purchase_order_id=draft.pk)

    assert supply() == (10, iso_in_days(7), 14)


def test_a_delivery_moved_shows_at_once(hoodie: Product):
    line = purchase(hoodie, 10, days=7).lines.get()
    assert (supply(), quote()["eta"]) == ((10, iso_in_days(7), 14), iso_in_days(7))

    purchase_order_line_reschedule(line_id=line.pk, expected_date=in_days(9))

    assert (supply(), quote()["eta"]) == ((10, iso_in_days(9), 14), iso_in_days(9))


def test_a_purchase_order_line_cancelled_shows_at_once(hoodie: Product):
    line = purchase(hoodie, 10, days=7).lines.get()
    assert supply() == (10, iso_in_days(7), 14)

    purchase_order_line_cancel(line_id=line.pk)

    assert supply() == (0, None, 14)


def test_a_purchase_order_cancelled_shows_at_once(hoodie: Product):
    order = purchase(hoodie, 10, days=7)
    assert supply() == (10, iso_in_days(7), 14)

    purchase_order_cancel(purchase_order_id=order.pk)

    assert supply() == (0, None, 14)


def test_goods_received_show_at_once(hoodie: Product):
    order = purchase(hoodie, 10, days=7)
    assert (supply(), stock()["on_hand"]) == ((10, iso_in_days(7), 14), 0)

    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(4, sku=hoodie.sku)])

    assert (supply(), stock()["on_hand"]) == ((6, iso_in_days(7), 14), 4)
    assert PurchaseOrder.objects.get(pk=order.pk).status == PurchaseOrder.Status.PARTIALLY_RECEIVED


def test_a_supplier_lead_time_changed_shows_at_once(hoodie: Product, supplier: Supplier):
    SupplierProductFactory(supplier=supplier, product=hoodie)
    assert (supply(), quote()["eta"]) == ((0, None, 14), iso_in_days(14))

    supplier_update(supplier_id=supplier.pk, changes={"lead_time_days": 30})

    assert (supply(), quote()["eta"]) == ((0, None, 30), iso_in_days(30))


def test_a_supplier_deactivated_shows_at_once(hoodie: Product, supplier: Supplier):
    SupplierProductFactory(supplier=supplier, product=hoodie, lead_time_days=5)
    assert supply() == (0, None, 5)

    supplier_update(supplier_id=supplier.pk, changes={"is_active": False})

    assert supply() == (0, None, 14)  # the product's own


def test_supplier_terms_changed_in_the_admin_show_at_once(
    admin_client: Any, hoodie: Product, supplier: Supplier
):
    assert supply() == (0, None, 14)

    response = admin_client.post(
        reverse("admin:inventory_product_change", args=[hoodie.pk]),
        admin_supplier_terms_form(hoodie, supplier, 5),
    )

    assert response.status_code == 302
    assert (supply(), quote()["eta"]) == ((0, None, 5), iso_in_days(5))


def test_a_supplier_proven_late_shows_at_once_on_its_other_products(
    hoodie: Product, supplier: Supplier
):
    # given: the supplier offers the hoodie in 5 days, and a cap it has delivered late twice
    SupplierProductFactory(supplier=supplier, product=hoodie, lead_time_days=5)
    cap = ProductFactory(sku="CAP")
    SupplierProductFactory(supplier=supplier, product=cap)
    for _ in range(2):
        receipt_with_delay(supplier, cap, delay=4)
    assert supply() == (0, None, 5)

    # when: a third late delivery proves its lateness
    receipt_with_delay(supplier, cap, delay=4)

    # then: the hoodie's lead time counts it
    assert supply() == (0, None, 9)


def test_a_product_lead_time_changed_through_the_api_shows_at_once(hoodie: Product):
    client = APIClient()
    token = Token.objects.create(user=StaffFactory())
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert supply() == (0, None, 14)

    response = client.patch(f"/api/v1/products/{hoodie.sku}", {"lead_time_days": 21}, format="json")

    assert response.status_code == 200
    assert response.json()["stock"]["lead_time_days"] == 21
    assert (supply(), quote()["eta"]) == ((0, None, 21), iso_in_days(21))


# While Redis cannot be reached ---------------------------------------------------------------


@pytest.fixture
def private_cache(
    private_broker: PrivateRedis, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PrivateRedis]:
    """`private_broker`, and this process's caches on it too; the outlook cache's guard
    starts afresh and tries again after a second."""
    settings.CACHES = {
        alias: {**config, "LOCATION": private_broker.url}
        for alias, config in settings.CACHES.items()
    }
    monkeypatch.setattr(outlook._cache, "_retry_at", 0.0)
    monkeypatch.setattr(outlook._cache, "_failing", False)
    monkeypatch.setattr(outlook._cache, "retry_seconds", 1.0)
    yield private_broker


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == OUTLOOK_LOGGER and r.levelno == logging.WARNING
    ]


def test_with_redis_frozen_reads_answer_from_the_database_trying_it_once(
    private_cache: PrivateRedis, hoodie: Product, caplog: pytest.LogCaptureFixture
):
    # given: the outlook cached, then a purchase order
    assert supply() == (0, None, 14)
    purchase(hoodie, 10, days=7)

    # when: three reads while Redis is frozen
    with caplog.at_level(logging.WARNING, logger=OUTLOOK_LOGGER), frozen(private_cache):
        read = [finished_within_hang_limit(supply) for _ in range(3)]

    # then: right, and the cache was tried by the first only
    assert read == [(10, iso_in_days(7), 14)] * 3
    assert len(warnings(caplog)) == 1
    assert "'default' cache cannot be reached (TimeoutError" in warnings(caplog)[0]


def test_a_change_redis_missed_shows_once_it_answers_again(
    private_cache: PrivateRedis, hoodie: Product, caplog: pytest.LogCaptureFixture
):
    # given: the outlook cached, then a purchase order placed while Redis is frozen
    assert supply() == (0, None, 14)
    caplog.set_level(logging.INFO, logger=OUTLOOK_LOGGER)
    with frozen(private_cache):
        finished_within_hang_limit(lambda: purchase(hoodie, 10, days=7))
        during = finished_within_hang_limit(supply)

    # when: Redis answers again, still holding the outlook cached before the change
    outlook._cache._retry_at = 0.0
    after = supply()

    # then: the change shows, from the database and then from the cache
    assert (during, after, supply()) == ((10, iso_in_days(7), 14),) * 3
    assert [r.getMessage() for r in caplog.records if r.name == OUTLOOK_LOGGER][-1] == (
        "The 'default' cache answers again"
    )
