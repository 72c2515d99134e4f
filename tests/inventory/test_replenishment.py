"""Replenishment on the database: inventory positions, suppliers' lead-time records, the
nightly forecasts, suggestions, drafts, automatic orders within their cap, and spikes."""

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import timezone

from inventory import reorder, replenishment
from inventory.models import (
    DemandHistory,
    Product,
    ProductForecast,
    PurchaseOrder,
    PurchaseOrderLine,
    SpikeAlert,
    StockMovement,
)
from inventory.purchasing import purchase_order_place
from inventory.stock import stock_adjust, stock_receive
from notifications.models import Notification
from orders.demand import stockout_days
from orders.services import demand_refused
from tests.factories import ProductFactory, StaffFactory, SupplierFactory, SupplierProductFactory
from tests.helpers import in_days, place, purchase, receipt_with_delay, today

pytestmark = pytest.mark.django_db


def steady_history(product, units_per_day: int, days: int = 120) -> None:
    """`units_per_day` asked for on each of the last `days` days, imported."""
    DemandHistory.objects.bulk_create(
        DemandHistory(product=product, day=today() - timedelta(days=n), quantity=units_per_day)
        for n in range(1, days + 1)
    )


def purchasing_member(username: str = "buyer"):
    call_command("setup_roles", verbosity=0)
    user = StaffFactory(username=username, is_superuser=False, email=f"{username}@shop.test")
    user.groups.add(Group.objects.get(name="purchasing"))
    return user


@pytest.fixture
def shirt(default_warehouse):
    """Ten a day, every day, for four months; nothing in stock; one supplier ten days away."""
    product = ProductFactory(sku="SHIRT", price=Decimal("50000"), lead_time_days=None)
    steady_history(product, 10)
    supplier = SupplierFactory(name="Tenun", email="order@tenun.example", lead_time_days=10)
    SupplierProductFactory(supplier=supplier, product=product, unit_cost=Decimal("20000"))
    return product


# Position and lead times ---------------------------------------------------------------------


def test_position_counts_free_stock_supply_drafts_and_backorders(hoodie):
    stock_receive(product=hoodie, quantity=5)
    place((hoodie, 12))  # 5 allocated, 7 waiting
    purchase(hoodie, 4)
    purchase(hoodie, 3, place=False)
    stock_receive(product=hoodie, quantity=2)  # free until the worker reallocates it
    hoodie.refresh_from_db()

    position = replenishment.positions([hoodie])[hoodie.pk]

    assert position == reorder.Position(free=2, on_order=4, drafts=3, backordered=7)
    assert position.units == 2


def test_a_suppliers_lead_time_record_needs_three_receipts(hoodie):
    late, new = SupplierFactory(), SupplierFactory()
    for delay in (2, 4, 6, 8):
        receipt_with_delay(late, hoodie, delay)
    receipt_with_delay(new, hoodie, 9)

    profiles = replenishment.lead_profiles([late.pk, new.pk])

    assert profiles[late.pk].receipts == 4
    assert profiles[late.pk].mean_delay == 5.0
    assert math.isclose(profiles[late.pk].sd_delay, math.sqrt(20 / 3))
    assert math.isclose(profiles[late.pk].likely_delay, 7.4)  # P90 of 2, 4, 6, 8
    assert profiles[new.pk] == replenishment.LeadProfile(receipts=1)


def test_offers_count_the_measured_delays(hoodie):
    late = SupplierFactory(name="Late", lead_time_days=10)
    SupplierProductFactory(supplier=late, product=hoodie, unit_cost=Decimal("30000"))
    for delay in (2, 4, 6, 8):
        receipt_with_delay(late, hoodie, delay)

    (offer,) = replenishment.offers([hoodie.pk])[hoodie.pk]

    assert (offer.lead_days, offer.likely_days) == (15.0, 18)  # 10 + 5; ceil(10 + 7.4)


# Forecasts and suggestions -------------------------------------------------------------------


def test_the_nightly_forecast_is_kept_with_the_sales_class(shirt):
    run = replenishment.forecasts_refresh()

    kept = ProductForecast.objects.get(product=shirt)
    assert run.products == 1
    assert (kept.computed_on, kept.abc_class, kept.history_days) == (today(), "A", 120)
    assert round(kept.daily_mean, 1) == 10.0
    assert len(kept.daily) == replenishment.KEPT_DAYS


def test_a_product_below_its_reorder_point_is_suggested_from_its_supplier(shirt):
    (suggestion,) = replenishment.suggestions()

    kept = ProductForecast.objects.get(product=shirt)
    # 10 a day over a 10-day lead time and a 7-day review: reorder point about 100, order
    # up to about 170, from nothing in stock.
    figures = reorder.plan(
        daily_mean=replenishment._mean_over(kept, today(), 17),
        daily_sd=kept.daily_sd,
        lead_days=10,
        lead_sd=0,
        review_days=7,
        service_level=0.98,
        position=0,
    )
    assert suggestion.product == shirt
    assert suggestion.choice.offer.name == "Tenun"
    assert suggestion.quantity == figures.quantity == figures.order_up_to
    assert 100 <= suggestion.plan.reorder_point < 110
    assert suggestion.arrives == in_days(10)
    assert suggestion.reason.startswith("Position 0 is at or below the reorder point")


def test_a_product_above_its_reorder_point_is_not_suggested(shirt):
    stock_receive(product=shirt, quantity=500)
    assert replenishment.suggestions() == []


def test_a_product_no_supplier_carries_is_not_suggested(default_warehouse):
    product = ProductFactory(sku="LONELY")
    steady_history(product, 5)
    assert replenishment.suggestions() == []
    plan = replenishment.product_plans([product], today=today())[product.pk]
    assert plan.reason == "No active supplier carries this product."


def test_figures_fixed_on_the_product_are_used(shirt):
    Product.objects.filter(pk=shirt.pk).update(reorder_point=0, order_up_to=40)
    shirt.refresh_from_db()
    (suggestion,) = replenishment.suggestions()
    assert (suggestion.plan.reorder_point, suggestion.plan.order_up_to) == (0, 40)
    assert suggestion.quantity == 40
    stock_receive(product=shirt, quantity=1)
    assert replenishment.suggestions() == []


def test_the_supplier_pack_and_minimum_shape_the_quantity(shirt):
    Product.objects.filter(pk=shirt.pk).update(order_up_to=41, reorder_point=10)
    shirt.supplier_terms.update(minimum_order_quantity=30, pack_size=12)
    (suggestion,) = replenishment.suggestions()
    assert suggestion.quantity == 48


def test_a_big_backlog_goes_to_a_faster_dearer_supplier(shirt):
    fast = SupplierFactory(name="Kilat", lead_time_days=3)
    SupplierProductFactory(supplier=fast, product=shirt, unit_cost=Decimal("21000"), rank=2)
    place((shirt, 100))  # 100 waiting; 7 days saved x 100 x 500/day >> 1,000 x 170

    (suggestion,) = replenishment.suggestions()

    assert suggestion.choice.offer.name == "Kilat"
    assert suggestion.choice.why == reorder.Why.FASTER
    assert suggestion.arrives == in_days(3)
    assert suggestion.covers == 100
    assert "Kilat likely arrives 7 days before Tenun" in suggestion.reason


# Drafts ---------------------------------------------------------------------------------------


def test_drafts_are_one_per_supplier_and_never_twice(shirt):
    other = ProductFactory(sku="SOCKS", price=Decimal("10000"))
    steady_history(other, 4)
    SupplierProductFactory(
        supplier=SupplierFactory(name="Kaos"), product=other, unit_cost=Decimal("3000")
    )

    drafted = replenishment.drafts_create()

    assert [(d.purchase_order.supplier.name, [sku for sku, _ in d.lines]) for d in drafted] == [
        ("Tenun", ["SHIRT"]),
        ("Kaos", ["SOCKS"]),
    ]
    for item in drafted:
        purchase_order = PurchaseOrder.objects.get(pk=item.purchase_order.pk)
        assert purchase_order.status == PurchaseOrder.Status.DRAFT
        assert purchase_order.origin == PurchaseOrder.Origin.SUGGESTIONS
        (line,) = purchase_order.lines.all()
        assert (line.product.sku, line.quantity) == item.lines[0]
        assert line.unit_cost is not None
    assert replenishment.drafts_create() == []
    assert replenishment.suggestions() == []
    assert PurchaseOrderLine.objects.count() == 2


def test_drafts_for_named_skus_only(shirt):
    other = ProductFactory(sku="SOCKS")
    steady_history(other, 4)
    SupplierProductFactory(product=other, unit_cost=Decimal("3000"))

    (drafted,) = replenishment.drafts_create(skus=["SOCKS"])

    assert [sku for sku, _ in drafted.lines] == ["SOCKS"]
    assert [s.product.sku for s in replenishment.suggestions()] == ["SHIRT"]


def test_an_open_purchase_order_covering_the_need_stops_the_suggestion(shirt):
    (suggestion,) = replenishment.suggestions()
    tenun = shirt.supplier_terms.get().supplier
    purchase(shirt, suggestion.quantity, days=10, supplier=tenun)
    assert replenishment.suggestions() == []


# Supplier emails ------------------------------------------------------------------------------


def test_placing_a_purchase_order_emails_the_supplier_once_with_a_csv(hoodie, smtp):
    supplier = SupplierFactory(name="Konveksi", email="po@konveksi.test", language="id")
    SupplierProductFactory(supplier=supplier, product=hoodie, supplier_sku="KB-77")
    draft = purchase(hoodie, 24, days=14, supplier=supplier, place=False)
    assert not Notification.objects.exists()

    purchase_order_place(purchase_order_id=draft.pk)

    (row,) = Notification.objects.all()
    assert (row.kind, row.purchase_order_id, row.to, row.locale) == (
        "purchase_order",
        draft.pk,
        "po@konveksi.test",
        "id",
    )
    from notifications.delivery import notifications_deliver

    assert notifications_deliver(ids=[row.pk]).sent == 1
    (message,) = smtp.messages
    assert message.subject == f"Pesanan pembelian {draft.number} dari Backorder shop"
    assert f"HOODIE-SE (SKU Anda KB-77) Special Edition Hoodie: 24, diharapkan {in_days(14)}" in (
        message.text
    )
    (attachment,) = [part for part in message.message.iter_attachments()]
    assert attachment.get_filename() == f"{draft.number}.csv"
    assert attachment.get_content().replace("\r\n", "\n") == (
        "sku,supplier_sku,name,quantity,expected_date,unit_cost\n"
        f"HOODIE-SE,KB-77,Special Edition Hoodie,24,{in_days(14)},\n"
    )
    assert notifications_deliver(ids=[row.pk]).sent == 0
    assert len(smtp.messages) == 1


def test_a_supplier_without_an_address_is_not_emailed(hoodie):
    purchase(hoodie, 5, supplier=SupplierFactory(email=""))
    assert not Notification.objects.exists()


# The nightly run and automatic orders -------------------------------------------------------


def test_the_nightly_run_drafts_and_places_within_the_cap(shirt):
    buyer = purchasing_member()
    tenun = shirt.supplier_terms.get().supplier
    tenun.auto_order, tenun.auto_order_daily_cap = True, Decimal("100000000")
    tenun.save()
    held = ProductFactory(sku="HELD", price=Decimal("10000"))
    steady_history(held, 4)
    tight = SupplierFactory(
        name="Tight", auto_order=True, auto_order_daily_cap=Decimal("1000"), email=""
    )
    SupplierProductFactory(supplier=tight, product=held, unit_cost=Decimal("3000"))

    run = replenishment.nightly_run(drafts=True)

    placed = PurchaseOrder.objects.get(supplier=tenun)
    kept = PurchaseOrder.objects.get(supplier=tight)
    assert (placed.status, placed.auto_placed, placed.origin) == ("ordered", True, "nightly")
    assert (kept.status, kept.auto_placed, kept.origin) == ("draft", False, "nightly")
    summary = run.summary()
    assert (summary["placed"], summary["held_by_cap"]) == ([placed.pk], [kept.pk])
    emails = sorted(Notification.objects.values_list("kind", "to", "purchase_order_id"))
    assert emails == sorted(
        [
            ("auto_ordered", buyer.email, placed.pk),
            ("auto_ordered", buyer.email, kept.pk),
            ("purchase_order", tenun.email, placed.pk),
        ]
    )
    told = Notification.objects.get(kind="auto_ordered", purchase_order=kept)
    assert told.data["placed"] is False

    again = replenishment.nightly_run(drafts=True)
    assert again.summary()["drafted"] == []
    assert PurchaseOrder.objects.count() == 2


def test_without_drafts_the_nightly_run_only_forecasts(shirt):
    run = replenishment.nightly_run(drafts=False)
    assert (run.forecasts.products, run.suggestions) == (1, 1)
    assert not PurchaseOrder.objects.exists()


def test_auto_spend_counts_only_today_and_only_automatic_orders(shirt):
    tenun = shirt.supplier_terms.get().supplier
    by_hand = purchase(shirt, 10, supplier=tenun)
    assert replenishment.auto_spent(tenun.pk, today()) == 0
    PurchaseOrder.objects.filter(pk=by_hand.pk).update(auto_placed=True)
    assert replenishment.auto_spent(tenun.pk, today()) == Decimal("200000")
    assert replenishment.auto_spent(tenun.pk, in_days(1)) == 0


# Spikes ---------------------------------------------------------------------------------------


def test_a_spike_is_alerted_once_per_window_with_its_backlog(shirt):
    buyer = purchasing_member()
    replenishment.forecasts_refresh()
    place((shirt, 80))

    (alert,) = replenishment.spikes_check()

    assert (alert.product, alert.observed, alert.first_day) == (shirt, 80, today())
    assert round(alert.expected) == 10
    # The 80 waiting now, and 80 a day through the ten-day lead time: nothing in stock or
    # on order covers them.
    assert alert.backlog_units == 880
    (row,) = Notification.objects.filter(kind="spike")
    assert (row.to, row.spike_id, row.data["observed"]) == (buyer.email, alert.pk, 80)
    place((shirt, 50))
    assert replenishment.spikes_check() == []
    assert SpikeAlert.objects.count() == 1


def test_refused_demand_counts_towards_a_spike(shirt):
    replenishment.forecasts_refresh()
    demand_refused(product=shirt, quantity=60, reason="out_of_stock")
    (alert,) = replenishment.spikes_check()
    assert alert.observed == 60


def test_steady_demand_gives_no_alert(shirt):
    replenishment.forecasts_refresh()
    place((shirt, 10))
    assert replenishment.spikes_check() == []


def test_no_forecast_no_alert(hoodie):
    place((hoodie, 90))
    assert replenishment.spikes_check() == []


# Days out of stock ---------------------------------------------------------------------------


@contextmanager
def days_ago(days: int) -> Iterator[None]:
    """The clock `days` days back: the ledger is append-only, so its past is written then."""
    moment = timezone.now() - timedelta(days=days)
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def test_days_out_of_stock_come_from_the_ledger(hoodie):
    with days_ago(6):
        stock_receive(product=hoodie, quantity=3)
    with days_ago(3):
        place((hoodie, 3))  # allocates all three
    assert StockMovement.objects.count() == 2

    days = stockout_days([hoodie.pk], first=in_days(-8), last=in_days(-1))[hoodie.pk]

    # Unknown before the first movement (days -8, -7), stock from -6 to -3, none from -2 on.
    assert days == {in_days(-2), in_days(-1)}


def test_unknown_demand_on_days_a_deny_product_could_not_sell(default_warehouse):
    product = ProductFactory(sku="DENY", backorder_policy=Product.BackorderPolicy.DENY)
    with days_ago(5):
        stock_receive(product=product, quantity=1)
    with days_ago(4):
        stock_adjust(product=product, quantity=-1, reason="Damaged")
    DemandHistory.objects.create(product=product, day=in_days(-3), quantity=0)
    demand_refused(product=product, quantity=2, reason="out_of_stock")
    series = replenishment.demand_series([product], first=in_days(-6), last=in_days(0))[product.pk]
    # Before its first stock the ledger knows nothing (0); stock on days -5 and -4 (until
    # the adjustment); out of stock all day from -3 on: imported history and refusals are
    # known, the other days (-2, -1) it could not sell.
    assert series == [0.0, 0.0, 0.0, 0.0, None, None, 2.0]


def test_a_product_that_never_had_stock_here_has_no_days_out_of_stock(default_warehouse):
    product = ProductFactory(sku="NEW", backorder_policy=Product.BackorderPolicy.DENY)
    assert stockout_days([product.pk], first=in_days(-3), last=in_days(-1)) == {product.pk: set()}


def test_the_replenishment_run_command_prints_what_it_did(shirt, capsys):
    call_command("replenishment_run", "--no-drafts")
    summary = json.loads(capsys.readouterr().out)
    assert (summary["products"], summary["suggestions"], summary["drafted"]) == (1, 1, [])
    call_command("replenishment_run", "--drafts")
    summary = json.loads(capsys.readouterr().out)
    (drafted,) = summary["drafted"]
    assert PurchaseOrder.objects.get(pk=drafted).status == "draft"
    assert summary["placed"] == []


def test_a_big_order_of_a_lumpy_product_is_not_a_spike(default_warehouse):
    product = ProductFactory(sku="BULK")
    DemandHistory.objects.bulk_create(
        DemandHistory(product=product, day=today() - timedelta(days=n), quantity=size)
        for n, size in ((3, 40), (25, 5), (47, 60), (80, 12), (101, 80), (150, 25), (170, 3))
    )
    replenishment.forecasts_refresh()
    assert ProductForecast.objects.get(product=product).shape == "lumpy"
    place((product, 90))
    assert replenishment.spikes_check() == []


def test_a_new_product_selling_out_on_its_first_day_is_a_spike(hoodie):
    # The case study: no history, then the launch sells out and keeps selling.
    replenishment.forecasts_refresh()
    place((hoodie, 2), who="ayu")
    place((hoodie, 2), who="budi")
    place((hoodie, 2), who="claire")
    (alert,) = replenishment.spikes_check()
    assert (alert.observed, alert.expected) == (6, 0.0)
    # 6 a day over the 14-day lead time, nothing in stock: 6 waiting now and 84 more
    assert alert.backlog_units == 6 + 84


def test_the_staff_emails_of_a_spike_and_of_automatic_orders(shirt, smtp):
    from notifications.delivery import notifications_deliver

    buyer = purchasing_member()
    tenun = shirt.supplier_terms.get().supplier
    tenun.auto_order, tenun.auto_order_daily_cap = True, Decimal("100000000")
    tenun.save()
    replenishment.nightly_run(drafts=True)
    place((shirt, 80))
    (alert,) = replenishment.spikes_check()

    sent = notifications_deliver(ids=list(Notification.objects.values_list("pk", flat=True)))

    # The supplier's purchase order, the buyer's two, and the customer's confirmation.
    assert (sent.sent, sent.emails, sent.failed) == (4, 4, 0)
    by_subject = {message.subject: message for message in smtp.messages}
    placed = PurchaseOrder.objects.get()
    to_supplier = by_subject[f"Purchase order {placed.number} from Backorder shop"]
    assert to_supplier.envelope_to == [tenun.email]
    automatic = by_subject[f"{placed.number} to Tenun placed automatically"]
    assert automatic.envelope_to == [buyer.email]
    line = placed.lines.get()
    assert f"- SHIRT: {line.quantity}, expected {line.expected_date}" in automatic.text
    assert f"/admin/inventory/purchaseorder/{placed.pk}/change/" in automatic.text
    spike = next(m for m in smtp.messages if m.subject.startswith("Demand spike: SHIRT"))
    assert spike.envelope_to == [buyer.email]
    assert (
        f"80 units asked for since {today()} (refused ones included), against 10.0 expected"
        in spike.text
    )
    assert f"leaves {alert.backlog_units} units waiting" in spike.text
    assert "/admin/reports/forecast/SHIRT/" in spike.text


def test_a_supplier_with_more_needs_than_one_order_holds_gets_several_drafts(
    default_warehouse, monkeypatch
):
    monkeypatch.setattr(replenishment, "MAX_PURCHASE_LINES", 2)
    supplier = SupplierFactory(name="Tenun")
    for sku in ("A", "B", "C", "D", "E"):
        product = ProductFactory(sku=sku)
        steady_history(product, 3)
        SupplierProductFactory(supplier=supplier, product=product, unit_cost=Decimal("10"))

    drafted = replenishment.drafts_create()

    assert [[sku for sku, _ in item.lines] for item in drafted] == [["A", "B"], ["C", "D"], ["E"]]
    assert {item.purchase_order.supplier_id for item in drafted} == {supplier.pk}
    assert replenishment.drafts_create() == []
