"""`orders.allocating.backorders_fill`: the set-based fill gives every line exactly what the
pure rule (`inventory.allocation.fill_backorders`) gives it, and writes the ledger, the
events and the emails that go with it."""

import random
from collections import Counter

import pytest

from inventory.allocation import QueuedLine, Supply, fill_backorders
from inventory.models import Allocation, Stock, StockMovement, Warehouse
from inventory.selectors import stock_drift
from inventory.stock import stock_receive
from notifications.models import Notification
from orders.models import EtaChange, OrderEvent, OrderLine
from orders.queue import product_reallocate, product_refresh, products_refresh
from orders.selectors import queue_ordering
from orders.services import LineRequest, order_place
from tests.factories import ProductFactory
from tests.helpers import purchase


def _scenario(rng: random.Random, n: int):
    """A product with 1-3 warehouses, a queue of 1-25 waiting lines of mixed priority, some
    of them partly allocated already, and a receipt of free stock into each warehouse."""
    product = ProductFactory()
    warehouses = [
        Warehouse.objects.create(code=f"s{n}w{w}", name=f"W{w}", priority=rng.choice([0, 0, 3, 7]))
        for w in range(rng.randint(1, 3))
    ]
    for c in range(rng.randint(1, 25)):
        if rng.random() < 0.3:
            # Some stock arrives mid-queue, so this order is partly allocated when placed.
            stock_receive(product=product, quantity=rng.randint(1, 3), warehouse=warehouses[0])
        order_place(
            email=f"c{c}@example.com",
            name="C",
            lines=[LineRequest(product.sku, rng.randint(1, 6))],
            priority=rng.choice([0, 0, 0, 1, 5]),
        )
    for warehouse in warehouses:
        if rng.random() < 0.8:
            stock_receive(product=product, quantity=rng.randint(1, 40), warehouse=warehouse)
    return product


def _expected(product):
    waiting = list(
        OrderLine.objects.filter(product=product, backordered__gt=0).order_by(*queue_ordering())
    )
    supply = [
        Supply(s.pk, product.pk, s.warehouse.priority, s.free)
        for s in Stock.objects.filter(product=product).select_related("warehouse")
    ]
    fills = fill_backorders((QueuedLine(line.pk, line.backordered) for line in waiting), supply)
    return {line.pk: line for line in waiting}, fills


@pytest.mark.django_db
def test_the_set_based_fill_agrees_with_the_pure_rule_on_random_queues():
    rng = random.Random(15)
    for n in range(40):
        product = _scenario(rng, n)
        lines, fills = _expected(product)
        allocations_before = Counter(
            {
                (a.order_line_id, a.stock_id): a.quantity
                for a in Allocation.objects.filter(stock__product=product)
            }
        )
        stocks_before = {s.pk: s.allocated for s in Stock.objects.filter(product=product)}
        movements_before = StockMovement.objects.filter(
            stock__product=product, kind=StockMovement.Kind.ALLOCATION
        ).count()
        notices_before = Notification.objects.filter(kind=Notification.Kind.ALLOCATED).count()
        events_before = OrderEvent.objects.order_by("-pk").values_list("pk", flat=True).first()

        allocated = product_reallocate(product_id=product.pk)

        assert allocated == sum(fill.allocated for fill in fills), n
        for line_id, line in lines.items():
            got = OrderLine.objects.get(pk=line_id)
            units = sum(f.allocated for f in fills if f.line_id == line_id)
            assert (got.allocated, got.backordered) == (
                line.allocated + units,
                line.backordered - units,
            ), n
            assert got.status == ("backordered" if got.backordered else "allocated"), n
        expected_allocations = allocations_before + Counter(
            {(f.line_id, stock_id): units for f in fills for stock_id, units in f.allocations}
        )
        assert (
            Counter(
                {
                    (a.order_line_id, a.stock_id): a.quantity
                    for a in Allocation.objects.filter(stock__product=product)
                }
            )
            == expected_allocations
        ), n
        per_stock = Counter()
        for fill in fills:
            for stock_id, units in fill.allocations:
                per_stock[stock_id] += units
        assert {s.pk: s.allocated for s in Stock.objects.filter(product=product)} == {
            pk: allocated + per_stock[pk] for pk, allocated in stocks_before.items()
        }, n
        assert StockMovement.objects.filter(
            stock__product=product, kind=StockMovement.Kind.ALLOCATION
        ).count() == movements_before + sum(len(f.allocations) for f in fills), n
        assert sorted(
            OrderEvent.objects.filter(
                pk__gt=events_before, kind=OrderEvent.Kind.ALLOCATED
            ).values_list("line_id", "quantity")
        ) == sorted((f.line_id, f.allocated) for f in fills), n
        assert Notification.objects.filter(
            kind=Notification.Kind.ALLOCATED
        ).count() == notices_before + len({lines[f.line_id].order_id for f in fills}), n
    assert stock_drift() == []


@pytest.mark.django_db
def test_a_fill_records_one_event_and_one_email_per_order_with_what_each_line_got(
    default_warehouse,
):
    product = ProductFactory()
    first = order_place(
        email="a@example.com",
        name="A",
        lines=[LineRequest(product.sku, 2), LineRequest(ProductFactory().sku, 1)],
    )
    second = order_place(email="b@example.com", name="B", lines=[LineRequest(product.sku, 3)])
    stock_receive(product=product, quantity=4)

    assert product_reallocate(product_id=product.pk) == 4

    line_a = first.lines.get(product=product)
    line_b = second.lines.get()
    assert list(
        OrderEvent.objects.filter(kind=OrderEvent.Kind.ALLOCATED, line__product=product)
        .order_by("pk")
        .values_list("line_id", "quantity", "status_before", "status_after")
    ) == [
        (line_a.pk, 2, "backordered", "allocated"),
        (line_b.pk, 2, "backordered", "backordered"),
    ]
    notices = Notification.objects.filter(kind=Notification.Kind.ALLOCATED).order_by("order_id")
    first_event = OrderEvent.objects.filter(kind=OrderEvent.Kind.ALLOCATED).order_by("pk")
    assert [(n.order_id, n.to, n.key, n.data) for n in notices] == [
        (
            first.pk,
            "a@example.com",
            f"allocated:{first.pk}:{first_event.get(line=line_a).pk}",
            {"lines": [{"id": line_a.pk, "quantity": 2}]},
        ),
        (
            second.pk,
            "b@example.com",
            f"allocated:{second.pk}:{first_event.get(line=line_b).pk}",
            {"lines": [{"id": line_b.pk, "quantity": 2}]},
        ),
    ]
    assert list(
        StockMovement.objects.filter(
            kind=StockMovement.Kind.ALLOCATION, order_line__in=[line_a, line_b]
        )
        .order_by("pk")
        .values_list("order_line_id", "quantity")
    ) == [(line_a.pk, 2), (line_b.pk, 2)]


def _lines_in_queue_order(product) -> list[tuple]:
    return list(
        OrderLine.objects.filter(product=product)
        .order_by(*queue_ordering())
        .values_list(
            "allocated", "backordered", "status", "eta", "first_promised_eta", "notified_eta"
        )
    )


def _world(seed: int, name: str) -> list:
    """Eight random products (`_scenario`), some with purchase orders due."""
    rng = random.Random(seed)
    products = []
    for n in range(8):
        product = _scenario(rng, f"{name}{n}")
        for _ in range(rng.randint(0, 2)):
            purchase(product, rng.randint(1, 30), rng.randint(1, 20))
        products.append(product)
    return products


@pytest.mark.django_db
def test_refreshing_many_products_at_once_gives_each_what_refreshing_it_alone_gives():
    # given two identical worlds of eight random products
    together, alone = _world(7, "t"), _world(7, "a")
    assert [_lines_in_queue_order(p) for p in together] == [_lines_in_queue_order(p) for p in alone]

    # when one world is refreshed in one call, the other product by product
    at_once = products_refresh(
        product_ids=[p.pk for p in together], cause=EtaChange.Cause.STOCK_CHANGED
    )
    one_by_one = [
        product_refresh(product_id=p.pk, cause=EtaChange.Cause.STOCK_CHANGED) for p in alone
    ]

    # then every line, ETA change and notice is the same
    assert at_once == tuple(map(sum, zip(*one_by_one, strict=True)))
    assert at_once[0] > 0 and at_once[1] > 0
    for mine, theirs in zip(together, alone, strict=True):
        assert _lines_in_queue_order(mine) == _lines_in_queue_order(theirs)
        assert list(
            EtaChange.objects.filter(line__product=mine)
            .order_by("line__order__created_at", "pk")
            .values_list("previous", "eta", "cause")
        ) == list(
            EtaChange.objects.filter(line__product=theirs)
            .order_by("line__order__created_at", "pk")
            .values_list("previous", "eta", "cause")
        )

    def notices(products):
        return Counter(
            Notification.objects.filter(order__lines__product__in=products).values_list(
                "kind", flat=True
            )
        )

    assert notices(together) == notices(alone)
    assert stock_drift() == []
