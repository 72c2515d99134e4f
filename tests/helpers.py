"""Helpers shared by the tests: dates, orders and purchase orders, free ports, and what a
transaction asked for after commit."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from inventory.models import Product, PurchaseOrder, PurchaseOrderLine, Stock, Warehouse
from inventory.purchasing import (
    PurchaseLineRequest,
    ReceiptRequest,
    purchase_order_create,
    purchase_order_receive,
)
from inventory.refresh import REFRESH_TASK
from orders.models import EtaChange, Order, OrderLine
from orders.queue import product_refresh
from orders.services import LineRequest, order_place
from tests.factories import SupplierFactory


def today() -> date:
    return timezone.localdate()


def in_days(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)


def iso_in_days(days: int) -> str:
    """`in_days` as an email or an API body writes it: YYYY-MM-DD."""
    return in_days(days).isoformat()


def place(*lines: tuple[Product | str, int], who: str = "ayu", **order: Any) -> Order:
    """`order_place` of `lines` ((product or SKU, quantity) pairs) by `who`@example.com,
    named `who`; `order` adds or overrides any other argument (`name`, `priority`...)."""
    return order_place(
        **{"email": f"{who}@example.com", "name": who, **order},
        lines=[
            LineRequest(product if isinstance(product, str) else product.sku, quantity)
            for product, quantity in lines
        ],
    )


def place_line(product: Product | str, quantity: int, who: str = "ayu", **order: Any) -> OrderLine:
    """`place` of one line; returns that line."""
    return place((product, quantity), who=who, **order).lines.get()


def purchase(
    product: Product, quantity: int = 10, days: int = 7, *, supplier: Any = None, **fields: Any
) -> PurchaseOrder:
    """A purchase order of one line, due in `days`, from a new supplier unless one is given;
    `fields` go to `purchase_order_create` (`place`, `warehouse`...)."""
    return purchase_order_create(
        supplier=supplier or SupplierFactory(),
        lines=[PurchaseLineRequest(product.sku, quantity, in_days(days))],
        **fields,
    )


def receipt_with_delay(supplier: Any, product: Product, delay: int) -> None:
    """One unit of `product` bought from `supplier` and received today, `delay` days after
    the date it was promised for."""
    order = purchase(product, 1, supplier=supplier)
    line = order.lines.get()
    PurchaseOrderLine.objects.filter(pk=line.pk).update(
        expected_date=in_days(-delay), first_expected_date=in_days(-delay)
    )
    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(1, line_id=line.pk)])


def free_port() -> int:
    """A local TCP port nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def refreshes_asked(callbacks: Iterable[Any]) -> list[tuple[str, str, list[int]]]:
    """The product refreshes that captured on-commit callbacks ask for, in the order asked:
    (cause, detail, product ids)."""
    return [
        (callback.request.args[0], callback.request.args[1], sorted(callback.ids))
        for callback in callbacks
        if getattr(callback, "request", None) is not None and callback.request.task == REFRESH_TASK
    ]


def stock_of(product: Product, warehouse: Warehouse) -> Stock:
    return Stock.objects.get(product=product, warehouse=warehouse)


def events(order: Order) -> list[tuple[Any, ...]]:
    """The order's event rows, oldest first: (kind, line id, quantity, status before, after)."""
    return list(
        order.events.order_by("pk").values_list(
            "kind", "line_id", "quantity", "status_before", "status_after"
        )
    )


def etas(lines: Iterable[OrderLine]) -> list[date | None]:
    """Each line's stored ETA, read afresh."""
    return [OrderLine.objects.get(pk=line.pk).eta for line in lines]


def refresh(
    product: Product, cause: str = EtaChange.Cause.STOCK_CHANGED, **kwargs: Any
) -> tuple[int, int]:
    """What a worker runs after a supply change commits: (units allocated, ETAs moved)."""
    return product_refresh(product_id=product.pk, cause=cause, **kwargs)


def admin_product_form(product, **changes) -> dict:
    """The product page's POST: its fields as they are, with `changes`, and empty inlines."""
    data = {
        "sku": product.sku,
        "name": product.name,
        "price": str(product.price),
        "backorder_policy": product.backorder_policy,
        "lead_time_days": product.lead_time_days or "",
        "backorder_limit": product.backorder_limit or "",
        "max_per_order": product.max_per_order or "",
        "release_date": product.release_date or "",
        "stocks-TOTAL_FORMS": 0,
        "stocks-INITIAL_FORMS": 0,
        "supplier_terms-TOTAL_FORMS": 0,
        "supplier_terms-INITIAL_FORMS": 0,
    }
    return {**data, **changes}


def admin_supplier_terms_form(product, supplier, lead_time_days: int) -> dict:
    """`admin_product_form` adding the terms of one supplier (rank 1, minimum order 1,
    sold by the unit)."""
    return admin_product_form(
        product,
        **{
            "supplier_terms-TOTAL_FORMS": 1,
            "supplier_terms-0-supplier": supplier.pk,
            "supplier_terms-0-rank": 1,
            "supplier_terms-0-lead_time_days": lead_time_days,
            "supplier_terms-0-minimum_order_quantity": 1,
            "supplier_terms-0-pack_size": 1,
        },
    )


def sql_shapes(captured: Any) -> list[str]:
    """The statements a `CaptureQueriesContext` saw, with their literal values stripped:
    what two requests must share to cost the same."""
    return [
        re.sub(r"'(?:[^']|'')*'|\b\d+\b", "?", query["sql"]) for query in captured.captured_queries
    ]


ROOT = Path(__file__).resolve().parent.parent
# What the settings read from the environment: a fresh process gets only what a test gives it.
_SETTINGS_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "EMAIL_URL",
    "SITE_URL",
    "DJANGO_SETTINGS_MODULE",
)


def fresh_setting(expression: str, module: str = "config.settings.local", **env: str) -> str:
    """`expression` (over `settings`) printed by a new process loading settings `module` with
    `env`, none of this process's settings variables (`BACKORDER_*` included) inherited."""
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in _SETTINGS_VARIABLES and not key.startswith("BACKORDER_")
    }
    result = subprocess.run(
        [sys.executable, "-c", f"from django.conf import settings; print({expression})"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": module, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()
