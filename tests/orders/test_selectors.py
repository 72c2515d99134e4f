"""Order reads: which products a sweep refreshes or refills."""

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from inventory.models import PurchaseOrderLine
from inventory.stock import stock_receive
from orders.models import EtaChange
from orders.queue import product_etas_refresh
from orders.selectors import (
    order_for_customer,
    products_to_refresh,
    products_with_fillable_backorders,
)
from orders.services import shipment_create
from tests.helpers import in_days, place_line, sql_shapes

pytestmark = pytest.mark.django_db
Cause = EtaChange.Cause


def test_products_to_refresh_skips_products_with_nothing_waiting(hoodie):
    stock_receive(product=hoodie, quantity=1)
    line = place_line(hoodie, 1)
    shipment_create(order=line.order, lines=[(line.pk, 1)])

    assert products_to_refresh(in_days(1)) == {}
    assert PurchaseOrderLine.objects.count() == 0
    assert product_etas_refresh(product_id=hoodie.pk, cause=Cause.DAY_ROLLOVER) == 0


def test_the_sweep_leaves_out_preorders_holding_stock_for_release(album, hoodie):
    place_line(album, 1)
    stock_receive(product=album, quantity=1)
    place_line(hoodie, 1)
    stock_receive(product=hoodie, quantity=1)

    assert products_with_fillable_backorders() == [hoodie.pk]
    assert products_with_fillable_backorders(today=in_days(10)) == sorted([hoodie.pk, album.pk])


# The customers' access gate ---------------------------------------------------------------


def test_the_gate_opens_on_the_number_with_its_token_with_the_lines_loaded(
    hoodie, django_assert_num_queries
):
    order = place_line(hoodie, 2).order

    with django_assert_num_queries(2):
        found = order_for_customer(order.number, order.token)
        assert [(line.product.sku, line.quantity) for line in found.lines.all()] == [
            ("HOODIE-SE", 2)
        ]
    assert found == order


def test_the_gate_matches_number_and_token_in_one_query_so_failures_look_alike(hoodie):
    # given
    order = place_line(hoodie, 1).order
    other = place_line(hoodie, 1).order
    attempts = {
        "unknown number": ("BO-ZZZZ-ZZZZ", order.token),
        "wrong token": (order.number, "A" * len(order.token)),
        "another order's token": (order.number, other.token),
        "a token's prefix": (order.number, order.token[:-1]),
    }

    # when
    shapes = {}
    for name, (number, token) in attempts.items():
        with CaptureQueriesContext(connection) as queries, pytest.raises(Http404):
            order_for_customer(number, token)
        shapes[name] = sql_shapes(queries)

    # then every failure ran the one same query
    assert len(shapes["unknown number"]) == 1
    assert all(shape == shapes["unknown number"] for shape in shapes.values())
    assert '"orders_order"."token" = ?' in shapes["unknown number"][0]


@pytest.mark.parametrize(
    ("number", "token"), [("BO-AAAA-AAAA", "a\x00"), ("BO-\x00", "x"), ("BO-A", "\udc80")]
)
def test_the_gate_refuses_text_the_database_cannot_compare(db, number, token):
    with CaptureQueriesContext(connection) as queries, pytest.raises(Http404):
        order_for_customer(number, token)

    assert queries.captured_queries == []
