"""The purchasing backoffice: suppliers, purchase orders, receiving, rescheduling, ETA history."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.admin.templatetags.admin_list import results
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import strip_tags

from config.batching import app as celery_app
from inventory import purchasing
from inventory.exceptions import BackorderError, InvalidTransition, ValidationFailed
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    Stock,
    StockMovement,
    Supplier,
    SupplierProduct,
)
from inventory.purchasing import (
    PurchaseLineRequest,
    ReceiptRequest,
    purchase_order_cancel,
    purchase_order_create,
    purchase_order_receive,
)
from inventory.refresh import REFRESH_TASK
from inventory.selectors import stock_drift
from inventory.stock import stock_receive
from notifications.models import Notification
from orders.models import EtaChange
from orders.queue import product_etas_refresh
from orders.services import LineRequest, order_place
from tests.factories import ProductFactory, StaffFactory, SupplierFactory, SupplierProductFactory
from tests.helpers import admin_product_form, admin_supplier_terms_form
from tests.state import snapshot

RECEIVE = "admin:inventory_purchaseorder_receive"
RESCHEDULE = "admin:inventory_purchaseorder_reschedule"
PO_CHANGELIST = "admin:inventory_purchaseorder_changelist"


def today() -> date:
    return timezone.localdate()


def in_days(days: int) -> date:
    return today() + timedelta(days=days)


def iso(day: date) -> str:
    return day.isoformat()


def purchase(supplier, *lines, place=True, ordered_on=None, reference="") -> PurchaseOrder:
    """A purchase order of (product, quantity, expected date) lines, ordered on `ordered_on`."""
    return purchase_order_create(
        supplier=supplier,
        lines=[PurchaseLineRequest(product.sku, quantity, day) for product, quantity, day in lines],
        place=place,
        reference=reference,
        today=ordered_on,
    )


def purchasing_state() -> dict:
    """Everything a refused purchasing change must leave untouched."""
    return {
        "orders": list(
            PurchaseOrder.objects.order_by("pk").values_list("pk", "status", "ordered_at")
        ),
        "lines": list(
            PurchaseOrderLine.objects.order_by("pk").values_list(
                "pk", "quantity", "received", "cancelled", "expected_date", "first_expected_date"
            )
        ),
        "receipts": PurchaseReceipt.objects.count(),
        "log": LogEntry.objects.count(),
        **snapshot(),
    }


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def changelist_rows(response) -> list[list[str]]:
    """The changelist's cells as staff read them (an icon by its alt text), no checkboxes."""
    return [
        [
            strip_tags(re.sub(r'<img [^>]*alt="([^"]*)"[^>]*>', r"\1", cell)).strip()
            for cell in row
            if "action-checkbox" not in cell
        ]
        for row in results(response.context["cl"])
    ]


@pytest.fixture
def supplier(db):
    return SupplierFactory(name="Konveksi Bandung", email="order@kb.example", lead_time_days=14)


@pytest.fixture
def clerk(client, db):
    """Staff who may look at purchase orders but not change them."""
    user = StaffFactory(username="clerk", is_superuser=False)
    user.user_permissions.add(Permission.objects.get(codename="view_purchaseorder"))
    client.force_login(user)
    return user


# --- changelists ------------------------------------------------------------------------------


def _purchasing_rows(count: int) -> None:
    """`count` rows in every purchasing list: a supplier, its order, a receipt, an ETA change."""
    for _ in range(count):
        product = ProductFactory()
        supplier = SupplierFactory()
        SupplierProductFactory(supplier=supplier, product=product)
        order = purchase(supplier, (product, 5, in_days(3)))
        purchase_order_receive(
            purchase_order_id=order.pk, lines=[ReceiptRequest(2, line_id=order.lines.get().pk)]
        )
        order_place(email="ayu@example.com", name="Ayu", lines=[LineRequest(product.sku, 9)])


@pytest.mark.parametrize(
    ("url_name", "max_queries"),
    [
        ("admin:inventory_supplier_changelist", 6),
        ("admin:inventory_purchaseorder_changelist", 7),
        ("admin:inventory_purchaseorderline_changelist", 9),
        ("admin:inventory_purchasereceipt_changelist", 8),
        ("admin:orders_etachange_changelist", 7),
    ],
)
def test_changelists_render_with_a_fixed_number_of_queries(
    admin_client, default_warehouse, django_assert_max_num_queries, url_name, max_queries
):
    # given one row
    _purchasing_rows(1)
    url = reverse(url_name)

    # when
    with django_assert_max_num_queries(max_queries) as one_row:
        first = admin_client.get(url)
    _purchasing_rows(9)
    with django_assert_max_num_queries(max_queries) as ten_rows:
        second = admin_client.get(url)

    # then
    assert (first.status_code, second.status_code) == (200, 200)
    assert (len(first.context["cl"].result_list), len(second.context["cl"].result_list)) == (1, 10)
    assert len(one_row) == len(ten_rows)


def _receipt_with_delay(supplier, product, delay: int) -> None:
    """A delivery received today, `delay` days after the date the supplier promised."""
    promised = in_days(-delay)
    order = purchase(supplier, (product, 1, promised), ordered_on=promised - timedelta(days=7))
    purchase_order_receive(
        purchase_order_id=order.pk, lines=[ReceiptRequest(1, line_id=order.lines.get().pk)]
    )


def test_supplier_list_shows_reliability(admin_client, hoodie, supplier):
    # given three deliveries: on time, 2 days late, 4 days late; and a supplier never delivering
    for delay in (0, 2, 4):
        _receipt_with_delay(supplier, hoodie, delay)
    SupplierFactory(name="Garmen Jakarta", email="sales@gj.example", lead_time_days=21)

    # when
    response = admin_client.get(reverse("admin:inventory_supplier_changelist"))

    # then: mean 2, population standard deviation sqrt(8/3) = 1.63, one of three on time
    assert response.status_code == 200
    assert changelist_rows(response) == [
        ["Garmen Jakarta", "sales@gj.example", "21", "True", "False", "0", "-", "-", "-"],
        ["Konveksi Bandung", "order@kb.example", "14", "True", "False", "3", "+2.0", "1.6", "33%"],
    ]


def test_supplier_page_shows_its_reliability(admin_client, hoodie, supplier):
    # given
    for delay in (0, 2, 4):
        _receipt_with_delay(supplier, hoodie, delay)

    # when
    response = admin_client.get(reverse("admin:inventory_supplier_change", args=[supplier.pk]))

    # then
    assert response.status_code == 200
    assert (
        "3 receipt(s), +2.0 days late on average (spread 1.6 days), 1 on time (33%)."
        in response.content.decode()
    )


def test_purchase_order_list_shows_units_and_the_next_expected_date(admin_client, hoodie, supplier):
    # given an order of two lines, one partly received
    cap = ProductFactory(sku="CAP")
    order = purchase(supplier, (hoodie, 10, in_days(3)), (cap, 4, in_days(9)))
    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(4, sku="CAP")])

    # when
    response = admin_client.get(reverse(PO_CHANGELIST))

    # then
    [row] = changelist_rows(response)
    assert row[0] == order.number
    assert row[1:] == [
        "Konveksi Bandung",
        "main",
        "Partially received",
        date_format(today()),
        date_format(in_days(3)),
        "14",
        "4",
        "10",
        "Staff",
        "False",
    ]


def test_purchase_order_search_finds_an_order_by_its_number(admin_client, hoodie, supplier):
    # given
    wanted = purchase(supplier, (hoodie, 1, in_days(3)))
    purchase(supplier, (hoodie, 1, in_days(3)), reference="INV-77")

    # when
    by_number = admin_client.get(reverse(PO_CHANGELIST), {"q": wanted.number})
    by_reference = admin_client.get(reverse(PO_CHANGELIST), {"q": "INV-77"})

    # then
    assert [o.pk for o in by_number.context["cl"].result_list] == [wanted.pk]
    assert [o.reference for o in by_reference.context["cl"].result_list] == ["INV-77"]


def test_incoming_supply_lists_what_is_still_to_arrive_and_what_is_overdue(
    admin_client, hoodie, supplier
):
    # given a line overdue, a line due next week, a received line and a draft
    overdue = purchase(supplier, (hoodie, 3, in_days(-2)), ordered_on=in_days(-9)).lines.get()
    upcoming = purchase(supplier, (hoodie, 5, in_days(7))).lines.get()
    received = purchase(supplier, (hoodie, 2, in_days(1)))
    purchase_order_receive(purchase_order_id=received.pk, lines=[ReceiptRequest(2, sku=hoodie.sku)])
    draft = purchase(supplier, (hoodie, 8, in_days(5)), place=False).lines.get()
    url = reverse("admin:inventory_purchaseorderline_changelist")

    # when
    still_to_arrive = admin_client.get(url)
    overdue_only = admin_client.get(url, {"arrival": "overdue"})
    everything = admin_client.get(url, {"arrival": "all"})

    # then
    assert still_to_arrive.context["title"] == "Incoming supply"
    assert [line.pk for line in still_to_arrive.context["cl"].result_list] == [
        overdue.pk,
        upcoming.pk,
    ]
    assert [line.pk for line in overdue_only.context["cl"].result_list] == [overdue.pk]
    assert len(everything.context["cl"].result_list) == 4
    assert draft.pk in [line.pk for line in everything.context["cl"].result_list]


# --- creating and placing ---------------------------------------------------------------------


def _add_form(supplier, warehouse, *lines, **fields) -> dict:
    """The add form's POST data with (product, quantity, expected date, unit cost) lines."""
    data = {
        "supplier": supplier.pk,
        "warehouse": warehouse.pk,
        "reference": "",
        "notes": "",
        "lines-TOTAL_FORMS": len(lines),
        "lines-INITIAL_FORMS": 0,
        "lines-MIN_NUM_FORMS": 1,
        "lines-MAX_NUM_FORMS": 500,
        **fields,
    }
    for index, (product, quantity, expected_date, unit_cost) in enumerate(lines):
        data[f"lines-{index}-product"] = product.pk
        data[f"lines-{index}-quantity"] = quantity
        data[f"lines-{index}-expected_date"] = iso(expected_date)
        data[f"lines-{index}-unit_cost"] = unit_cost
    return data


def test_add_form_creates_a_draft_with_its_lines(
    admin_client, superuser, hoodie, supplier, default_warehouse, django_capture_on_commit_callbacks
):
    # given terms that quote the cap's unit cost
    cap = ProductFactory(sku="CAP")
    SupplierProductFactory(supplier=supplier, product=cap, unit_cost=Decimal("20000"))

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            reverse("admin:inventory_purchaseorder_add"),
            _add_form(
                supplier,
                default_warehouse,
                (hoodie, 40, in_days(10), "85000"),
                (cap, 5, in_days(3), ""),
                reference="SO-881",
            ),
        )

    # then
    assert response.status_code == 302
    order = PurchaseOrder.objects.get()
    assert response["Location"] == reverse(PO_CHANGELIST)
    assert (order.supplier, order.warehouse, order.reference, order.actor) == (
        supplier,
        default_warehouse,
        "SO-881",
        superuser,
    )
    assert (order.status, order.ordered_at) == (PurchaseOrder.Status.DRAFT, None)
    assert list(
        order.lines.order_by("product__sku").values_list(
            "product__sku", "quantity", "expected_date", "first_expected_date", "unit_cost"
        )
    ) == [
        ("CAP", 5, in_days(3), in_days(3), Decimal("20000")),
        ("HOODIE-SE", 40, in_days(10), in_days(10), Decimal("85000")),
    ]
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_id, entry.object_repr) == (
        ADDITION,
        str(order.pk),
        order.number,
    )
    assert callbacks == []  # a draft is not incoming supply: no ETA moves


def test_add_form_refuses_a_past_date_an_inactive_supplier_and_no_lines(
    admin_client, hoodie, default_warehouse
):
    # given
    inactive = SupplierFactory(is_active=False)
    active = SupplierFactory()
    before = purchasing_state()

    # when
    past = admin_client.post(
        reverse("admin:inventory_purchaseorder_add"),
        _add_form(active, default_warehouse, (hoodie, 4, in_days(-1), "")),
    )
    zero = admin_client.post(
        reverse("admin:inventory_purchaseorder_add"),
        _add_form(active, default_warehouse, (hoodie, 0, in_days(1), "")),
    )
    inactive_supplier = admin_client.post(
        reverse("admin:inventory_purchaseorder_add"),
        _add_form(inactive, default_warehouse, (hoodie, 4, in_days(1), "")),
    )
    no_lines = admin_client.post(
        reverse("admin:inventory_purchaseorder_add"), _add_form(active, default_warehouse)
    )

    # then
    assert [r.status_code for r in (past, zero, inactive_supplier, no_lines)] == [200] * 4
    [past_lines] = past.context["inline_admin_formsets"]
    assert past_lines.formset.errors == [
        {"expected_date": ["The expected date cannot be in the past."]}
    ]
    [zero_lines] = zero.context["inline_admin_formsets"]
    assert zero_lines.formset.errors == [{"quantity": ["Enter a quantity from 1 to 1000000."]}]
    assert inactive_supplier.context["adminform"].form.errors == {
        "supplier": ["This supplier is inactive."]
    }
    [empty] = no_lines.context["inline_admin_formsets"]
    assert empty.formset.non_form_errors() == ["A purchase order needs at least one line."]
    assert purchasing_state() == before


def test_draft_lines_are_editable_and_placed_lines_are_not(admin_client, hoodie, supplier):
    # given
    draft = purchase(supplier, (hoodie, 4, in_days(5)), place=False)
    placed = purchase(supplier, (hoodie, 4, in_days(5)))

    # when
    draft_page = admin_client.get(reverse("admin:inventory_purchaseorder_change", args=[draft.pk]))
    placed_page = admin_client.get(
        reverse("admin:inventory_purchaseorder_change", args=[placed.pk])
    )

    # then
    [draft_lines] = draft_page.context["inline_admin_formsets"]
    [placed_lines] = placed_page.context["inline_admin_formsets"]
    assert draft_lines.has_change_permission is True
    assert placed_lines.has_change_permission is False
    assert placed_lines.has_add_permission is False
    assert "outstanding" in placed_lines.readonly_fields
    assert (draft_page.context["can_receive"], draft_page.context["can_reschedule"]) == (
        False,
        False,
    )
    assert (placed_page.context["can_receive"], placed_page.context["can_reschedule"]) == (
        True,
        True,
    )
    assert reverse(RECEIVE, args=[placed.pk]) in placed_page.content.decode()
    assert reverse(RESCHEDULE, args=[placed.pk]) in placed_page.content.decode()
    assert reverse(RECEIVE, args=[draft.pk]) not in draft_page.content.decode()


def test_editing_a_draft_moves_its_first_promise_with_the_date(admin_client, hoodie, supplier):
    # given
    draft = purchase(supplier, (hoodie, 4, in_days(5)), place=False)
    line = draft.lines.get()

    # when
    response = admin_client.post(
        reverse("admin:inventory_purchaseorder_change", args=[draft.pk]),
        {
            "supplier": supplier.pk,
            "warehouse": draft.warehouse_id,
            "reference": "SO-9",
            "notes": "",
            "lines-TOTAL_FORMS": 1,
            "lines-INITIAL_FORMS": 1,
            "lines-MIN_NUM_FORMS": 1,
            "lines-MAX_NUM_FORMS": 500,
            "lines-0-id": line.pk,
            "lines-0-purchase_order": draft.pk,
            "lines-0-product": hoodie.pk,
            "lines-0-quantity": 6,
            "lines-0-expected_date": iso(in_days(8)),
            "lines-0-unit_cost": "",
        },
    )

    # then
    assert response.status_code == 302
    draft.refresh_from_db()
    line.refresh_from_db()
    assert (draft.status, draft.reference) == (PurchaseOrder.Status.DRAFT, "SO-9")
    assert (line.quantity, line.expected_date, line.first_expected_date) == (
        6,
        in_days(8),
        in_days(8),
    )


def test_editing_a_placed_order_changes_only_its_reference_and_notes(
    admin_client, hoodie, supplier
):
    # given
    order = purchase(supplier, (hoodie, 4, in_days(5)))
    before = purchasing_state()

    # when the page posts its form; the lines are read-only, so only their management form
    response = admin_client.post(
        reverse("admin:inventory_purchaseorder_change", args=[order.pk]),
        {
            "reference": "SO-12",
            "notes": "Confirmed by phone.",
            "lines-TOTAL_FORMS": 1,
            "lines-INITIAL_FORMS": 1,
        },
    )

    # then
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.reference, order.notes) == (
        PurchaseOrder.Status.ORDERED,
        "SO-12",
        "Confirmed by phone.",
    )
    after = purchasing_state()
    assert after.pop("orders") == before.pop("orders")
    assert after.pop("log") == before.pop("log") + 1
    assert after == before


def test_a_refusal_while_saving_is_a_message_and_saves_nothing(
    admin_client, hoodie, supplier, default_warehouse, monkeypatch
):
    # given the service refuses after the form validated (say, the supplier was deactivated)
    def refuse(**kwargs):
        raise ValidationFailed("This supplier is inactive.", fields={"supplier": "inactive"})

    monkeypatch.setattr(purchasing, "purchase_order_create", refuse)
    before = purchasing_state()

    # when
    response = admin_client.post(
        reverse("admin:inventory_purchaseorder_add"),
        _add_form(supplier, default_warehouse, (hoodie, 4, in_days(1), "")),
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:inventory_purchaseorder_add")
    assert messages_of(response) == ["This supplier is inactive."]
    assert purchasing_state() == before


def _action(client, action: str, *orders):
    return client.post(
        reverse(PO_CHANGELIST),
        {"action": action, "_selected_action": [o.pk for o in orders], "index": 0},
    )


def test_place_action_places_drafts_and_reports_each_order(
    admin_client, hoodie, supplier, django_capture_on_commit_callbacks
):
    # given a draft and an order placed already, for a supplier with an address
    supplier.email = "order@konveksi.example"
    supplier.save()
    draft = purchase(supplier, (hoodie, 4, in_days(5)), place=False)
    placed = purchase(supplier, (hoodie, 2, in_days(5)))
    placed_before = PurchaseOrder.objects.values_list("status", "ordered_at").get(pk=placed.pk)

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = _action(admin_client, "place", draft, placed)

    # then
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == PurchaseOrder.Status.ORDERED
    assert draft.ordered_at is not None
    assert PurchaseOrder.objects.values_list("status", "ordered_at").get(pk=placed.pk) == (
        placed_before
    )
    assert messages_of(response) == [
        f"{draft.number} placed with Konveksi Bandung.",
        f"{placed.number} is ordered, not a draft.",
    ]
    # After commit: the hoodie's ETAs are recomputed once, and the supplier is emailed once,
    # both for the placed draft.
    assert len(callbacks) == 2
    assert list(Notification.objects.filter(purchase_order=draft).values_list("kind", "to")) == [
        ("purchase_order", supplier.email)
    ]
    assert list(LogEntry.objects.values_list("object_id", "action_flag", "change_message")) == [
        (str(draft.pk), CHANGE, "Placed with the supplier.")
    ]


def test_place_action_refuses_a_draft_whose_date_has_passed(admin_client, hoodie, supplier):
    # given a draft written last week for a delivery due yesterday
    draft = purchase(supplier, (hoodie, 4, in_days(-1)), place=False, ordered_on=in_days(-7))
    before = purchasing_state()

    # when
    response = _action(admin_client, "place", draft)

    # then
    assert messages_of(response) == [f"{draft.number}: The expected date cannot be in the past."]
    assert purchasing_state() == before


def test_cancel_action_cancels_what_is_still_to_arrive(admin_client, hoodie, supplier):
    # given an order not yet delivered, one half delivered, one cancelled already
    waiting = purchase(supplier, (hoodie, 4, in_days(5)))
    half = purchase(supplier, (hoodie, 6, in_days(5)))
    purchase_order_receive(purchase_order_id=half.pk, lines=[ReceiptRequest(3, sku=hoodie.sku)])
    gone = purchase(supplier, (hoodie, 1, in_days(5)), place=False)
    purchase_order_cancel(purchase_order_id=gone.pk)

    # when
    response = _action(admin_client, "cancel", waiting, half, gone)

    # then
    assert list(PurchaseOrder.objects.order_by("pk").values_list("status", "lines__cancelled")) == [
        ("cancelled", 4),
        ("received", 3),
        ("cancelled", 1),
    ]
    assert messages_of(response) == [
        f"{waiting.number} cancelled.",
        f"{half.number}: what was still to arrive is cancelled; the order is now received.",
        f"{gone.number} is already cancelled.",
    ]


# --- receiving --------------------------------------------------------------------------------


def test_receive_view_lists_the_open_lines(admin_client, hoodie, supplier):
    # given
    cap = ProductFactory(sku="CAP")
    order = purchase(supplier, (hoodie, 10, in_days(3)), (cap, 4, in_days(9)))
    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(4, sku="CAP")])

    # when
    response = admin_client.get(reverse(RECEIVE, args=[order.pk]))

    # then
    assert response.status_code == 200
    form = response.context["form"]
    assert [(line.product.sku, line.outstanding) for line, _ in form.rows()] == [("HOODIE-SE", 10)]
    assert form.initial["received_on"] == today()
    assert b'name="csrfmiddlewaretoken"' in response.content


def test_receive_view_books_goods_into_stock_with_their_delay(
    admin_client, superuser, hoodie, supplier, default_warehouse
):
    # given ten hoodies promised for two days ago, and four customers waiting
    order = purchase(supplier, (hoodie, 10, in_days(-2)), ordered_on=in_days(-9))
    line = order.lines.get()
    order_place(email="ayu@example.com", name="Ayu", lines=[LineRequest(hoodie.sku, 4)])

    # when six arrive today
    response = admin_client.post(
        reverse(RECEIVE, args=[order.pk]),
        {"received_on": iso(today()), "reference": "DN-7", f"quantity_{line.pk}": "6"},
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:inventory_purchaseorder_change", args=[order.pk])
    stock = Stock.objects.get(product=hoodie, warehouse=default_warehouse)
    assert stock.on_hand == 6
    receipt = PurchaseReceipt.objects.get()
    assert (
        receipt.line,
        receipt.quantity,
        receipt.received_on,
        receipt.expected_date,
        receipt.delay_days,
        receipt.actor,
    ) == (line, 6, today(), in_days(-2), 2, superuser)
    assert (receipt.movement.kind, receipt.movement.quantity, receipt.movement.reference) == (
        StockMovement.Kind.RECEIPT,
        6,
        "DN-7",
    )
    line.refresh_from_db()
    order.refresh_from_db()
    assert (line.received, line.outstanding) == (6, 4)
    assert order.status == PurchaseOrder.Status.PARTIALLY_RECEIVED
    assert messages_of(response) == [f"{order.number}: received 6 x HOODIE-SE (2 days late)."]
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_id, entry.change_message) == (
        CHANGE,
        str(order.pk),
        f"Received 6 x HOODIE-SE (2 days late) on {today():%Y-%m-%d}, delivery note DN-7.",
    )
    assert stock_drift() == []


def test_receiving_more_than_is_outstanding_shows_an_error_and_changes_nothing(
    admin_client, hoodie, supplier
):
    # given
    order = purchase(supplier, (hoodie, 5, in_days(2)))
    line = order.lines.get()
    before = purchasing_state()

    # when
    response = admin_client.post(
        reverse(RECEIVE, args=[order.pk]),
        {"received_on": iso(today()), "reference": "", f"quantity_{line.pk}": "6"},
    )

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {
        f"quantity_{line.pk}": [
            f"Only 5 unit(s) of HOODIE-SE are still to arrive on {order.number}."
        ]
    }
    assert b"Nothing was changed." in response.content
    assert purchasing_state() == before


def test_receiving_in_the_future_or_nothing_is_refused(admin_client, hoodie, supplier):
    # given
    order = purchase(supplier, (hoodie, 5, in_days(2)))
    line = order.lines.get()
    before = purchasing_state()

    # when
    tomorrow = admin_client.post(
        reverse(RECEIVE, args=[order.pk]),
        {"received_on": iso(in_days(1)), f"quantity_{line.pk}": "2"},
    )
    nothing = admin_client.post(
        reverse(RECEIVE, args=[order.pk]), {"received_on": iso(today()), f"quantity_{line.pk}": ""}
    )

    # then
    assert tomorrow.context["form"].errors == {
        "received_on": ["Goods cannot be received in the future."]
    }
    assert nothing.context["form"].errors == {"__all__": ["Say what was received."]}
    assert purchasing_state() == before


def test_a_draft_cannot_be_received(admin_client, hoodie, supplier):
    # given
    draft = purchase(supplier, (hoodie, 5, in_days(2)), place=False)
    line = draft.lines.get()
    before = purchasing_state()

    # when
    response = admin_client.post(
        reverse(RECEIVE, args=[draft.pk]),
        {"received_on": iso(today()), f"quantity_{line.pk}": "2"},
    )

    # then
    assert response.status_code == 302
    assert messages_of(response) == [
        f"{draft.number} is draft: only an ordered purchase order has lines still to arrive."
    ]
    assert purchasing_state() == before


# --- rescheduling and cancelling lines --------------------------------------------------------


def test_reschedule_moves_the_expected_date(
    admin_client, hoodie, supplier, django_capture_on_commit_callbacks
):
    # given
    order = purchase(supplier, (hoodie, 5, in_days(2)))
    line = order.lines.get()

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            reverse(RESCHEDULE, args=[order.pk]), {f"expected_date_{line.pk}": iso(in_days(12))}
        )

    # then
    assert response.status_code == 302
    line.refresh_from_db()
    assert (line.expected_date, line.first_expected_date, line.cancelled) == (
        in_days(12),
        in_days(2),
        0,
    )
    change = f"HOODIE-SE: expected {in_days(2):%Y-%m-%d} moved to {in_days(12):%Y-%m-%d}"
    assert messages_of(response) == [f"{order.number}: {change}."]
    assert LogEntry.objects.get().change_message == f"{change}."
    assert len(callbacks) == 1  # the hoodie's ETAs follow the new date


def test_cancel_remaining_cancels_what_is_still_to_arrive_on_the_line(
    admin_client, hoodie, supplier
):
    # given an order of two lines, the hoodies half delivered
    cap = ProductFactory(sku="CAP")
    order = purchase(supplier, (hoodie, 6, in_days(2)), (cap, 4, in_days(3)))
    hoodies, caps = order.lines.order_by("pk")
    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(2, sku=hoodie.sku)])

    # when
    response = admin_client.post(
        reverse(RESCHEDULE, args=[order.pk]), {f"cancel_{hoodies.pk}": "on"}
    )

    # then
    assert response.status_code == 302
    hoodies.refresh_from_db()
    caps.refresh_from_db()
    order.refresh_from_db()
    assert (hoodies.received, hoodies.cancelled, hoodies.outstanding) == (2, 4, 0)
    assert (caps.cancelled, caps.outstanding) == (0, 4)
    assert order.status == PurchaseOrder.Status.PARTIALLY_RECEIVED
    assert messages_of(response) == [f"{order.number}: HOODIE-SE: 4 unit(s) cancelled."]


def test_reschedule_is_all_or_nothing(admin_client, hoodie, supplier):
    # given two lines; the second gets a date in the past, which the service refuses
    cap = ProductFactory(sku="CAP")
    order = purchase(supplier, (hoodie, 6, in_days(2)), (cap, 4, in_days(3)))
    hoodies, caps = order.lines.order_by("pk")
    before = purchasing_state()

    # when
    response = admin_client.post(
        reverse(RESCHEDULE, args=[order.pk]),
        {f"cancel_{hoodies.pk}": "on", f"expected_date_{caps.pk}": iso(in_days(-1))},
    )

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {
        f"expected_date_{caps.pk}": ["The expected date cannot be in the past."]
    }
    assert purchasing_state() == before


def test_reschedule_without_a_change_or_with_both_changes_is_a_form_error(
    admin_client, hoodie, supplier
):
    # given
    order = purchase(supplier, (hoodie, 6, in_days(2)))
    line = order.lines.get()
    before = purchasing_state()

    # when
    same_date = admin_client.post(
        reverse(RESCHEDULE, args=[order.pk]), {f"expected_date_{line.pk}": iso(in_days(2))}
    )
    both = admin_client.post(
        reverse(RESCHEDULE, args=[order.pk]),
        {f"expected_date_{line.pk}": iso(in_days(5)), f"cancel_{line.pk}": "on"},
    )

    # then
    assert same_date.context["form"].errors == {
        "__all__": [
            "Nothing to change: enter a new expected date or tick “cancel the rest” on a line."
        ]
    }
    assert both.context["form"].errors == {
        f"expected_date_{line.pk}": ["Either move the date or cancel the rest, not both."]
    }
    assert purchasing_state() == before


def test_receive_and_reschedule_need_the_change_permission(clerk, client, hoodie, supplier):
    # given
    order = purchase(supplier, (hoodie, 5, in_days(2)))
    line = order.lines.get()
    before = purchasing_state()

    # when
    responses = [
        client.get(reverse(RECEIVE, args=[order.pk])),
        client.post(
            reverse(RECEIVE, args=[order.pk]),
            {"received_on": iso(today()), f"quantity_{line.pk}": "5"},
        ),
        client.get(reverse(RESCHEDULE, args=[order.pk])),
        client.post(reverse(RESCHEDULE, args=[order.pk]), {f"cancel_{line.pk}": "on"}),
    ]
    page = client.get(reverse("admin:inventory_purchaseorder_change", args=[order.pk]))

    # then
    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert page.status_code == 200  # may look
    assert reverse(RECEIVE, args=[order.pk]) not in page.content.decode()
    assert purchasing_state() == before


# --- supply changes recompute ETAs ------------------------------------------------------------


@pytest.fixture
def refreshes(monkeypatch):
    """The product refreshes sent to the worker after commit: (product id, cause, detail)."""
    sent: list[tuple] = []
    send_task = celery_app.send_task

    def send(name, args=(), **options):
        if name != REFRESH_TASK:
            return send_task(name, args=args, **options)
        ids, cause, detail = args
        sent.extend((pk, cause, detail) for pk in ids)

    monkeypatch.setattr(celery_app, "send_task", send)
    return sent


def test_changing_a_products_lead_time_recomputes_its_etas(
    admin_client, hoodie, refreshes, django_capture_on_commit_callbacks
):
    # given
    url = reverse("admin:inventory_product_change", args=[hoodie.pk])

    # when
    with django_capture_on_commit_callbacks(execute=True):
        unchanged = admin_client.post(url, admin_product_form(hoodie, name="Hoodie, special"))
    with django_capture_on_commit_callbacks(execute=True):
        changed = admin_client.post(url, admin_product_form(hoodie, lead_time_days=21))

    # then
    assert (unchanged.status_code, changed.status_code) == (302, 302)
    assert refreshes == [(hoodie.pk, "lead_time_changed", "Lead time changed in the admin")]


def test_adding_supplier_terms_on_a_product_recomputes_its_etas(
    admin_client, hoodie, supplier, refreshes, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:inventory_product_change", args=[hoodie.pk]),
            admin_supplier_terms_form(hoodie, supplier, 5),
        )

    # then
    assert response.status_code == 302
    assert list(SupplierProduct.objects.values_list("supplier", "product", "lead_time_days")) == [
        (supplier.pk, hoodie.pk, 5)
    ]
    assert refreshes == [(hoodie.pk, "lead_time_changed", "Supplier terms changed in the admin")]


def test_deactivating_a_supplier_recomputes_the_etas_of_its_products(
    admin_client, hoodie, supplier, refreshes, django_capture_on_commit_callbacks
):
    # given
    cap = ProductFactory(sku="CAP")
    terms = [
        SupplierProductFactory(supplier=supplier, product=product) for product in (hoodie, cap)
    ]

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:inventory_supplier_change", args=[supplier.pk]),
            {
                "name": supplier.name,
                "email": supplier.email,
                "lead_time_days": supplier.lead_time_days,
                "language": supplier.language,
                "terms-TOTAL_FORMS": 2,
                "terms-INITIAL_FORMS": 2,
                **{
                    f"terms-{index}-{field}": value
                    for index, term in enumerate(terms)
                    for field, value in (
                        ("id", term.pk),
                        ("supplier", supplier.pk),
                        ("product", term.product_id),
                        ("rank", term.rank),
                        ("minimum_order_quantity", term.minimum_order_quantity),
                        ("pack_size", term.pack_size),
                    )
                },
            },
        )

    # then
    assert response.status_code == 302
    assert Supplier.objects.get().is_active is False
    detail = "Konveksi Bandung: active changed in the admin"
    assert sorted(refreshes) == sorted(
        [(hoodie.pk, "lead_time_changed", detail), (cap.pk, "lead_time_changed", detail)]
    )


# --- ETAs on orders ---------------------------------------------------------------------------


def test_order_page_shows_line_etas_and_their_history(admin_client, hoodie, supplier):
    # given a backordered line, then a purchase order that brings its ETA forward
    order = order_place(email="ayu@example.com", name="Ayu", lines=[LineRequest(hoodie.sku, 2)])
    incoming = purchase(supplier, (hoodie, 10, in_days(5)))
    product_etas_refresh(
        product_id=hoodie.pk, cause=EtaChange.Cause.PO_CREATED, detail=incoming.number
    )

    # when
    page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk]))
    history = admin_client.get(reverse("admin:orders_etachange_changelist"), {"q": order.number})

    # then
    assert page.status_code == 200
    inlines = {f.opts.verbose_name_plural: f for f in page.context["inline_admin_formsets"]}
    lines, etas = inlines["order lines"], inlines["ETA history"]
    assert {"eta", "first_promised_eta"} <= set(lines.readonly_fields)
    assert [(c.previous, c.eta, c.cause) for c in etas.formset.queryset] == [
        (None, in_days(14), "placed"),
        (in_days(14), in_days(5), "po_created"),
    ]
    assert "Purchase order placed" in page.content.decode()
    assert [row[1:] for row in changelist_rows(history)] == [
        [
            order.number,
            "HOODIE-SE",
            date_format(in_days(14)),
            date_format(in_days(5)),
            "-9",
            "Purchase order placed",
            incoming.number,
        ],
        [order.number, "HOODIE-SE", "-", date_format(in_days(14)), "-", "Order placed", "-"],
    ]


def test_every_purchasing_change_page_renders(admin_client, hoodie, supplier):
    # given a row in every purchasing table
    stock_receive(product=hoodie, quantity=1)
    _purchasing_rows(1)
    for model in (Supplier, PurchaseOrder, PurchaseOrderLine, PurchaseReceipt, EtaChange):
        opts = model._meta
        obj = model._default_manager.order_by("pk").first()
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])

        # when
        response = admin_client.get(url)

        # then
        assert response.status_code == 200, url


def test_product_list_shows_incoming_supply_next_delivery_and_last_eta(
    admin_client, hoodie, default_warehouse
):
    today = timezone.localdate()
    supplier = SupplierFactory()
    for days, units in ((9, 3), (4, 2)):
        purchasing.purchase_order_create(
            supplier=supplier,
            lines=[
                purchasing.PurchaseLineRequest("HOODIE-SE", units, today + timedelta(days=days))
            ],
        )
    for who in ("a", "b", "c"):
        order_place(email=f"{who}@example.com", name=who, lines=[LineRequest("HOODIE-SE", 2)])
    quiet = ProductFactory(sku="QUIET")

    response = admin_client.get(reverse("admin:inventory_product_changelist"))

    rows = {p.sku: p for p in response.context["cl"].result_list}
    hoodie_row, quiet_row = rows["HOODIE-SE"], rows[quiet.sku]
    assert (hoodie_row.total_incoming, hoodie_row.next_delivery_on) == (5, today + timedelta(4))
    # 6 units wait: 5 arrive by day 9, the last buyer's pair after the 14-day lead time
    assert hoodie_row.last_eta_on == today + timedelta(days=14)
    assert (quiet_row.total_incoming, quiet_row.next_delivery_on, quiet_row.last_eta_on) == (
        0,
        None,
        None,
    )


# --- suppliers are saved by the catalogue service --------------------------------------------


def _supplier_form(supplier, **changes) -> dict:
    data = {
        "name": supplier.name,
        "email": supplier.email,
        "lead_time_days": supplier.lead_time_days,
        "is_active": "on" if supplier.is_active else "",
        "language": supplier.language,
        "terms-TOTAL_FORMS": 0,
        "terms-INITIAL_FORMS": 0,
    }
    return {**data, **changes}


def _suppliers() -> list[tuple]:
    return list(
        Supplier.objects.order_by("pk").values_list("pk", "name", "lead_time_days", "is_active")
    )


def test_a_refused_supplier_change_shows_the_services_error_and_changes_nothing(
    admin_client, hoodie, supplier, refreshes, django_capture_on_commit_callbacks
):
    # given another supplier, and terms that a new lead time would refresh
    SupplierFactory(name="Garmen Jakarta")
    SupplierProductFactory(supplier=supplier, product=hoodie)
    before = _suppliers()

    # when: its name is taken; the lead time alone would be accepted
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:inventory_supplier_change", args=[supplier.pk]),
            _supplier_form(supplier, name="Garmen Jakarta", lead_time_days=30),
        )

    # then
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "name": ["A supplier named Garmen Jakarta already exists."]
    }
    assert _suppliers() == before
    assert refreshes == []
    assert LogEntry.objects.count() == 0


def test_a_supplier_change_is_written_by_the_service(
    admin_client, hoodie, supplier, refreshes, django_capture_on_commit_callbacks
):
    # given
    SupplierProductFactory(supplier=supplier, product=hoodie)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:inventory_supplier_change", args=[supplier.pk]),
            _supplier_form(supplier, name="  Konveksi Bandung Baru ", lead_time_days=21),
        )

    # then
    assert response.status_code == 302
    assert Supplier.objects.values_list("name", "lead_time_days").get() == (
        "Konveksi Bandung Baru",
        21,
    )
    assert refreshes == [
        (hoodie.pk, "lead_time_changed", "Konveksi Bandung Baru: lead time changed in the admin")
    ]
    assert LogEntry.objects.get().action_flag == CHANGE


def test_adding_a_supplier_goes_through_the_catalogue_service(admin_client, supplier):
    # given
    url = reverse("admin:inventory_supplier_add")
    new = SupplierFactory.build(name="Garmen Jakarta", email="sales@gj.example", lead_time_days=9)
    before = _suppliers()

    # when
    taken = admin_client.post(url, _supplier_form(new, name="Konveksi Bandung"))
    unrefused = _suppliers()
    added = admin_client.post(url, _supplier_form(new))

    # then
    assert taken.status_code == 200
    assert taken.context["adminform"].form.errors == {
        "name": ["A supplier named Konveksi Bandung already exists."]
    }
    assert unrefused == before
    assert added.status_code == 302
    created = Supplier.objects.get(name="Garmen Jakarta")
    assert (created.email, created.lead_time_days, created.is_active) == (
        "sales@gj.example",
        9,
        True,
    )
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_id) == (ADDITION, str(created.pk))


# --- the purchasing services the admin calls -------------------------------------------------


def test_a_draft_placed_meanwhile_keeps_its_header(hoodie, supplier, default_warehouse):
    # given a draft, placed while staff were editing it
    draft = purchase(supplier, (hoodie, 4, in_days(5)), place=False)
    purchasing.purchase_order_place(purchase_order_id=draft.pk)
    before = purchasing_state()

    # when
    with pytest.raises(InvalidTransition) as refused:
        purchasing.purchase_order_update(
            purchase_order_id=draft.pk, changes={"reference": "SO-1"}, draft_only=True
        )
    with pytest.raises(InvalidTransition) as fixed:
        purchasing.purchase_order_update(
            purchase_order_id=draft.pk, changes={"supplier": SupplierFactory()}
        )
    noted = purchasing.purchase_order_update(
        purchase_order_id=draft.pk, changes={"reference": " SO-1 ", "notes": "By phone."}
    )

    # then
    assert refused.value.message == (
        f"{draft.number} was placed or cancelled meanwhile: nothing was saved."
    )
    assert (fixed.value.message, fixed.value.fields) == (
        f"{draft.number} is ordered: its supplier cannot be changed.",
        {"supplier": "read-only"},
    )
    assert (noted.reference, noted.notes) == ("SO-1", "By phone.")
    draft.refresh_from_db()
    assert (draft.reference, draft.notes, draft.supplier) == ("SO-1", "By phone.", supplier)
    assert purchasing_state() == before


def test_lines_change_is_all_or_none_and_names_the_refused_item(
    hoodie, supplier, django_capture_on_commit_callbacks
):
    # given an order of two lines, the caps all delivered, and a line of another order
    cap = ProductFactory(sku="CAP")
    order = purchase(supplier, (hoodie, 6, in_days(2)), (cap, 4, in_days(3)))
    hoodies, caps = order.lines.order_by("pk")
    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(4, sku="CAP")])
    elsewhere = purchase(supplier, (hoodie, 1, in_days(2))).lines.get()
    before = purchasing_state()

    # when
    refusals = []
    for reschedule, cancel in (
        ([(hoodies.pk, in_days(9))], [caps.pk]),
        ([(hoodies.pk, in_days(-1))], []),
        ([(hoodies.pk, in_days(9))], [hoodies.pk]),
        ([], [elsewhere.pk]),
    ):
        with pytest.raises(BackorderError) as refused:
            purchasing.purchase_order_lines_change(
                purchase_order_id=order.pk, reschedule=reschedule, cancel=cancel
            )
        refusals.append((refused.value.message, refused.value.fields))
    unchanged = purchasing_state()
    with django_capture_on_commit_callbacks() as callbacks:
        done = purchasing.purchase_order_lines_change(
            purchase_order_id=order.pk, reschedule=[(hoodies.pk, in_days(9))]
        )

    # then
    assert refusals == [
        ("Nothing of this line is still to arrive.", {"cancel[0]": "nothing to arrive"}),
        (
            "The expected date cannot be in the past.",
            {"reschedule[0].expected_date": f"on or after {today()}"},
        ),
        ("Either move the date or cancel the rest, not both.", {"cancel[0]": "named twice"}),
        ("That line is not on this purchase order.", {"cancel[0]": "unknown"}),
    ]
    assert unchanged == before
    assert [
        (c.line.pk, c.previous_expected_date, c.line.expected_date, c.cancelled) for c in done
    ] == [(hoodies.pk, in_days(2), in_days(9), 0)]
    assert len(callbacks) == 1


def test_reschedule_shows_a_line_closed_meanwhile_next_to_that_line(admin_client, hoodie, supplier):
    # given the page was opened, then every hoodie arrived; the caps are still to come
    cap = ProductFactory(sku="CAP")
    order = purchase(supplier, (hoodie, 5, in_days(2)), (cap, 4, in_days(3)))
    hoodies, caps = order.lines.order_by("pk")
    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(5, sku=hoodie.sku)])
    before = purchasing_state()

    # when the page's ticks arrive
    response = admin_client.post(
        reverse(RESCHEDULE, args=[order.pk]),
        {f"expected_date_{caps.pk}": iso(in_days(6)), f"cancel_{hoodies.pk}": "on"},
    )

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {
        f"cancel_{hoodies.pk}": ["Nothing of this line is still to arrive."]
    }
    assert purchasing_state() == before
