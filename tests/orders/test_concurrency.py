"""Order placement under real concurrency: threads, each with its own PostgreSQL connection.

`_two_hundred_orders_for_fifty_units` is run once against `order_place` and once against a
naive read-modify-write placement, to show that the oversell it looks for does happen
without the product lock.
"""

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Sum

from inventory.exceptions import OrderRefused
from inventory.models import Allocation, Product, Stock, Warehouse
from inventory.selectors import Drift, stock_drift
from inventory.stock import stock_receive
from orders.models import IdempotencyKey, Order, OrderLine, RefusedDemand
from orders.services import LineRequest, order_place, order_place_once
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 50
ORDERS_PER_THREAD = 4  # 200 orders in all
STOCK = 50


def _in_threads(threads: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run `work(thread_index)` in `threads` threads released together; return their errors."""
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as error:  # collected, and asserted empty by the caller
            errors.append(error)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(run, range(threads)))
    return errors


def _place_one(sku: str, index: int) -> None:
    order_place(
        email=f"buyer{index}@example.com",
        name=f"Buyer {index}",
        lines=[LineRequest(sku, 1)],
    )


def _naive_place_one(barrier: threading.Barrier, sku: str, index: int) -> None:
    """The classic bug: read free stock, decide, write back absolute counters, no lock."""
    product = Product.objects.get(sku=sku)
    stock = Stock.objects.get(product=product)
    free = stock.on_hand - stock.allocated
    barrier.wait()  # every thread has read before any writes: the race, made certain
    with transaction.atomic():
        order = Order.objects.create(email=f"buyer{index}@example.com", name=f"Buyer {index}")
        allocated = 1 if free >= 1 else 0
        line = OrderLine.objects.create(
            order=order,
            product=product,
            quantity=1,
            allocated=allocated,
            backordered=1 - allocated,
            status="allocated" if allocated else "backordered",
            unit_price=product.price,
        )
        if allocated:
            Allocation.objects.create(order_line=line, stock=stock, quantity=1)
            stock.allocated += 1
            stock.save(update_fields=["allocated"])


def _two_hundred_orders_for_fifty_units(place_one: Callable[[str, int], None]) -> Product:
    """200 simultaneous single-unit orders against 50 units; returns the product once every
    order is in."""
    product = ProductFactory(sku="HOODIE-SE")
    stock_receive(product=product, quantity=STOCK)

    def work(thread: int) -> None:
        for n in range(ORDERS_PER_THREAD):
            place_one("HOODIE-SE", thread * ORDERS_PER_THREAD + n)

    errors = _in_threads(THREADS, work)

    assert errors == []
    assert OrderLine.objects.filter(product=product).count() == THREADS * ORDERS_PER_THREAD
    return product


def test_two_hundred_simultaneous_orders_never_oversell_fifty_units(default_warehouse):
    # when
    product = _two_hundred_orders_for_fifty_units(_place_one)

    # then
    lines = OrderLine.objects.filter(product=product)
    assert lines.aggregate(a=Sum("allocated"), b=Sum("backordered")) == {"a": 50, "b": 150}
    stock = Stock.objects.get(product=product)
    assert (stock.on_hand, stock.allocated) == (STOCK, STOCK)
    assert Allocation.objects.filter(stock=stock).aggregate(s=Sum("quantity"))["s"] == STOCK
    assert stock_drift() == []
    call_command("verify_stock")


def test_the_oversell_test_catches_a_naive_read_modify_write(default_warehouse):
    # given a placement that reads free stock, then writes absolute counters without a lock
    barrier = threading.Barrier(THREADS)

    def naive(sku: str, index: int) -> None:
        _naive_place_one(barrier, sku, index)

    # when
    product = _two_hundred_orders_for_fifty_units(naive)

    # then every order got a unit: 200 units allocated against 50 on hand, 150 oversold
    lines = OrderLine.objects.filter(product=product)
    assert lines.aggregate(a=Sum("allocated"), b=Sum("backordered")) == {"a": 200, "b": 0}
    stock = Stock.objects.get(product=product)
    oversold = Allocation.objects.filter(stock=stock).aggregate(s=Sum("quantity"))["s"] - STOCK
    assert (stock.on_hand, oversold) == (STOCK, 150)
    # and the counter lost the updates: each round of 50 writers wrote back one "read + 1"
    assert 1 <= stock.allocated <= ORDERS_PER_THREAD
    assert stock_drift() == [
        Drift("stock HOODIE-SE@main allocated vs ledger", 0, stock.allocated),
        Drift("stock HOODIE-SE@main allocated vs allocation rows", 200, stock.allocated),
    ]


def test_baskets_of_several_skus_in_shuffled_order_do_not_deadlock(default_warehouse):
    second = Warehouse.objects.create(code="sby", name="Surabaya", priority=10)
    skus = [f"SKU-{n}" for n in range(5)]
    for sku in skus:
        product = ProductFactory(sku=sku)
        stock_receive(product=product, quantity=20)
        stock_receive(product=product, quantity=10, warehouse=second)
    threads, baskets_per_thread = 16, 6

    def work(thread: int) -> None:
        rng = random.Random(thread)
        for n in range(baskets_per_thread):
            basket = rng.sample(skus, k=rng.randint(2, len(skus)))
            order_place(
                email=f"t{thread}-{n}@example.com",
                name=f"Thread {thread}",
                lines=[LineRequest(sku, rng.randint(1, 3)) for sku in basket],
            )

    errors = _in_threads(threads, work)

    assert errors == []
    assert Order.objects.count() == threads * baskets_per_thread
    for sku in skus:
        lines = OrderLine.objects.filter(product__sku=sku)
        totals = lines.aggregate(q=Sum("quantity"), a=Sum("allocated"), b=Sum("backordered"))
        assert totals["a"] == min(totals["q"], 30)
        assert totals["a"] + totals["b"] == totals["q"]
        stocks = Stock.objects.filter(product__sku=sku)
        assert sum(s.allocated for s in stocks) == totals["a"]
    call_command("verify_stock")


def test_backorder_cap_holds_under_concurrency(default_warehouse):
    product = ProductFactory(sku="CAPPED", backorder_limit=30)
    threads, accepted, refused = 60, [], []

    def work(thread: int) -> None:
        try:
            _place_one("CAPPED", thread)
        except OrderRefused as refusal:
            refused.append(refusal.code)
        else:
            accepted.append(thread)

    errors = _in_threads(threads, work)

    assert errors == []
    assert (len(accepted), len(refused)) == (30, 30)
    assert set(refused) == {"backorder_limit"}
    assert OrderLine.objects.filter(product=product).aggregate(b=Sum("backordered"))["b"] == 30
    assert RefusedDemand.objects.filter(product=product, reason="backorder_limit").count() == 30
    call_command("verify_stock")


def test_preorder_cap_and_per_order_cap_hold_under_concurrency(default_warehouse):
    # given a pre-order of 20 units at most, 3 per order, and 40 buyers asking for 2 or 4
    product = ProductFactory(
        sku="ALBUM-LTD",
        backorder_policy=Product.BackorderPolicy.PREORDER,
        release_date=date(2099, 1, 1),
        backorder_limit=20,
        max_per_order=3,
    )
    stock_receive(product=product, quantity=5)
    accepted, refused = [], []

    def work(thread: int) -> None:
        quantity = 4 if thread % 4 == 0 else 2
        try:
            order_place(
                email=f"fan{thread}@example.com",
                name=f"Fan {thread}",
                lines=[LineRequest("ALBUM-LTD", quantity)],
            )
        except OrderRefused as refusal:
            refused.append(refusal.code)
        else:
            accepted.append(quantity)

    errors = _in_threads(40, work)

    # then ten 2-unit pre-orders fill the cap; every 4-unit order is over the per-order cap
    assert errors == []
    assert accepted == [2] * 10
    assert sorted(refused) == ["backorder_limit"] * 20 + ["max_per_order"] * 10
    lines = OrderLine.objects.filter(product=product)
    assert lines.aggregate(b=Sum("backordered"))["b"] == 20
    assert set(lines.values_list("status", "allocated")) == {("preordered", 0)}
    assert Stock.objects.get(product=product).allocated == 0
    call_command("verify_stock")


def test_a_retry_waits_for_the_key_holder_and_places_the_order_if_the_holder_gave_up(
    default_warehouse,
):
    """The key is claimed in one insert, with no read before it: a retry's insert waits on the
    unique index for the first request's transaction, and when that one rolls back the retry
    claims the key and places the order itself."""
    product = ProductFactory(sku="HOODIE-SE")
    stock_receive(product=product, quantity=1)
    holding = threading.Event()
    release = threading.Event()
    results: list[tuple[str, bool]] = []

    def first_request() -> None:
        try:
            with transaction.atomic():
                order_place_once(
                    idempotency_key="double-click",
                    fingerprint="body",
                    email="a@example.com",
                    name="A",
                    lines=[LineRequest("HOODIE-SE", 1)],
                )
                holding.set()
                release.wait(10)
                raise RuntimeError("the first request's worker died")
        except RuntimeError:
            pass
        finally:
            connection.close()

    def retry() -> None:
        try:
            order, created = order_place_once(
                idempotency_key="double-click",
                fingerprint="body",
                email="a@example.com",
                name="A",
                lines=[LineRequest("HOODIE-SE", 1)],
            )
            results.append((order.number, created))
        finally:
            connection.close()

    first = threading.Thread(target=first_request)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=retry)
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waiting on the key's unique index
    release.set()
    first.join()
    second.join(10)

    order = Order.objects.get()
    assert results == [(order.number, True)]
    assert list(IdempotencyKey.objects.values_list("key", "order_id")) == [
        ("double-click", order.pk)
    ]
    assert Stock.objects.get(product=product).allocated == 1
    assert stock_drift() == []
