"""Suppliers, purchase orders and receipts."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.exceptions import InvalidTransition, OverReceipt, ValidationFailed
from inventory.models import PurchaseOrder, PurchaseOrderLine, PurchaseReceipt, Stock, StockMovement
from inventory.purchasing import (
    PurchaseLineRequest,
    ReceiptRequest,
    purchase_order_cancel,
    purchase_order_create,
    purchase_order_draft_lines_save,
    purchase_order_line_cancel,
    purchase_order_line_reschedule,
    purchase_order_place,
    purchase_order_receive,
)
from inventory.selectors import lead_times, supplier_reliability
from tests.factories import (
    ProductFactory,
    StaffFactory,
    SupplierFactory,
    SupplierProductFactory,
    WarehouseFactory,
)
from tests.helpers import refreshes_asked
from tests.state import snapshot

pytestmark = pytest.mark.django_db


def today() -> date:
    return timezone.localdate()


def in_days(days: int) -> date:
    return today() + timedelta(days=days)


def purchase(product, quantity=10, *, days=7, supplier=None, place=True, **kwargs):
    return purchase_order_create(
        supplier=supplier or SupplierFactory(),
        lines=[PurchaseLineRequest(product.sku, quantity, in_days(days))],
        place=place,
        **kwargs,
    )


def purchase_state() -> dict:
    return {
        "orders": list(PurchaseOrder.objects.order_by("pk").values_list("pk", "status")),
        "lines": list(
            PurchaseOrderLine.objects.order_by("pk").values_list(
                "pk", "received", "cancelled", "expected_date"
            )
        ),
        "receipts": PurchaseReceipt.objects.count(),
        **snapshot(),
    }


# --- create and place -------------------------------------------------------------------------


def test_create_places_the_order_and_asks_for_a_refresh_of_each_product(
    hoodie, default_warehouse, django_capture_on_commit_callbacks
):
    # given
    cap = ProductFactory(sku="CAP")
    supplier = SupplierFactory(name="Konveksi Bandung")
    SupplierProductFactory(supplier=supplier, product=hoodie, unit_cost=Decimal("85000"))

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        order = purchase_order_create(
            supplier=supplier,
            lines=[
                PurchaseLineRequest("HOODIE-SE", 40, in_days(10)),
                PurchaseLineRequest("CAP", 5, in_days(3), unit_cost=Decimal("20000")),
            ],
            reference="SO-881",
        )

    # then
    assert order.status == PurchaseOrder.Status.ORDERED
    assert order.ordered_at is not None
    assert order.warehouse == default_warehouse
    assert order.number == f"PO-{order.pk:05d}"
    assert order.reference == "SO-881"
    lines = list(order.lines.order_by("product__sku"))
    assert [(line.product, line.quantity, line.received, line.cancelled) for line in lines] == [
        (cap, 5, 0, 0),
        (hoodie, 40, 0, 0),
    ]
    assert [line.expected_date for line in lines] == [in_days(3), in_days(10)]
    assert [line.first_expected_date for line in lines] == [in_days(3), in_days(10)]
    assert [line.unit_cost for line in lines] == [Decimal("20000"), Decimal("85000")]
    assert refreshes_asked(callbacks) == [("po_created", order.number, sorted([cap.pk, hoodie.pk]))]


def test_create_as_draft_is_not_incoming_supply_until_placed(
    hoodie, default_warehouse, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as drafted:
        order = purchase(hoodie, place=False)
    assert order.status == PurchaseOrder.Status.DRAFT
    assert order.ordered_at is None
    assert drafted == []

    with django_capture_on_commit_callbacks() as placed:
        purchase_order_place(purchase_order_id=order.pk)

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.ORDERED
    assert order.ordered_at is not None
    assert len(placed) == 1


def test_placing_an_order_twice_is_refused(hoodie, default_warehouse):
    order = purchase(hoodie)

    with pytest.raises(InvalidTransition):
        purchase_order_place(purchase_order_id=order.pk)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (PurchaseLineRequest("NOPE", 5, date(2099, 1, 1)), "lines[0].sku"),
        (PurchaseLineRequest("HOODIE-SE", 0, date(2099, 1, 1)), "lines[0].quantity"),
        (PurchaseLineRequest("HOODIE-SE", -3, date(2099, 1, 1)), "lines[0].quantity"),
        (PurchaseLineRequest("HOODIE-SE", 5, date(2000, 1, 1)), "lines[0].expected_date"),
        (PurchaseLineRequest("HOODIE-SE", 5, "2099-01-01"), "lines[0].expected_date"),  # type: ignore[arg-type]
        (
            PurchaseLineRequest("HOODIE-SE", 5, date(2099, 1, 1), unit_cost=Decimal("-1")),
            "lines[0].unit_cost",
        ),
    ],
)
def test_create_refuses_bad_lines_and_writes_nothing(hoodie, default_warehouse, line, field):
    supplier = SupplierFactory()
    before = purchase_state()

    with pytest.raises(ValidationFailed) as refused:
        purchase_order_create(supplier=supplier, lines=[line])

    assert field in refused.value.fields
    assert purchase_state() == before


def test_create_refuses_an_inactive_supplier(hoodie, default_warehouse):
    with pytest.raises(ValidationFailed) as refused:
        purchase(hoodie, supplier=SupplierFactory(is_active=False))

    assert refused.value.fields == {"supplier": "inactive"}
    assert PurchaseOrder.objects.count() == 0


def test_create_refuses_an_order_with_no_lines(default_warehouse):
    with pytest.raises(ValidationFailed):
        purchase_order_create(supplier=SupplierFactory(), lines=[])

    assert PurchaseOrder.objects.count() == 0


# --- reschedule and cancel --------------------------------------------------------------------


def test_reschedule_moves_the_expected_date_but_keeps_the_promise(
    hoodie, default_warehouse, django_capture_on_commit_callbacks
):
    line = purchase(hoodie, days=7).lines.get()

    with django_capture_on_commit_callbacks() as callbacks:
        purchase_order_line_reschedule(line_id=line.pk, expected_date=in_days(12))

    line.refresh_from_db()
    assert (line.expected_date, line.first_expected_date) == (in_days(12), in_days(7))
    assert len(callbacks) == 1


def test_reschedule_of_a_draft_changes_the_promise_too(hoodie, default_warehouse):
    line = purchase(hoodie, days=7, place=False).lines.get()

    purchase_order_line_reschedule(line_id=line.pk, expected_date=in_days(9))

    line.refresh_from_db()
    assert (line.expected_date, line.first_expected_date) == (in_days(9), in_days(9))


def test_reschedule_into_the_past_is_refused(hoodie, default_warehouse):
    line = purchase(hoodie, days=7).lines.get()

    with pytest.raises(ValidationFailed):
        purchase_order_line_reschedule(line_id=line.pk, expected_date=in_days(-1))

    line.refresh_from_db()
    assert line.expected_date == in_days(7)


def test_reschedule_of_an_unknown_line_is_refused(default_warehouse):
    with pytest.raises(ValidationFailed) as refused:
        purchase_order_line_reschedule(line_id=999_999, expected_date=in_days(1))

    assert refused.value.fields == {"line_id": "unknown"}


def test_cancel_line_cancels_what_is_still_to_arrive(hoodie, default_warehouse):
    order = purchase(hoodie, 10)
    line = order.lines.get()
    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(4, sku="HOODIE-SE")])

    purchase_order_line_cancel(line_id=line.pk)

    line.refresh_from_db()
    order.refresh_from_db()
    assert (line.received, line.cancelled, line.outstanding) == (4, 6, 0)
    assert order.status == PurchaseOrder.Status.RECEIVED


def test_cancelling_every_line_cancels_the_order(hoodie, default_warehouse):
    order = purchase(hoodie, 10)

    purchase_order_line_cancel(line_id=order.lines.get().pk)

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.CANCELLED


def test_cancel_line_twice_is_refused(hoodie, default_warehouse):
    line = purchase(hoodie, 10).lines.get()
    purchase_order_line_cancel(line_id=line.pk)

    with pytest.raises(InvalidTransition):
        purchase_order_line_cancel(line_id=line.pk)


def test_cancel_order_cancels_every_open_line_and_keeps_receipts(hoodie, default_warehouse):
    cap = ProductFactory(sku="CAP")
    order = purchase_order_create(
        supplier=SupplierFactory(),
        lines=[
            PurchaseLineRequest("HOODIE-SE", 10, in_days(5)),
            PurchaseLineRequest("CAP", 3, in_days(5)),
        ],
    )
    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(2, sku="CAP")])

    purchase_order_cancel(purchase_order_id=order.pk)

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED
    assert list(order.lines.order_by("product__sku").values_list("received", "cancelled")) == [
        (2, 1),
        (0, 10),
    ]
    assert Stock.objects.get(product=cap).on_hand == 2


def test_cancel_a_draft(hoodie, default_warehouse):
    order = purchase(hoodie, place=False)

    purchase_order_cancel(purchase_order_id=order.pk)

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.CANCELLED
    with pytest.raises(InvalidTransition):
        purchase_order_cancel(purchase_order_id=order.pk)


# --- receive ----------------------------------------------------------------------------------


def test_a_partial_receipt_books_stock_and_records_its_delay(
    hoodie, default_warehouse, django_capture_on_commit_callbacks
):
    # given: promised for three days ago, so the goods are three days late
    staff = StaffFactory()
    order = purchase(hoodie, 10, days=7)
    line = order.lines.get()
    PurchaseOrderLine.objects.filter(pk=line.pk).update(
        expected_date=in_days(-3), first_expected_date=in_days(-3)
    )

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        receipts = purchase_order_receive(
            purchase_order_id=order.pk,
            lines=[ReceiptRequest(6, sku="HOODIE-SE")],
            reference="DN-77",
            actor=staff,
        )

    # then
    order.refresh_from_db()
    line.refresh_from_db()
    assert order.status == PurchaseOrder.Status.PARTIALLY_RECEIVED
    assert (line.received, line.outstanding) == (6, 4)
    stock = Stock.objects.get(product=hoodie, warehouse=default_warehouse)
    assert (stock.on_hand, stock.allocated) == (6, 0)
    [receipt] = receipts
    assert (receipt.quantity, receipt.received_on, receipt.delay_days) == (6, today(), 3)
    assert receipt.expected_date == in_days(-3)
    assert receipt.actor == staff
    movement = receipt.movement
    assert (movement.kind, movement.quantity, movement.reference) == (
        StockMovement.Kind.RECEIPT,
        6,
        "DN-77",
    )
    assert len(callbacks) == 1


def test_receiving_the_rest_completes_the_order(hoodie, default_warehouse):
    order = purchase(hoodie, 10)
    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(6, sku="HOODIE-SE")])

    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(4, sku="HOODIE-SE")])

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED
    assert Stock.objects.get(product=hoodie).on_hand == 10
    assert list(PurchaseReceipt.objects.order_by("pk").values_list("quantity", flat=True)) == [6, 4]


def test_goods_go_to_the_warehouse_of_the_purchase_order(hoodie, default_warehouse):
    annex = WarehouseFactory(code="annex")
    order = purchase(hoodie, 4, warehouse=annex)

    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(4, sku="HOODIE-SE")])

    assert Stock.objects.get(product=hoodie, warehouse=annex).on_hand == 4
    assert not Stock.objects.filter(product=hoodie, warehouse=default_warehouse).exists()


def test_receiving_by_sku_fills_the_soonest_line_first(hoodie, default_warehouse):
    order = purchase_order_create(
        supplier=SupplierFactory(),
        lines=[
            PurchaseLineRequest("HOODIE-SE", 5, in_days(20)),
            PurchaseLineRequest("HOODIE-SE", 5, in_days(6)),
        ],
    )

    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(7, sku="HOODIE-SE")])

    assert list(order.lines.order_by("expected_date").values_list("received", flat=True)) == [5, 2]


def test_over_receipt_is_refused_and_changes_nothing(hoodie, default_warehouse):
    order = purchase(hoodie, 10)
    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(8, sku="HOODIE-SE")])
    before = purchase_state()

    with pytest.raises(OverReceipt) as refused:
        purchase_order_receive(
            purchase_order_id=order.pk, lines=[ReceiptRequest(3, sku="HOODIE-SE")]
        )

    assert refused.value.status == 409
    assert refused.value.code == "over_receipt"
    assert refused.value.fields == {"lines[0].quantity": "at most 2"}
    assert "Only 2 unit(s) of HOODIE-SE" in refused.value.message
    assert purchase_state() == before


def test_over_receipt_split_across_two_requests_is_refused(hoodie, default_warehouse):
    order = purchase(hoodie, 10)
    before = purchase_state()

    with pytest.raises(OverReceipt) as refused:
        purchase_order_receive(
            purchase_order_id=order.pk,
            lines=[ReceiptRequest(6, sku="HOODIE-SE"), ReceiptRequest(5, sku="HOODIE-SE")],
        )

    assert refused.value.fields == {"lines[1].quantity": "at most 4"}
    assert purchase_state() == before


@pytest.mark.parametrize(
    ("request_line", "field"),
    [
        (ReceiptRequest(1, sku="CAP"), "lines[0].sku"),
        (ReceiptRequest(1, line_id=999_999), "lines[0].line_id"),
        (ReceiptRequest(0, sku="HOODIE-SE"), "lines[0].quantity"),
        (ReceiptRequest(1), "lines[0]"),
    ],
)
def test_receive_refuses_bad_lines_and_changes_nothing(
    hoodie, default_warehouse, request_line, field
):
    ProductFactory(sku="CAP")
    order = purchase(hoodie, 10)
    before = purchase_state()

    with pytest.raises(ValidationFailed) as refused:
        purchase_order_receive(purchase_order_id=order.pk, lines=[request_line])

    assert field in refused.value.fields
    assert purchase_state() == before


def test_receiving_a_draft_or_a_cancelled_order_is_refused(hoodie, default_warehouse):
    draft = purchase(hoodie, place=False)
    cancelled = purchase(hoodie)
    purchase_order_cancel(purchase_order_id=cancelled.pk)
    before = purchase_state()

    for order in (draft, cancelled):
        with pytest.raises(InvalidTransition):
            purchase_order_receive(
                purchase_order_id=order.pk, lines=[ReceiptRequest(1, sku="HOODIE-SE")]
            )

    assert purchase_state() == before


def test_receiving_in_the_future_is_refused(hoodie, default_warehouse):
    order = purchase(hoodie)

    with pytest.raises(ValidationFailed):
        purchase_order_receive(
            purchase_order_id=order.pk,
            lines=[ReceiptRequest(1, sku="HOODIE-SE")],
            received_on=in_days(1),
        )

    assert PurchaseReceipt.objects.count() == 0


# --- reliability and lead times ---------------------------------------------------------------


def _receipt_with_delay(supplier, product, delay: int) -> None:
    order = purchase(product, 1, supplier=supplier)
    line = order.lines.get()
    PurchaseOrderLine.objects.filter(pk=line.pk).update(
        expected_date=in_days(-delay), first_expected_date=in_days(-delay)
    )
    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(1, line_id=line.pk)])


def test_reliability_reports_average_spread_and_on_time_deliveries(hoodie, default_warehouse):
    late = SupplierFactory(name="Late")
    punctual = SupplierFactory(name="Punctual")
    for delay in (2, 4, 6):
        _receipt_with_delay(late, hoodie, delay)
    for delay in (0, -1):
        _receipt_with_delay(punctual, hoodie, delay)

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
    _receipt_with_delay(late, hoodie, 10)
    _receipt_with_delay(late, hoodie, 10)
    assert lead_times([hoodie]) == {hoodie.pk: 5}

    _receipt_with_delay(late, hoodie, 10)

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


def test_placing_a_draft_with_nothing_left_to_order_is_refused(hoodie, default_warehouse):
    order = purchase(hoodie, place=False)
    purchase_order_line_cancel(line_id=order.lines.get().pk)

    with pytest.raises(ValidationFailed):
        purchase_order_place(purchase_order_id=order.pk)

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.DRAFT


def test_goods_cannot_arrive_before_the_order_was_placed(hoodie, default_warehouse):
    order = purchase(hoodie)

    with pytest.raises(ValidationFailed) as refused:
        purchase_order_receive(
            purchase_order_id=order.pk,
            lines=[ReceiptRequest(1, sku="HOODIE-SE")],
            received_on=in_days(-1),
        )

    assert refused.value.fields == {"received_on": f"on or after {today():%Y-%m-%d}"}
    assert PurchaseReceipt.objects.count() == 0


def test_a_receipt_that_proves_a_delay_refreshes_every_product_of_the_supplier(
    hoodie, default_warehouse, django_capture_on_commit_callbacks
):
    late = SupplierFactory(name="Late", lead_time_days=5)
    tee = ProductFactory(sku="TEE")
    for product in (hoodie, tee):
        SupplierProductFactory(supplier=late, product=product)
    _receipt_with_delay(late, hoodie, 4)
    _receipt_with_delay(late, hoodie, 4)

    # the third late receipt proves the delay: the tee's ETAs depend on it too
    with django_capture_on_commit_callbacks() as callbacks:
        _receipt_with_delay(late, hoodie, 4)
    # the new purchase order, its receipt, then the hoodie and the tee
    third = PurchaseOrder.objects.latest("pk").number
    assert refreshes_asked(callbacks) == [
        ("po_created", third, [hoodie.pk]),
        ("po_received", third, [hoodie.pk]),
        ("lead_time_changed", "Late: 4 day(s) late on average", sorted([hoodie.pk, tee.pk])),
    ]

    # a fourth receipt as late changes nothing more than its own product
    with django_capture_on_commit_callbacks() as callbacks:
        _receipt_with_delay(late, hoodie, 4)
    fourth = PurchaseOrder.objects.latest("pk").number
    assert refreshes_asked(callbacks) == [
        ("po_created", fourth, [hoodie.pk]),
        ("po_received", fourth, [hoodie.pk]),
    ]
    assert lead_times([hoodie, tee]) == {hoodie.pk: 9, tee.pk: 9}


def test_draft_lines_save_fills_the_promise_and_the_cost_from_the_terms(hoodie, default_warehouse):
    supplier = SupplierFactory()
    SupplierProductFactory(supplier=supplier, product=hoodie, unit_cost=Decimal("90000"))
    order = purchase(hoodie, 4, days=5, supplier=supplier, place=False)
    line = order.lines.get()
    line.expected_date = in_days(9)
    added = PurchaseOrderLine(product=hoodie, quantity=2, expected_date=in_days(3))

    purchase_order_draft_lines_save(purchase_order_id=order.pk, lines=[line, added])

    rows = order.lines.order_by("expected_date")
    assert list(
        rows.values_list("quantity", "expected_date", "first_expected_date", "unit_cost")
    ) == [
        (2, in_days(3), in_days(3), Decimal("90000")),
        (4, in_days(9), in_days(9), Decimal("90000")),
    ]


def test_draft_lines_save_refuses_a_placed_order(hoodie, default_warehouse):
    order = purchase(hoodie, 4, days=5)
    line = order.lines.get()
    line.expected_date = in_days(9)

    with pytest.raises(InvalidTransition):
        purchase_order_draft_lines_save(purchase_order_id=order.pk, lines=[line])

    assert order.lines.get().expected_date == in_days(5)
