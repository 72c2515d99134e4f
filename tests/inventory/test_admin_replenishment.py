"""Replenishment in the backoffice: the suggestions report and its draft action, each
product's forecast chart, the reorder figures on the product page, automatic ordering on
the supplier page, and spikes on the dashboard."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from inventory import replenishment
from inventory.models import DemandHistory, PurchaseOrder, PurchaseOrderLine, Supplier
from tests.factories import ProductFactory, SupplierFactory, SupplierProductFactory
from tests.helpers import admin_product_form, in_days, place, today
from tests.inventory.test_admin_purchasing import _supplier_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def shirt(default_warehouse):
    product = ProductFactory(sku="SHIRT", name="Batik shirt", price=Decimal("50000"))
    DemandHistory.objects.bulk_create(
        DemandHistory(product=product, day=today() - timedelta(days=n), quantity=10)
        for n in range(1, 121)
    )
    SupplierProductFactory(
        supplier=SupplierFactory(name="Tenun", lead_time_days=10),
        product=product,
        unit_cost=Decimal("20000"),
    )
    return product


def chart_of(page: str) -> str:
    """The report's chart figure: server-drawn SVG, no script in it."""
    return page[page.index('<figure class="report-chart"') : page.index("</figure>")]


def member(client, role: str):
    from tests.config.test_roles import member_of

    user = member_of(role)
    client.force_login(user)
    return user


def test_the_suggestions_report_lists_what_to_order_with_a_chart(admin_client, shirt):
    (plan,) = replenishment.suggestions()

    response = admin_client.get(reverse("admin:report_suggestions"))

    assert response.status_code == 200
    page = response.content.decode()
    assert '<input type="checkbox" name="sku" value="SHIRT"' in page
    chart = chart_of(page)
    assert "<svg" in chart and "<script" not in chart
    assert "Units suggested, by supplier" in page
    assert f">{plan.quantity}</td>" in page
    assert in_days(10).isoformat() in page
    assert "Draft purchase orders for the selected" in page


def test_the_suggestions_export_as_csv(admin_client, shirt):
    (plan,) = replenishment.suggestions()
    response = admin_client.get(reverse("admin:report_suggestions") + "?_export=csv")
    assert response.status_code == 200
    header, row = response.content.decode().strip().splitlines()
    assert header.startswith("SKU,Product,Position,Reorder point,Safety stock")
    assert row.startswith(f"SHIRT,Batik shirt,0,{plan.plan.reorder_point},")


def test_drafting_the_selected_suggestions(admin_client, shirt):
    response = admin_client.post(reverse("admin:report_suggestions"), {"sku": ["SHIRT"]})

    assert response.status_code == 302
    assert response["Location"].endswith("?status__exact=draft")
    (purchase_order,) = PurchaseOrder.objects.all()
    assert (purchase_order.status, purchase_order.origin) == ("draft", "suggestions")
    followed = admin_client.get(response["Location"])
    assert "Drafted <a href=" in followed.content.decode()
    again = admin_client.post(reverse("admin:report_suggestions"), {"sku": ["SHIRT"]})
    assert again.status_code == 302
    assert PurchaseOrderLine.objects.count() == 1
    notice = admin_client.get(again["Location"]).content.decode()
    assert "Nothing drafted: drafts or open orders already cover the selected needs." in notice


def test_drafting_with_nothing_selected_says_so(admin_client, shirt):
    response = admin_client.post(reverse("admin:report_suggestions"), {}, follow=True)
    assert "Select the suggestions to draft." in response.content.decode()
    assert not PurchaseOrder.objects.exists()


def test_a_read_only_user_sees_suggestions_but_cannot_draft(client, shirt):
    member(client, "read_only")
    page = client.get(reverse("admin:report_suggestions")).content.decode()
    assert "SHIRT" in page
    assert 'name="sku"' not in page
    assert "Draft purchase orders" not in page
    response = client.post(reverse("admin:report_suggestions"), {"sku": ["SHIRT"]})
    assert response.status_code == 403
    assert not PurchaseOrder.objects.exists()


def test_a_purchasing_user_may_draft(client, shirt):
    member(client, "purchasing")
    response = client.post(reverse("admin:report_suggestions"), {"sku": ["SHIRT"]})
    assert response.status_code == 302
    assert PurchaseOrder.objects.get().lines.get().product == shirt


def test_the_forecast_chart_of_a_product(admin_client, shirt, hoodie):
    response = admin_client.get(reverse("admin:report_forecast", args=["SHIRT"]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Demand and forecast: SHIRT Batik shirt" in page
    for series in ("Ordered", "Refused", "Out of stock", "Forecast", "Low (10%)", "Reorder point"):
        assert series in page
    assert "Projected stock" in page
    assert "<script" not in chart_of(page)
    assert in_days(1).isoformat() in page
    assert "1200 units asked for, 0 of them refused" not in page  # 90 days shown, not 120
    assert "The last 90 days: 900 units asked for, 0 of them refused" in page
    csv = admin_client.get(reverse("admin:report_forecast", args=["SHIRT"]) + "?_export=csv")
    assert csv.content.decode().splitlines()[0] == (
        "Day,Expected,Low (10%),High (90%),Scheduled supply,Projected stock"
    )
    assert admin_client.get(reverse("admin:report_forecast", args=["NOPE"])).status_code == 404


def test_the_product_page_shows_the_reorder_figures_and_how(admin_client, shirt):
    response = admin_client.get(reverse("admin:inventory_product_change", args=[shirt.pk]))
    page = response.content.decode()
    assert "Reorder figures" in page
    assert "Inventory position</th><td>0 = free 0 + on order 0 + drafts 0 - backordered 0" in page
    assert "z * sqrt(L * sd_d^2 + d^2 * sd_L^2)" in page
    assert "from Tenun, likely by " + in_days(10).isoformat() in page


def test_fixing_a_reorder_point_by_hand_on_the_product(admin_client, shirt):
    response = admin_client.post(
        reverse("admin:inventory_product_change", args=[shirt.pk]),
        admin_product_form(shirt, reorder_point=5, service_level="0.990"),
    )
    assert response.status_code == 302
    shirt.refresh_from_db()
    assert (shirt.reorder_point, shirt.service_level) == (5, Decimal("0.990"))
    (plan,) = replenishment.suggestions()
    assert plan.plan.reorder_point == 5
    assert plan.plan.fixed == ("service level", "reorder point")


def test_a_service_level_out_of_range_is_a_form_error(admin_client, shirt):
    response = admin_client.post(
        reverse("admin:inventory_product_change", args=[shirt.pk]),
        admin_product_form(shirt, service_level="1.5"),
    )
    assert response.status_code == 200
    shirt.refresh_from_db()
    assert shirt.service_level is None


def test_auto_order_needs_a_daily_cap(admin_client, supplier):
    url = reverse("admin:inventory_supplier_change", args=[supplier.pk])
    refused = admin_client.post(url, _supplier_form(supplier, auto_order="on"))
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors == {
        "auto_order_daily_cap": ["Automatic ordering needs a daily spend cap."]
    }
    assert Supplier.objects.get(pk=supplier.pk).auto_order is False
    saved = admin_client.post(
        url,
        _supplier_form(supplier, auto_order="on", auto_order_daily_cap="2500000", language="id"),
    )
    assert saved.status_code == 302
    supplier.refresh_from_db()
    assert (supplier.auto_order, supplier.auto_order_daily_cap, supplier.language) == (
        True,
        Decimal("2500000.00"),
        "id",
    )


def test_the_dashboard_shows_a_spike(admin_client, shirt):
    replenishment.forecasts_refresh()
    place((shirt, 90))
    (alert,) = replenishment.spikes_check()

    page = admin_client.get(reverse("admin:index")).content.decode()

    assert "Demand spikes" in page
    assert "<strong>SHIRT</strong> Batik shirt</a>: 90 units asked for since" in page
    assert f"{alert.backlog_units} units would wait at current supply" in page
