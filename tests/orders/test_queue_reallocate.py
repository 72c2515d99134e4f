"""Reallocation reads the queue head in batches and stays set-based as the queue grows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import Warehouse
from inventory.stock import stock_receive
from orders.models import OrderLine
from orders.queue import product_reallocate
from orders.services import LineRequest, order_place
from tests.factories import ProductFactory


def _queries_to_fill(queue_length: int) -> tuple[int, int]:
    product = ProductFactory()
    for n in range(queue_length):
        order_place(email=f"q{n}@example.com", name="Q", lines=[LineRequest(product.sku, 1)])
    stock_receive(product=product, quantity=queue_length)
    stock_receive(
        product=product,
        quantity=1,
        warehouse=Warehouse.objects.create(code=f"x{queue_length}", name="X", priority=5),
    )
    with CaptureQueriesContext(connection) as queries:
        allocated = product_reallocate(product_id=product.pk)
    assert allocated == queue_length
    assert not OrderLine.objects.filter(product=product, backordered__gt=0).exists()
    return allocated, len(queries)


@pytest.mark.django_db
def test_filling_fifty_backorders_takes_as_many_queries_as_filling_five(default_warehouse):
    _, five = _queries_to_fill(5)
    _, fifty = _queries_to_fill(50)

    assert fifty == five


@pytest.mark.django_db
def test_a_queue_longer_than_one_batch_is_filled_oldest_first(default_warehouse, settings):
    settings.BACKORDER_BATCH_SIZE = 3
    product = ProductFactory()
    orders = [
        order_place(email=f"b{n}@example.com", name="B", lines=[LineRequest(product.sku, 2)])
        for n in range(6)
    ]
    stock_receive(product=product, quantity=9)

    allocated = product_reallocate(product_id=product.pk)

    assert allocated == 9
    assert [(o.lines.get().allocated, o.lines.get().backordered) for o in orders] == [
        (2, 0),
        (2, 0),
        (2, 0),
        (2, 0),
        (1, 1),
        (0, 2),
    ]
