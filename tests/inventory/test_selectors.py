"""Stock reads: drift between the ledger, the counters and the allocation rows; quotes;
supplier reliability and lead times."""

import pytest
from django.db.models import F

from inventory.models import Product, Stock
from inventory.selectors import (
    Drift,
    StockRow,
    availability_quote,
    lead_times,
    product_with_stocks,
    stock_drift,
    supplier_reliability,
)
from inventory.stock import stock_adjust, stock_receive, stock_return
from orders.models import OrderLine
from orders.queue import product_reallocate
from tests.factories import (
    ProductFactory,
    SupplierFactory,
    SupplierProductFactory,
    WarehouseFactory,
)
from tests.helpers import in_days, place_line, purchase, receipt_with_delay


def test_stock_drift_is_empty_after_normal_operations(hoodie, default_warehouse):
    # given
    north = WarehouseFactory(code="north", priority=200)
    stock_receive(product=hoodie, quantity=3)
    stock_receive(product=hoodie, quantity=2, warehouse=north)
    place_line(hoodie, 4)
    place_line(hoodie, 3)
    stock_adjust(product=hoodie, quantity=2, reason="Found")
    stock_return(product=hoodie, quantity=1, reason="Return", warehouse=north)
    product_reallocate(product_id=hoodie.pk)

    # when
    drift = stock_drift()

    # then
    assert drift == []


def test_stock_drift_reports_corrupted_on_hand(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    Stock.objects.filter(product=hoodie).update(on_hand=F("on_hand") + 3)

    # when
    drift = stock_drift()

    # then
    assert drift == [Drift("stock HOODIE-SE@main on_hand vs ledger", 5, 8)]
    assert str(drift[0]) == "stock HOODIE-SE@main on_hand vs ledger: expected 5, found 8"


def test_stock_drift_reports_corrupted_allocated(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    place_line(hoodie, 2)
    Stock.objects.filter(product=hoodie).update(allocated=1)

    # when
    drift = stock_drift()

    # then
    assert drift == [
        Drift("stock HOODIE-SE@main allocated vs ledger", 2, 1),
        Drift("stock HOODIE-SE@main allocated vs allocation rows", 2, 1),
    ]


def test_stock_drift_reports_corrupted_order_line(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    line = place_line(hoodie, 2)
    OrderLine.objects.filter(pk=line.pk).update(allocated=1, backordered=1)

    # when
    drift = stock_drift()

    # then
    assert drift == [
        Drift(f"order line {line.pk} allocated vs allocation rows", 2, 1),
        Drift("product HOODIE-SE waiting_units vs lines", 1, 0),
    ]


def test_the_quote_counts_the_queue_ahead(hoodie):
    purchase(hoodie, 5, 6)
    place_line(hoodie, 4)

    assert availability_quote(product=hoodie, quantity=1).eta == in_days(6)
    assert availability_quote(product=hoodie, quantity=2).eta == in_days(14)
    assert place_line(hoodie, 2).eta == in_days(14)


def test_quote_statuses_for_preorders_and_refusals(default_warehouse):
    preorder = ProductFactory(
        backorder_policy=Product.BackorderPolicy.PREORDER,
        release_date=in_days(20),
        backorder_limit=10,
        lead_time_days=5,
    )
    deny = ProductFactory(backorder_policy=Product.BackorderPolicy.DENY)
    stock_receive(product=deny, quantity=2)

    pre = availability_quote(product=preorder, quantity=4)
    assert (pre.status, pre.available, pre.from_stock, pre.backordered, pre.eta) == (
        "preorder",
        10,
        0,
        4,
        in_days(20),
    )
    over = availability_quote(product=preorder, quantity=11)
    assert (over.status, over.code, over.eta) == ("unavailable", "backorder_limit", None)
    denied = availability_quote(product=deny, quantity=3)
    assert (denied.status, denied.available, denied.code) == ("unavailable", 2, "out_of_stock")
    assert availability_quote(product=deny, quantity=2).status == "in_stock"


def test_quote_available_counts_stock_and_room_under_the_caps(hoodie):
    Product.objects.filter(pk=hoodie.pk).update(backorder_limit=5, max_per_order=None)
    hoodie.refresh_from_db()
    stock_receive(product=hoodie, quantity=3)
    place_line(hoodie, 5)  # 3 allocated, 2 backordered

    assert availability_quote(product=hoodie, quantity=1).available == 3

    Product.objects.filter(pk=hoodie.pk).update(max_per_order=2)
    hoodie.refresh_from_db()
    assert availability_quote(product=hoodie, quantity=1).available == 2

    # With no cap of its own, the shop's limit per line is the most one order may take.
    Product.objects.filter(pk=hoodie.pk).update(backorder_limit=None, max_per_order=None)
    hoodie.refresh_from_db()
    assert availability_quote(product=hoodie, quantity=1).available == 100


def test_the_shops_limit_per_line_caps_every_quote(hoodie, settings):
    settings.BACKORDER_MAX_LINE_QUANTITY = 4
    stock_receive(product=hoodie, quantity=10)

    within, over = (availability_quote(product=hoodie, quantity=n) for n in (4, 5))

    assert (within.status, within.available, within.from_stock) == ("in_stock", 4, 4)
    assert (over.status, over.available, over.code) == ("unavailable", 4, "max_per_order")
    assert over.message == "At most 4 per order."


def test_reliability_reports_average_spread_and_on_time_deliveries(hoodie, default_warehouse):
    late = SupplierFactory(name="Late")
    punctual = SupplierFactory(name="Punctual")
    for delay in (2, 4, 6):
        receipt_with_delay(late, hoodie, delay)
    for delay in (0, -1):
        receipt_with_delay(punctual, hoodie, delay)

    report = supplier_reliability()

    assert report[late.pk].receipts == 3
    assert report[late.pk].average_delay_days == 4.0
    assert report[late.pk].delay_spread_days == pytest.approx((8 / 3) ** 0.5)
    assert (report[late.pk].on_time, report[late.pk].on_time_rate) == (0, 0.0)
    assert report[late.pk].expected_slip_days == 4
    assert report[punctual.pk].receipts == 2
    assert report[punctual.pk].average_delay_days == -0.5
    assert (report[punctual.pk].on_time, report[punctual.pk].on_time_rate) == (2, 1.0)
    assert report[punctual.pk].expected_slip_days == 0


def test_reliability_needs_three_receipts_before_it_changes_a_lead_time(hoodie, default_warehouse):
    late = SupplierFactory(name="Late", lead_time_days=5)
    SupplierProductFactory(supplier=late, product=hoodie, lead_time_days=None)
    receipt_with_delay(late, hoodie, 10)
    receipt_with_delay(late, hoodie, 10)
    assert lead_times([hoodie]) == {hoodie.pk: 5}

    receipt_with_delay(late, hoodie, 10)

    assert lead_times([hoodie]) == {hoodie.pk: 15}


def test_lead_time_is_the_fastest_active_supplier_else_the_product(default_warehouse):
    product = ProductFactory(lead_time_days=30)
    bare = ProductFactory(lead_time_days=21)
    unknown = ProductFactory(lead_time_days=None)
    SupplierProductFactory(product=product, supplier=SupplierFactory(lead_time_days=12))
    SupplierProductFactory(
        product=product, supplier=SupplierFactory(lead_time_days=40), lead_time_days=9
    )
    SupplierProductFactory(
        product=product, supplier=SupplierFactory(lead_time_days=2, is_active=False)
    )

    assert lead_times([product, bare, unknown]) == {product.pk: 9, bare.pk: 21, unknown.pk: None}


def test_the_product_read_s_compiled_query_reads_every_field_and_stock_row(hoodie):
    # given a product with stock in two warehouses, waiting lines and a release date, and one
    # with no stock row at all
    north = WarehouseFactory(code="north", priority=200)
    stock_receive(product=hoodie, quantity=3)
    stock_receive(product=hoodie, quantity=2, warehouse=north)
    place_line(hoodie, 7)
    Product.objects.filter(pk=hoodie.pk).update(release_date=in_days(-3), max_per_order=9)
    bare = ProductFactory(sku="O'Brien-1")

    # when
    read, stocks = product_with_stocks("HOODIE-SE")
    bare_read, bare_stocks = product_with_stocks("O'Brien-1")

    # then every field is the stored one, with its Python type
    stored = Product.objects.get(pk=hoodie.pk)
    fields = [field.attname for field in Product._meta.concrete_fields]
    assert [getattr(read, name) for name in fields] == [getattr(stored, name) for name in fields]
    assert (read.waiting_units, read.price, read.release_date) == (2, stored.price, in_days(-3))
    assert sorted(stocks, key=lambda row: row.warehouse) == [
        StockRow(s.pk, s.warehouse_id, s.warehouse.code, s.warehouse.priority, *counters)
        for s, counters in zip(
            Stock.objects.filter(product=hoodie).order_by("warehouse__code"),
            [(3, 3), (2, 2)],
            strict=True,
        )
    ]
    assert (bare_read.pk, bare_stocks) == (bare.pk, [])
    assert product_with_stocks("NO-SUCH-SKU") is None
