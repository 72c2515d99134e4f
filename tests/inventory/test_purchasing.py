"""Suppliers, purchase orders and receipts."""

from datetime import date
from decimal import Decimal

import pytest

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
from inventory.selectors import lead_times
from tests.factories import (
    ProductFactory,
    StaffFactory,
    SupplierFactory,
    SupplierProductFactory,
    WarehouseFactory,
)
from tests.helpers import in_days, purchase, receipt_with_delay, refreshes_asked, today
from tests.state import purchasing_state

pytestmark = pytest.mark.django_db


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
    assert refreshes_asked(placed) == [("po_created", order.number, [hoodie.pk])]


def test_placing_an_order_twice_is_refused(hoodie, default_warehouse):
    order = purchase(hoodie)
    before = purchasing_state()

    with pytest.raises(InvalidTransition):
        purchase_order_place(purchase_order_id=order.pk)

    assert purchasing_state() == before


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
    before = purchasing_state()

    with pytest.raises(ValidationFailed) as refused:
        purchase_order_create(supplier=supplier, lines=[line])

    assert field in refused.value.fields
    assert purchasing_state() == before


def test_create_refuses_an_inactive_supplier(hoodie, default_warehouse):
    before = purchasing_state()

    with pytest.raises(ValidationFailed) as refused:
        purchase(hoodie, supplier=SupplierFactory(is_active=False))

    assert refused.value.fields == {"supplier": "inactive"}
    assert PurchaseOrder.objects.count() == 0
    assert purchasing_state() == before


def test_create_refuses_an_order_with_no_lines(default_warehouse):
    before = purchasing_state()

    with pytest.raises(ValidationFailed):
        purchase_order_create(supplier=SupplierFactory(), lines=[])

    assert PurchaseOrder.objects.count() == 0
    assert purchasing_state() == before


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
    before = purchasing_state()

    with pytest.raises(ValidationFailed):
        purchase_order_line_reschedule(line_id=line.pk, expected_date=in_days(-1))

    line.refresh_from_db()
    assert line.expected_date == in_days(7)
    assert purchasing_state() == before


def test_reschedule_of_an_unknown_line_is_refused(default_warehouse):
    before = purchasing_state()

    with pytest.raises(ValidationFailed) as refused:
        purchase_order_line_reschedule(line_id=999_999, expected_date=in_days(1))

    assert refused.value.fields == {"line_id": "unknown"}
    assert purchasing_state() == before


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
    before = purchasing_state()

    with pytest.raises(InvalidTransition):
        purchase_order_line_cancel(line_id=line.pk)

    assert purchasing_state() == before


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
    before = purchasing_state()

    with pytest.raises(InvalidTransition):
        purchase_order_cancel(purchase_order_id=order.pk)

    assert purchasing_state() == before


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
    before = purchasing_state()

    with pytest.raises(OverReceipt) as refused:
        purchase_order_receive(
            purchase_order_id=order.pk, lines=[ReceiptRequest(3, sku="HOODIE-SE")]
        )

    assert refused.value.status == 409
    assert refused.value.code == "over_receipt"
    assert refused.value.fields == {"lines[0].quantity": "at most 2"}
    assert "Only 2 unit(s) of HOODIE-SE" in refused.value.message
    assert purchasing_state() == before


def test_over_receipt_split_across_two_requests_is_refused(hoodie, default_warehouse):
    order = purchase(hoodie, 10)
    before = purchasing_state()

    with pytest.raises(OverReceipt) as refused:
        purchase_order_receive(
            purchase_order_id=order.pk,
            lines=[ReceiptRequest(6, sku="HOODIE-SE"), ReceiptRequest(5, sku="HOODIE-SE")],
        )

    assert refused.value.fields == {"lines[1].quantity": "at most 4"}
    assert purchasing_state() == before


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
    before = purchasing_state()

    with pytest.raises(ValidationFailed) as refused:
        purchase_order_receive(purchase_order_id=order.pk, lines=[request_line])

    assert field in refused.value.fields
    assert purchasing_state() == before


def test_receiving_a_draft_or_a_cancelled_order_is_refused(hoodie, default_warehouse):
    draft = purchase(hoodie, place=False)
    cancelled = purchase(hoodie)
    purchase_order_cancel(purchase_order_id=cancelled.pk)
    before = purchasing_state()

    for order in (draft, cancelled):
        with pytest.raises(InvalidTransition):
            purchase_order_receive(
                purchase_order_id=order.pk, lines=[ReceiptRequest(1, sku="HOODIE-SE")]
            )

    assert purchasing_state() == before


def test_receiving_in_the_future_is_refused(hoodie, default_warehouse):
    order = purchase(hoodie)
    before = purchasing_state()

    with pytest.raises(ValidationFailed):
        purchase_order_receive(
            purchase_order_id=order.pk,
            lines=[ReceiptRequest(1, sku="HOODIE-SE")],
            received_on=in_days(1),
        )

    assert PurchaseReceipt.objects.count() == 0
    assert purchasing_state() == before


def test_placing_a_draft_with_nothing_left_to_order_is_refused(hoodie, default_warehouse):
    order = purchase(hoodie, place=False)
    purchase_order_line_cancel(line_id=order.lines.get().pk)
    before = purchasing_state()

    with pytest.raises(ValidationFailed):
        purchase_order_place(purchase_order_id=order.pk)

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.DRAFT
    assert purchasing_state() == before


def test_goods_cannot_arrive_before_the_order_was_placed(hoodie, default_warehouse):
    order = purchase(hoodie)
    before = purchasing_state()

    with pytest.raises(ValidationFailed) as refused:
        purchase_order_receive(
            purchase_order_id=order.pk,
            lines=[ReceiptRequest(1, sku="HOODIE-SE")],
            received_on=in_days(-1),
        )

    assert refused.value.fields == {"received_on": f"on or after {today():%Y-%m-%d}"}
    assert PurchaseReceipt.objects.count() == 0
    assert purchasing_state() == before


def test_a_receipt_that_proves_a_delay_refreshes_every_product_of_the_supplier(
    hoodie, default_warehouse, django_capture_on_commit_callbacks
):
    late = SupplierFactory(name="Late", lead_time_days=5)
    tee = ProductFactory(sku="TEE")
    for product in (hoodie, tee):
        SupplierProductFactory(supplier=late, product=product)
    receipt_with_delay(late, hoodie, 4)
    receipt_with_delay(late, hoodie, 4)

    # the third late receipt proves the delay: the tee's ETAs depend on it too
    with django_capture_on_commit_callbacks() as callbacks:
        receipt_with_delay(late, hoodie, 4)
    # the new purchase order, its receipt, then the hoodie and the tee
    third = PurchaseOrder.objects.latest("pk").number
    assert refreshes_asked(callbacks) == [
        ("po_created", third, [hoodie.pk]),
        ("po_received", third, [hoodie.pk]),
        ("lead_time_changed", "Late: 4 day(s) late on average", sorted([hoodie.pk, tee.pk])),
    ]

    # a fourth receipt as late changes nothing more than its own product
    with django_capture_on_commit_callbacks() as callbacks:
        receipt_with_delay(late, hoodie, 4)
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
    before = purchasing_state()

    with pytest.raises(InvalidTransition):
        purchase_order_draft_lines_save(purchase_order_id=order.pk, lines=[line])

    assert order.lines.get().expected_date == in_days(5)
    assert purchasing_state() == before
