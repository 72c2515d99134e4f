"""Order reads: which products a sweep refreshes or refills."""

import pytest

from inventory.models import PurchaseOrderLine
from inventory.stock import stock_receive
from orders.models import EtaChange
from orders.queue import product_etas_refresh
from orders.selectors import products_to_refresh, products_with_fillable_backorders
from orders.services import shipment_create
from tests.helpers import in_days, place_line

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
