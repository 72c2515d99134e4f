"""Reallocation by a real Celery worker process, over Redis, on the test database."""

import pytest
from django.core.management import call_command
from django.db.models import Sum

from inventory.models import Allocation, Stock, StockMovement
from inventory.stock import stock_receive
from orders.models import OrderEvent, OrderLine
from orders.services import order_line_cancel
from orders.tasks import refresh_product
from tests.helpers import place
from tests.worker import celery_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker():
    with celery_worker() as name:
        yield name


def _line(order) -> OrderLine:
    return order.lines.get()


def _snapshot(product):
    return (
        list(
            OrderLine.objects.filter(product=product)
            .values_list("pk", "allocated", "backordered", "status")
            .order_by("pk")
        ),
        list(
            Allocation.objects.filter(stock__product=product)
            .values_list("pk", "quantity")
            .order_by("pk")
        ),
        StockMovement.objects.count(),
        OrderEvent.objects.count(),
        list(Stock.objects.filter(product=product).values_list("on_hand", "allocated")),
    )


def _no_free_stock(product) -> bool:
    return all(s.free == 0 for s in Stock.objects.filter(product=product))


def test_a_receipt_fills_the_oldest_backorders_through_the_worker(worker, hoodie):
    first, second, third = (place(("HOODIE-SE", 2), who=who) for who in ("ayu", "budi", "claire"))
    assert OrderLine.objects.filter(product=hoodie).aggregate(b=Sum("backordered"))["b"] == 6

    stock_receive(product=hoodie, quantity=3, reference="DN-1")
    wait_until(lambda: _no_free_stock(hoodie), "the worker to allocate the receipt")

    assert [
        (line.allocated, line.backordered, line.status)
        for line in map(_line, (first, second, third))
    ] == [
        (2, 0, "allocated"),
        (1, 1, "backordered"),
        (0, 2, "backordered"),
    ]
    before = _snapshot(hoodie)
    assert refresh_product.delay(hoodie.pk).get(timeout=60) == [0, 0]
    assert _snapshot(hoodie) == before
    call_command("verify_stock")


def test_a_staff_cancellation_frees_stock_for_the_next_in_line(worker, hoodie):
    stock_receive(product=hoodie, quantity=2)
    holder = place(("HOODIE-SE", 2), who="holder")
    waiting = place(("HOODIE-SE", 1), who="waiting")
    assert (_line(holder).allocated, _line(waiting).backordered) == (2, 1)

    order_line_cancel(line_id=_line(holder).pk, quantity=1, reason="Changed size")
    wait_until(lambda: _line(waiting).allocated == 1, "the freed unit to reach the next order")

    assert (_line(holder).allocated, _line(holder).cancelled) == (1, 1)
    assert (_line(waiting).allocated, _line(waiting).backordered, _line(waiting).status) == (
        1,
        0,
        "allocated",
    )
    call_command("verify_stock")


def test_many_concurrent_reallocations_of_one_product_allocate_each_unit_once(worker, hoodie):
    orders = [place(("HOODIE-SE", 1), who=f"buyer{n}") for n in range(20)]

    stock_receive(product=hoodie, quantity=10)
    results = [refresh_product.delay(hoodie.pk) for _ in range(8)]
    allocated_by_tasks = sum(result.get(timeout=60)[0] for result in results)
    wait_until(lambda: _no_free_stock(hoodie), "all free stock allocated")

    lines = [_line(order) for order in orders]
    assert [line.allocated for line in lines] == [1] * 10 + [0] * 10
    assert Stock.objects.get(product=hoodie).allocated == 10
    assert allocated_by_tasks <= 10
    call_command("verify_stock")
