"""`Product.waiting_units`: the queue's length, kept by the services instead of summed."""

import importlib

from django.db import connection
from django.db.models import Sum

from inventory.models import Product
from inventory.stock import stock_receive
from orders.models import OrderLine
from orders.services import order_line_cancel
from tests.factories import ProductFactory
from tests.helpers import place, place_line, refresh

backfill = importlib.import_module("inventory.migrations.0008_product_waiting_units")


def counted_and_summed(product: Product) -> tuple[int, int]:
    counted = Product.objects.get(pk=product.pk).waiting_units
    summed = OrderLine.objects.filter(product=product).aggregate(s=Sum("backordered"))["s"]
    return counted, summed or 0


def test_the_counter_follows_placement_refill_and_cancellation(hoodie):
    # given 3 units in stock, an order of 5 (2 wait) and an order of 4 (all wait)
    stock_receive(product=hoodie, quantity=3)
    first = place_line(hoodie, 5)
    second = place_line(hoodie, 4)
    assert counted_and_summed(hoodie) == (6, 6)

    # when 3 units arrive: the first line's 2 fill, then 1 of the second's
    stock_receive(product=hoodie, quantity=3)
    refresh(hoodie)
    assert counted_and_summed(hoodie) == (3, 3)

    # and the customer cancels 2 of the second line's 3 waiting units
    order_line_cancel(line_id=second.pk, quantity=2, by_customer=True)
    assert counted_and_summed(hoodie) == (1, 1)

    # and staff cancel an allocated unit of the first line: nothing waiting moves
    order_line_cancel(line_id=first.pk, quantity=1)

    # then
    assert counted_and_summed(hoodie) == (1, 1)


def test_a_basket_counts_each_product_s_waiting_units(hoodie):
    # given
    tee = ProductFactory(sku="TEE")
    stock_receive(product=tee, quantity=1)

    # when
    place((hoodie, 2), (tee, 3), (hoodie, 1))

    # then
    assert counted_and_summed(hoodie) == (3, 3)
    assert counted_and_summed(tee) == (2, 2)


def test_the_migration_starts_the_counter_at_what_waits(hoodie):
    # given lines waiting, and a counter that does not know them
    place_line(hoodie, 4)
    Product.objects.filter(pk=hoodie.pk).update(waiting_units=0)

    # when
    with connection.cursor() as cursor:
        cursor.execute(backfill.BACKFILL)

    # then
    assert counted_and_summed(hoodie) == (4, 4)
