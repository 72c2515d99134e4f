"""Drafting under real concurrency: the nightly run in a real Celery worker and staff
drafting from several connections at the same moment never draft one need twice."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Count, Sum

from inventory import replenishment
from inventory.models import DemandHistory, Product, PurchaseOrderLine
from inventory.tasks import replenishment_nightly
from tests.factories import ProductFactory, SupplierFactory, SupplierProductFactory
from tests.helpers import today
from tests.worker import celery_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCTS = 40


@pytest.fixture
def catalogue(default_warehouse):
    """Forty products selling steadily, none in stock, from two suppliers."""
    suppliers = [SupplierFactory(name="Tenun"), SupplierFactory(name="Kaos")]
    products = []
    for index in range(PRODUCTS):
        product = ProductFactory(sku=f"P{index:03d}", price=Decimal("10000"))
        SupplierProductFactory(
            supplier=suppliers[index % 2], product=product, unit_cost=Decimal("4000")
        )
        products.append(product)
    DemandHistory.objects.bulk_create(
        DemandHistory(product=product, day=today() - timedelta(days=n), quantity=2 + index % 5)
        for index, product in enumerate(products)
        for n in range(1, 91)
    )
    return products


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def test_the_nightly_run_and_staff_drafting_at_once_draft_each_need_once(catalogue):
    wanted = {plan.product.sku: plan.quantity for plan in replenishment.suggestions()}
    assert len(wanted) == PRODUCTS
    locked, release = threading.Event(), threading.Event()
    staff: list[replenishment.Drafted] = []

    def hold_products() -> None:
        # Both drafters find the needs, then wait here for the products' locks together.
        with transaction.atomic():
            list(Product.objects.select_for_update(no_key=True).order_by("pk"))
            locked.set()
            release.wait(timeout=120)
        connection.close()

    def staff_drafts() -> None:
        staff.extend(replenishment.drafts_create())
        connection.close()

    holder = threading.Thread(target=hold_products)
    holder.start()
    locked.wait(timeout=30)
    with celery_worker(env={"BACKORDER_NIGHTLY_DRAFTS": "true"}):
        nightly = replenishment_nightly.delay()
        clerk = threading.Thread(target=staff_drafts)
        clerk.start()
        wait_until(lambda: _waiting_on_locks() >= 2, "the nightly run and staff waiting")
        release.set()
        holder.join()
        clerk.join()
        summary = nightly.get(timeout=120)

    lines = {
        row["product__sku"]: (row["lines"], row["units"])
        for row in PurchaseOrderLine.objects.values("product__sku").annotate(
            lines=Count("pk"), units=Sum("quantity")
        )
    }
    assert lines == {sku: (1, units) for sku, units in wanted.items()}
    # Whoever took the locks first drafted both suppliers' orders; the other found them.
    drafted = sorted([len(staff), len(summary["drafted"])])
    assert drafted == [0, 2]
    assert summary["products"] == PRODUCTS
    assert replenishment.suggestions() == []
