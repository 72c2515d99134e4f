"""Lock discipline, read off the SQL each stock-writing service sends: it locks the products
(`SELECT ... FOR UPDATE`) before its first write to stock counters, allocations, order-line
counters, the ledger or a product's queue length; locks products before stock rows; and
takes every lock of several rows in primary-key order (`inventory.locks`' rule). Stock
counters change by relative updates (`F()`) under the product lock, the mutex of its
stock, so a stock row needs no lock of its own before its write."""

import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.purchasing import ReceiptRequest, purchase_order_receive
from inventory.stock import stock_adjust, stock_receive
from orders.queue import products_refresh
from orders.services import (
    LineRequest,
    order_line_cancel,
    order_place,
    order_priority_set,
    shipment_create,
)
from tests.factories import ProductFactory
from tests.helpers import purchase

pytestmark = pytest.mark.django_db

# The tables whose rows only a holder of the product lock may write.
GUARDED = (
    "inventory_stock",
    "inventory_allocation",
    "inventory_stockmovement",
    "orders_orderline",
    "inventory_product",
)
WRITE = re.compile(
    r"\b(?:update|insert\s+into|delete\s+from)\s+\"?(" + "|".join(GUARDED) + r")\"?(?=[\s(])"
)
LOCK = re.compile(r"\bfor\s+(?:no\s+key\s+)?update\b")
FROM = re.compile(r"\bfrom\s+\"?(\w+)\"?")


def _statements(work: Callable[[], object]) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        work()
    return [" ".join(query["sql"].lower().split()) for query in captured.captured_queries]


def _locked_table(sql: str) -> str | None:
    if not LOCK.search(sql) or not sql.startswith("select"):
        return None
    match = FROM.search(sql)
    return match.group(1) if match else None


def check_discipline(statements: list[str]) -> list[str]:
    """What breaks the rules in `statements`, in words; empty when none does."""
    problems: list[str] = []
    locked: list[str] = []
    writes = 0
    for index, sql in enumerate(statements):
        table = _locked_table(sql)
        if table is not None:
            locked.append(table)
            if table == "inventory_stock" and "inventory_product" not in locked:
                problems.append(f"#{index}: stock rows locked before their product")
            single = re.search(r"\.\"id\" = (?:%s|\d+)", sql) and " in (" not in sql
            ordered = re.search(r"order by \"\w+\"\.\"id\" asc", sql)
            # One product's stock row in one warehouse: a unique pair, a single row.
            unique_pair = re.search(
                r"\"product_id\" = (?:%s|\d+) and \"inventory_stock\"\.\"warehouse_id\" = ", sql
            )
            if not (ordered or single or unique_pair):
                problems.append(f"#{index}: {table} locked without primary-key order: {sql}")
            continue
        match = WRITE.search(sql)
        if match is None:
            continue
        writes += 1
        if "inventory_product" not in locked:
            problems.append(f"#{index}: {match.group(1)} written before any product lock")
    if writes == 0:
        problems.append("no write to a guarded table: the service did nothing to check")
    return problems


@pytest.fixture
def two_products(default_warehouse):
    """Two products, the second first in SKU order but last by primary key."""
    first = ProductFactory(sku="B-FIRST", price=Decimal("10"))
    second = ProductFactory(sku="A-SECOND", price=Decimal("20"))
    stock_receive(product=first, quantity=6)
    stock_receive(product=second, quantity=6)
    return first, second


def _order(first, second, quantity: int = 5):
    return order_place(
        email="a@example.com",
        name="A",
        lines=[LineRequest(second.sku, quantity), LineRequest(first.sku, quantity)],
    )


def _services(first, second) -> dict[str, Callable[[], object]]:
    """Each stock-writing service, ready to run once on the two products."""
    allocated = _order(first, second, 1)
    waiting = _order(first, second, 8)  # 5 of each allocated, 3 backordered
    purchase_order = purchase(second, 4, days=3)
    line_ids = list(allocated.lines.order_by("pk").values_list("pk", flat=True))
    return {
        "order_place": lambda: _order(first, second, 2),
        "stock_receive": lambda: stock_receive(product=first, quantity=5),
        "stock_adjust": lambda: stock_adjust(product=second, quantity=1, reason="count"),
        "order_line_cancel": lambda: order_line_cancel(
            line_id=waiting.lines.order_by("pk").first().pk, quantity=1
        ),
        "shipment_create": lambda: shipment_create(
            order=allocated, lines=[(line_ids[0], 1), (line_ids[1], 1)], tracking="JNE-1"
        ),
        "purchase_order_receive": lambda: purchase_order_receive(
            purchase_order_id=purchase_order.pk, lines=[ReceiptRequest(4, sku=second.sku)]
        ),
        "products_refresh": lambda: (
            stock_receive(product=first, quantity=10),
            products_refresh(product_ids=[second.pk, first.pk], cause="stock_changed"),
        ),
        "order_priority_set": lambda: order_priority_set(
            order_id=waiting.pk, priority=5, reason="VIP"
        ),
    }


SERVICES = [
    "order_place",
    "stock_receive",
    "stock_adjust",
    "order_line_cancel",
    "shipment_create",
    "purchase_order_receive",
    "products_refresh",
    "order_priority_set",
]


@pytest.mark.parametrize("service", SERVICES)
def test_every_stock_write_follows_the_product_locks_in_key_order(two_products, service):
    work = _services(*two_products)[service]
    statements = _statements(work)
    assert any(_locked_table(sql) == "inventory_product" for sql in statements)
    assert check_discipline(statements) == []


def test_the_checker_catches_a_write_without_the_lock():
    # The check itself can fail: a write with no lock, and a lock out of key order.
    assert check_discipline(['update "inventory_stock" set "on_hand" = 1 where "id" = %s']) == [
        "#0: inventory_stock written before any product lock",
    ]
    stock_first = 'select * from "inventory_stock" where "inventory_stock"."id" = 1 for update'
    product = 'select * from "inventory_product" where "inventory_product"."id" = 1 for update'
    assert check_discipline([stock_first, product, 'update "inventory_stock" set "x" = 1']) == [
        "#0: stock rows locked before their product"
    ]
    unordered = (
        'select * from "inventory_product" where "inventory_product"."id" in (1, 2) for update'
    )
    assert check_discipline([unordered, 'update "orders_orderline" set "x" = 1']) == [
        f"#0: inventory_product locked without primary-key order: {unordered}"
    ]
