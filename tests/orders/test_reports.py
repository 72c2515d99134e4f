"""The backoffice's figures on a known shop, worked out by hand: the dashboard, the backlog
(admin page, CSV and `GET /api/v1/reports/backlog`), ageing and money held up."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory.models import Product
from inventory.purchasing import (
    PurchaseLineRequest,
    ReceiptRequest,
    purchase_order_create,
    purchase_order_receive,
)
from inventory.stock import stock_receive
from notifications.models import Notification
from orders import reports
from orders.models import EtaChange, Order, OrderLine
from orders.queue import product_refresh
from orders.services import LineRequest, order_place, shipment_create
from tests.api.conftest import token_client
from tests.factories import ProductFactory, StaffFactory, SupplierFactory, SupplierProductFactory

pytestmark = pytest.mark.django_db


def _age(order: Order, days: int, first_promised_in: int) -> None:
    """Make `order` placed `days` ago, its lines first promised `first_promised_in` days
    from today (negative: in the past)."""
    today = timezone.localdate()
    placed = timezone.now() - timedelta(days=days)
    Order.objects.filter(pk=order.pk).update(created_at=placed)
    OrderLine.objects.filter(order=order).update(
        queued_at=placed, first_promised_eta=today + timedelta(days=first_promised_in)
    )


@pytest.fixture
def shop(hoodie):
    """Hoodies at 100,000: 2 in stock. A wants 3 (40 days ago, first promised 26 days ago),
    B 2 (10 days ago, promised in 4 days), C 1 (today, promised in 14). Caps at 50,000, none
    in stock: D wants 2 (70 days ago, promised 56 days ago). Konveksi supplies hoodies at
    40,000 and has 1 due in 5 days and 1 in 20; Topi Jaya supplies caps, cost unknown."""
    today = timezone.localdate()
    cap = ProductFactory(sku="CAP", name="Logo Cap", price=Decimal("50000"))
    konveksi = SupplierFactory(name="Konveksi")
    topi = SupplierFactory(name="Topi Jaya")
    SupplierProductFactory(supplier=konveksi, product=hoodie, unit_cost=Decimal("40000"))
    SupplierProductFactory(supplier=topi, product=cap, unit_cost=None)
    stock_receive(product=hoodie, quantity=2)
    orders = {}
    for name, sku, quantity, days, promised in [
        ("A", "HOODIE-SE", 3, 40, -26),
        ("B", "HOODIE-SE", 2, 10, 4),
        ("C", "HOODIE-SE", 1, 0, 14),
        ("D", "CAP", 2, 70, -56),
    ]:
        orders[name] = order_place(
            email=f"{name.lower()}@example.com", name=name, lines=[LineRequest(sku, quantity)]
        )
        _age(orders[name], days, promised)
    purchase_order_create(
        supplier=konveksi,
        lines=[
            PurchaseLineRequest("HOODIE-SE", 1, today + timedelta(days=5)),
            PurchaseLineRequest("HOODIE-SE", 1, today + timedelta(days=20)),
        ],
    )
    for product in (hoodie, cap):
        product_refresh(product_id=product.pk, cause=EtaChange.Cause.PO_CREATED)
    return orders


def test_the_backlog_by_product(shop):
    today = timezone.localdate()

    with CaptureQueriesContext(connection) as queries:
        rows = reports.backlog()
        reports.backlog_orders(rows)

    assert len(queries) == 4
    assert [
        (
            row.sku,
            row.backordered_units,
            row.backordered_lines,
            row.backordered_orders,
            row.value_waiting,
            row.oldest_waiting_days,
            row.next_supply_date,
            row.next_supply_units,
            row.scheduled_units,
            row.shortfall_units,
            row.last_eta,
        )
        for row in rows
    ] == [
        # A's third hoodie, B's two, C's one; 2 coming; the last (C) ships with the day-20 one.
        ("HOODIE-SE", 4, 3, 3, Decimal("400000"), 40, today + timedelta(days=5), 1, 2, 2,
         today + timedelta(days=20)),
        # D's caps: no purchase order, so the supplier's 10-day lead time.
        ("CAP", 2, 1, 1, Decimal("100000"), 70, None, 0, 0, 2, today + timedelta(days=10)),
    ]  # fmt: skip


def test_the_backlog_over_the_api_is_the_contracts_body(shop):
    today = timezone.localdate()
    client = token_client(StaffFactory(is_superuser=False, username="nobody"))
    reader = StaffFactory(is_superuser=False, username="reader")
    reader.user_permissions.add(*_permissions("orders.view_orderline"))

    refused = client.get("/api/v1/reports/backlog")
    response = token_client(reader).get("/api/v1/reports/backlog")

    assert refused.status_code == 403
    assert response.status_code == 200
    body = response.json()
    assert body["results"][0] == {
        "sku": "HOODIE-SE",
        "name": "Special Edition Hoodie",
        "backordered_units": 4,
        "backordered_lines": 3,
        "value_waiting": "400000.00",
        "oldest_waiting_days": 40,
        "next_supply_date": (today + timedelta(days=5)).isoformat(),
        "next_supply_units": 1,
        "shortfall_units": 2,
        "last_eta": (today + timedelta(days=20)).isoformat(),
    }
    assert [row["sku"] for row in body["results"]] == ["HOODIE-SE", "CAP"]
    assert body["results"][1]["next_supply_date"] is None


def _permissions(*names: str):
    from django.contrib.auth.models import Permission

    for name in names:
        app_label, codename = name.split(".")
        yield Permission.objects.get(content_type__app_label=app_label, codename=codename)


def test_ageing_by_product_and_by_supplier_since_ordered_and_past_promise(shop):
    assert [(row.key, row.lines) for row in reports.ageing()] == [
        ("CAP", {"0-7": 0, "8-14": 0, "15-30": 0, "31-60": 0, "60+": 1}),
        ("HOODIE-SE", {"0-7": 1, "8-14": 1, "15-30": 0, "31-60": 1, "60+": 0}),
    ]
    assert [
        (row.key, row.total_lines, row.total_units) for row in reports.ageing(by="supplier")
    ] == [
        ("Topi Jaya", 1, 2),
        ("Konveksi", 3, 4),
    ]
    # Past the first promise: A by 26 days, D by 56; B and C are not late.
    assert [(row.key, row.lines) for row in reports.ageing(measure="late")] == [
        ("CAP", {"0-7": 0, "8-14": 0, "15-30": 0, "31-60": 1, "60+": 0}),
        ("HOODIE-SE", {"0-7": 0, "8-14": 0, "15-30": 1, "31-60": 0, "60+": 0}),
    ]


def test_money_held_up(shop):
    with CaptureQueriesContext(connection) as queries:
        held = reports.money_held_up()

    assert len(queries) == 3
    assert (held.customer_value_waiting, held.customer_orders_waiting) == (Decimal("500000"), 4)
    [konveksi] = held.suppliers
    assert (konveksi.name, konveksi.purchase_orders, konveksi.units, konveksi.value) == (
        "Konveksi",
        1,
        2,
        Decimal("80000"),
    )
    assert konveksi.units_without_cost == 0
    assert held.open_purchase_value == Decimal("80000")


def test_the_dashboard_figures_in_a_fixed_number_of_queries(shop, default_warehouse):
    ProductFactory(sku="GONE", backorder_policy=Product.BackorderPolicy.DENY)
    with pytest.raises(Exception):  # noqa: B017 - the refusal itself is tested elsewhere
        order_place(email="e@example.com", name="E", lines=[LineRequest("GONE", 3)])
    Notification.objects.filter(order=shop["B"], kind=Notification.Kind.CONFIRMATION).update(
        status=Notification.Status.FAILED
    )

    with CaptureQueriesContext(connection) as queries:
        figures = reports.dashboard()

    assert len(queries) == 8
    assert (figures.backordered_lines, figures.backordered_units, figures.value_waiting) == (
        4,
        6,
        Decimal("500000"),
    )
    assert (figures.oldest_order_number, figures.oldest_waiting_days) == (shop["D"].number, 70)
    assert figures.past_first_promise == 2  # A and D
    assert (figures.purchase_lines_overdue, figures.purchase_lines_due_this_week) == (0, 1)
    assert figures.out_of_stock_with_demand == 2  # hoodies all allocated, no caps at all
    assert figures.emails_failed == 1
    assert (figures.refused_this_week_units, figures.refused_this_week_requests) == (3, 1)


# The pages ---------------------------------------------------------------------------------


def test_the_dashboard_is_the_admin_index_with_links_into_the_lists(admin_client, shop):
    page = admin_client.get(reverse("admin:index"))

    assert page.status_code == 200
    text = page.content.decode()
    assert "<strong>4</strong> lines waiting" in text
    assert "6 units, Rp500,000" in text
    assert "<strong>70 days</strong> oldest wait" in text
    assert f'href="{reverse("admin:orders_orderline_changelist")}?promise=past"' in text
    # The link's list shows the same lines the figure counts.
    listed = admin_client.get(reverse("admin:orders_orderline_changelist"), {"promise": "past"})
    assert sorted(line.order.name for line in listed.context["cl"].result_list) == ["A", "D"]


def test_the_dashboard_costs_the_same_queries_for_a_bigger_shop(admin_client, shop, hoodie):
    def queries() -> int:
        admin_client.get(reverse("admin:index"))
        with CaptureQueriesContext(connection) as captured:
            admin_client.get(reverse("admin:index"))
        return len(captured)

    before = queries()
    for index in range(5):
        cap = ProductFactory(sku=f"MORE-{index}")
        order_place(email="x@example.com", name="X", lines=[LineRequest(cap.sku, 2)])
    assert queries() == before


def test_the_backlog_page_filters_sorts_exports_and_draws(admin_client, shop):
    url = reverse("admin:report_backlog")

    page = admin_client.get(url)
    filtered = admin_client.get(url, {"q": "cap"})
    by_age = admin_client.get(url, {"sort": "-oldest_waiting_days"})
    exported = admin_client.get(url, {"q": "hood", "_export": "csv"})

    assert page.status_code == 200
    assert [row.record.sku for row in page.context["table"].rows] == ["HOODIE-SE", "CAP"]
    assert [row.record.sku for row in filtered.context["table"].rows] == ["CAP"]
    assert [row.record.sku for row in by_age.context["table"].rows] == ["CAP", "HOODIE-SE"]
    text = page.content.decode()
    chart = text[text.index('<figure class="report-chart"') : text.index("</figure>")]
    assert "<svg" in chart and "<script" not in chart
    assert ">HOODIE-SE<" in chart and ">CAP<" in chart
    assert "Rp400,000" in text
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert exported["Content-Disposition"].startswith('attachment; filename="backlog-')
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert rows[0][:6] == ["SKU", "Product", "Units waiting", "Lines", "Orders", "Value waiting"]
    assert rows[1][:6] == ["HOODIE-SE", "Special Edition Hoodie", "4", "3", "3", "400000.00"]
    assert len(rows) == 2


def test_the_ageing_and_money_pages(admin_client, shop):
    ageing = admin_client.get(reverse("admin:report_ageing"), {"by": "supplier", "measure": "late"})
    money = admin_client.get(reverse("admin:report_money"))

    assert ageing.status_code == money.status_code == 200
    assert [row.record.key for row in ageing.context["table"].rows] == ["Topi Jaya", "Konveksi"]
    assert "Customers' money waiting on backorders: <strong>Rp500,000</strong> over 4 orders." in (
        money.content.decode()
    )
    assert [row.record.name for row in money.context["table"].rows] == ["Konveksi"]


def test_an_empty_shop_says_what_will_appear(admin_client, db):
    for name in ("backlog", "ageing", "money"):
        page = admin_client.get(reverse(f"admin:report_{name}"))
        assert page.status_code == 200
        assert "report-empty" in page.content.decode()
    assert (
        "Nothing is waiting" in admin_client.get(reverse("admin:report_backlog")).content.decode()
    )


def test_reports_need_the_view_permission(client, shop):
    client.force_login(StaffFactory(is_superuser=False))

    for name in ("backlog", "ageing", "money"):
        assert client.get(reverse(f"admin:report_{name}")).status_code == 403
    assert "lines waiting" not in client.get(reverse("admin:index")).content.decode()


def test_eta_performance_compares_shipments_with_first_promises(admin_client, shop):
    # given: three tees shipped today, first promised 3 days ago, in 2 days and today
    tee = ProductFactory(sku="TEE", name="Logo Tee")
    SupplierProductFactory(supplier=SupplierFactory(name="Kaos"), product=tee)
    stock_receive(product=tee, quantity=3)
    for name, promised in (("E", -3), ("F", 2), ("G", 0)):
        order = order_place(email=f"{name}@example.com", name=name, lines=[LineRequest("TEE", 1)])
        _age(order, 5, promised)
        shipment_create(order=order, lines=[(order.lines.get().pk, 1)])
    # and Konveksi's first hoodie arrives today, 5 days early
    purchase_order = shop["A"].lines.get().product.purchase_order_lines.first().purchase_order
    purchase_order_receive(
        purchase_order_id=purchase_order.pk,
        lines=[
            ReceiptRequest(quantity=1, line_id=purchase_order.lines.order_by("expected_date")[0].pk)
        ],
    )

    # when
    since = timezone.localdate() - timedelta(days=90)
    performance = reports.eta_performance(since=since)
    by_supplier = reports.eta_performance(since=since, by="supplier")
    page = admin_client.get(reverse("admin:report_eta"), {"days": "30"})

    # then
    assert performance.slips == {
        "on time": 2,
        "1-2 days late": 0,
        "3-7 days late": 1,
        "8-14 days late": 0,
        "15+ days late": 0,
    }
    [row] = [row for row in performance.rows if row.sku == "TEE"]
    assert (row.shipped, row.on_time, row.average_days_late, row.worst_days_late) == (3, 2, 3, 3)
    assert [(r.sku, r.shipped) for r in by_supplier.rows if r.shipped] == [("Kaos", 3)]
    [konveksi] = performance.suppliers
    assert (konveksi.name, konveksi.receipts, konveksi.on_time_rate) == ("Konveksi", 1, 1.0)
    assert konveksi.average_delay_days == -5
    text = page.content.decode()
    assert page.status_code == 200
    assert "<td >TEE</td>" in text and "<td >67%</td>" in text
    assert "Supplier deliveries against the dates they promised" in text


def test_fill_rate_and_refused_demand_in_words(admin_client, shop, default_warehouse):
    tee = ProductFactory(sku="TEE", name="Logo Tee")
    stock_receive(product=tee, quantity=1)
    order_place(email="t@example.com", name="T", lines=[LineRequest("TEE", 1)])
    ProductFactory(sku="GONE", name="Gone", backorder_policy=Product.BackorderPolicy.DENY)
    with pytest.raises(Exception):  # noqa: B017 - the refusal is the point, tested elsewhere
        order_place(email="e@example.com", name="E", lines=[LineRequest("GONE", 3)])

    rows = reports.fill_rate(since=timezone.localdate() - timedelta(days=30))
    page = admin_client.get(reverse("admin:report_fill"), {"days": "30", "_export": "csv"})

    assert [(r.sku, r.lines, r.filled, r.fill_rate, r.refused_units) for r in rows] == [
        ("CAP", 1, 0, 0.0, 0),
        ("HOODIE-SE", 3, 0, 0.0, 0),
        ("TEE", 1, 1, 1.0, 0),
        ("GONE", 0, 0, None, 3),
    ]
    assert rows[-1].reasons == "out of stock, not sold on backorder: 3"
    exported = list(csv.reader(io.StringIO(page.content.decode())))
    assert exported[-1] == [
        "GONE",
        "Gone",
        "0",
        "0",
        "",
        "1",
        "3",
        "out of stock, not sold on backorder: 3",
    ]


def test_the_money_report_filters_suppliers_and_the_line_list_one_product(admin_client, shop):
    other = SupplierFactory(name="Tenun")
    purchase_order_create(
        supplier=other,
        lines=[
            PurchaseLineRequest("CAP", 4, timezone.localdate() + timedelta(days=3), Decimal("9"))
        ],
    )

    everyone = admin_client.get(reverse("admin:report_money"))
    tenun = admin_client.get(reverse("admin:report_money"), {"q": "ten"})
    caps = admin_client.get(reverse("admin:orders_orderline_changelist"), {"sku": "CAP"})

    assert [row.record.name for row in everyone.context["table"].rows] == ["Konveksi", "Tenun"]
    assert [(r.record.name, r.record.value) for r in tenun.context["table"].rows] == [
        ("Tenun", Decimal("36.00"))
    ]
    # the customers' money waiting is the whole shop's, whichever suppliers are shown
    assert tenun.context["held"].customer_value_waiting == Decimal("500000")
    assert [line.order.name for line in caps.context["cl"].result_list] == ["D"]
