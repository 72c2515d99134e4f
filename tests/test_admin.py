import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from inventory.models import Allocation, Stock, StockMovement
from inventory.selectors import stock_drift
from inventory.stock import stock_receive
from notifications.models import Notification
from orders.models import Order, OrderEvent, RefusedDemand, Shipment, ShipmentLine
from orders.services import LineRequest, order_place, shipment_create
from tests.factories import ProductFactory, StaffFactory
from tests.state import snapshot

CHANGE_STOCK = "admin:inventory_stock_change_stock"


def post_change_stock(client, product, warehouse, kind, quantity, **text):
    """Submit the "Receive or adjust stock" form."""
    data = {"product": product.pk, "warehouse": warehouse.pk, "kind": kind, "quantity": quantity}
    return client.post(reverse(CHANGE_STOCK), {**data, **text})


def inline_management_data(client, url: str) -> dict[str, str]:
    """Management forms of a change page's inlines, empty: the post changes no related row."""
    data = {}
    for inline in client.get(url).context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


def place(product, quantity: int) -> Order:
    return order_place(
        email="ayu@example.com", name="Ayu", lines=[LineRequest(product.sku, quantity)]
    )


@pytest.fixture
def shop(hoodie, default_warehouse, superuser):
    """A row in every admin table: stock, orders, a shipment, refused demand."""
    stock_receive(product=hoodie, quantity=3, actor=superuser)
    shipped = place(hoodie, 1)
    shipment_create(order=shipped, lines=[(shipped.lines.get().pk, 1)], tracking="JNE-1")
    place(hoodie, 4)
    RefusedDemand.objects.create(product=hoodie, quantity=2, reason="out_of_stock")
    return hoodie


def test_every_changelist_renders(admin_client, shop):
    # given
    assert Shipment.objects.exists()
    assert ShipmentLine.objects.exists()
    assert Allocation.objects.exists()
    models = list(admin.site._registry)
    assert len(models) >= 11

    for model in models:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")

        # when
        response = admin_client.get(url)

        # then
        assert response.status_code == 200, url


def test_every_change_page_renders(admin_client, shop):
    for model in admin.site._registry:
        opts = model._meta
        obj = model._default_manager.order_by("pk").first()
        if obj is None:
            continue
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])

        # when
        response = admin_client.get(url)

        # then
        assert response.status_code == 200, url


def test_product_change_page_renders(admin_client, shop):
    # when
    response = admin_client.get(reverse("admin:inventory_product_change", args=[shop.pk]))

    # then
    assert response.status_code == 200
    assert b"HOODIE-SE" in response.content


def test_change_stock_form_renders(admin_client, hoodie):
    # when
    response = admin_client.get(reverse(CHANGE_STOCK), {"product": hoodie.pk})

    # then
    assert response.status_code == 200
    assert response.context["form"].initial["product"] == str(hoodie.pk)


def test_change_stock_receipt(admin_client, superuser, hoodie, default_warehouse):
    # when
    response = post_change_stock(
        admin_client, hoodie, default_warehouse, "receipt", 7, reference="DN-42"
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:inventory_stock_changelist")
    stock = Stock.objects.get(product=hoodie, warehouse=default_warehouse)
    assert (stock.on_hand, stock.allocated) == (7, 0)
    movement = StockMovement.objects.get()
    assert (movement.kind, movement.quantity, movement.reference, movement.actor) == (
        "receipt",
        7,
        "DN-42",
        superuser,
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "HOODIE-SE at main: +7 (Goods received)."
    ]
    assert stock_drift() == []


def test_change_stock_adjustment_below_allocated_shows_error(
    admin_client, hoodie, default_warehouse
):
    # given
    stock_receive(product=hoodie, quantity=5)
    place(hoodie, 3)
    before = snapshot()

    # when
    response = post_change_stock(
        admin_client, hoodie, default_warehouse, "adjustment", -3, reason="Lost"
    )

    # then
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["On hand would be 2 but 3 is allocated."]
    assert b"On hand would be 2 but 3 is allocated." in response.content
    assert snapshot() == before
    assert stock_drift() == []


def test_change_stock_adjustment_without_reason_shows_error(
    admin_client, hoodie, default_warehouse
):
    # given
    stock_receive(product=hoodie, quantity=5)
    before = snapshot()

    # when
    response = post_change_stock(
        admin_client, hoodie, default_warehouse, "adjustment", -1, reason=""
    )

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["Say why the stock changes."]}
    assert snapshot() == before


def test_change_stock_needs_permission(client, hoodie, default_warehouse):
    # given
    clerk = StaffFactory(username="clerk", is_superuser=False)
    client.force_login(clerk)
    before = snapshot()

    # when
    get = client.get(reverse(CHANGE_STOCK))
    post = post_change_stock(client, hoodie, default_warehouse, "receipt", 7)

    # then
    assert get.status_code == 403
    assert post.status_code == 403
    assert snapshot() == before


def test_orderline_action_cancel_backordered(admin_client, superuser, hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=2)
    partly = place(hoodie, 5).lines.get()
    waiting = place(hoodie, 1).lines.get()  # fully backordered: the stock is taken
    stock = Stock.objects.get(product=hoodie)

    # when
    response = admin_client.post(
        reverse("admin:orders_orderline_changelist"),
        {
            "action": "cancel_backordered",
            "_selected_action": [partly.pk, waiting.pk],
            "index": 0,
            "apply": "1",
            "reason": "Supplier  discontinued the colour",
        },
    )

    # then
    assert response.status_code == 302
    partly.refresh_from_db()
    waiting.refresh_from_db()
    assert (partly.status, partly.allocated, partly.backordered, partly.cancelled) == (
        "allocated",
        2,
        0,
        3,
    )
    assert (waiting.status, waiting.backordered, waiting.cancelled) == ("cancelled", 0, 1)
    stock.refresh_from_db()
    assert (stock.on_hand, stock.allocated) == (2, 2)
    assert list(
        OrderEvent.objects.filter(kind=OrderEvent.Kind.CANCELLED)
        .order_by("pk")
        .values_list("line_id", "quantity", "message", "actor")
    ) == [
        (partly.pk, 3, "Supplier discontinued the colour", superuser.pk),
        (waiting.pk, 1, "Supplier discontinued the colour", superuser.pk),
    ]
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Cancelled 4 unit(s)."]
    assert stock_drift() == []


def test_orderline_cancel_asks_for_the_reason_the_customer_reads(
    admin_client, hoodie, default_warehouse
):
    # given
    line = place(hoodie, 2).lines.get()
    url = reverse("admin:orders_orderline_changelist")
    chosen = {"action": "cancel_all", "_selected_action": [line.pk], "index": 0}
    before = snapshot()

    # when: the action first asks; a blank reason is refused
    asked = admin_client.post(url, chosen)
    blank = admin_client.post(url, {**chosen, "apply": "1", "reason": "  "})
    unchanged = snapshot()
    done = admin_client.post(url, {**chosen, "apply": "1", "reason": "Recalled by the maker"})

    # then
    assert asked.status_code == 200
    assert 'name="reason"' in asked.content.decode()
    assert line.order.number in asked.content.decode()
    assert blank.status_code == 200
    assert "This field is required." in blank.content.decode()
    assert unchanged == before
    assert done.status_code == 302
    line.refresh_from_db()
    assert (line.status, line.cancelled) == ("cancelled", 2)
    notice = Notification.objects.get(kind=Notification.Kind.CANCELLED)
    assert (notice.data["reason"], notice.data["by_customer"]) == ("Recalled by the maker", False)


def test_orderline_action_cancel_backordered_skips_allocated_lines(
    admin_client, hoodie, default_warehouse
):
    # given
    stock_receive(product=hoodie, quantity=2)
    line = place(hoodie, 2).lines.get()
    before = snapshot()

    # when
    response = admin_client.post(
        reverse("admin:orders_orderline_changelist"),
        {
            "action": "cancel_backordered",
            "_selected_action": [line.pk],
            "index": 0,
            "apply": "1",
            "reason": "Out of production",
        },
    )

    # then
    assert response.status_code == 302
    assert snapshot() == before
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Cancelled 0 unit(s)."]


def test_stock_movement_admin_is_read_only(admin_client, hoodie, default_warehouse):
    # given
    movement = stock_receive(product=hoodie, quantity=5)
    model_admin = admin.site._registry[StockMovement]
    request = admin_client.get(reverse("admin:index")).wsgi_request
    before = snapshot()

    # when
    add = admin_client.get(reverse("admin:inventory_stockmovement_add"))
    add_post = admin_client.post(
        reverse("admin:inventory_stockmovement_add"),
        {"stock": movement.stock_id, "kind": "receipt", "quantity": 9},
    )
    change_post = admin_client.post(
        reverse("admin:inventory_stockmovement_change", args=[movement.pk]),
        {"stock": movement.stock_id, "kind": "receipt", "quantity": 9},
    )
    delete = admin_client.post(
        reverse("admin:inventory_stockmovement_delete", args=[movement.pk]), {"post": "yes"}
    )

    # then
    assert add.status_code == 403
    assert add_post.status_code == 403
    assert change_post.status_code == 403
    assert delete.status_code == 403
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_change_permission(request, movement) is False
    assert model_admin.has_delete_permission(request, movement) is False
    assert snapshot() == before
    assert StockMovement.objects.get().quantity == 5


def test_order_changelist_units_are_not_multiplied_by_the_line_status_filter(
    admin_client, hoodie, default_warehouse
):
    # given an order of two backordered lines: 2 + 3 units
    cap = ProductFactory()
    order_place(
        email="ayu@example.com",
        name="Ayu",
        lines=[LineRequest(hoodie.sku, 2), LineRequest(cap.sku, 3)],
    )
    url = reverse("admin:orders_order_changelist")

    # when
    unfiltered = admin_client.get(url)
    filtered = admin_client.get(url, {"lines__status__exact": "backordered"})

    # then
    assert [(o.total_units, o.total_backordered) for o in unfiltered.context["cl"].result_list] == [
        (5, 5)
    ]
    assert filtered.status_code == 200
    assert [(o.total_units, o.total_backordered) for o in filtered.context["cl"].result_list] == [
        (5, 5)
    ]


def test_stock_and_order_line_forms_are_view_only_so_staff_cannot_bypass_the_services(
    client, hoodie
):
    stock_receive(product=hoodie, quantity=2)
    order = order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 3)])
    stock = Stock.objects.get(product=hoodie)
    line = order.lines.get()
    client.force_login(StaffFactory())

    stock_form = client.post(
        reverse("admin:inventory_stock_change", args=[stock.pk]),
        {"on_hand": 100, "allocated": 0},
    )
    line_form = client.post(
        reverse("admin:orders_orderline_change", args=[line.pk]),
        {"allocated": 3, "backordered": 0},
    )

    assert (stock_form.status_code, line_form.status_code) == (403, 403)
    stock.refresh_from_db()
    line.refresh_from_db()
    assert (stock.on_hand, stock.allocated) == (2, 2)
    assert (line.allocated, line.backordered) == (2, 1)


def _order_page_queries(client, lines: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    products = [ProductFactory() for _ in range(lines)]
    order = order_place(
        email="many@example.com",
        name="Many Lines",
        lines=[LineRequest(product.sku, 1) for product in products],
    )
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert response.status_code == 200
    return len(queries)


def test_order_page_queries_do_not_grow_with_the_number_of_lines(client, default_warehouse):
    client.force_login(StaffFactory())

    assert _order_page_queries(client, 2) == _order_page_queries(client, 12)


def test_a_second_default_warehouse_is_a_form_error_not_a_crash(client, default_warehouse):
    from inventory.models import Warehouse

    client.force_login(StaffFactory())

    response = client.post(
        reverse("admin:inventory_warehouse_add"),
        {"code": "second", "name": "Second", "priority": 1, "is_default": "on"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert list(Warehouse.objects.values_list("code", flat=True)) == ["main"]


def test_order_list_shows_when_each_order_ships(admin_client, hoodie, default_warehouse):
    stock_receive(product=hoodie, quantity=1)
    order = order_place(
        email="a@example.com",
        name="A",
        lines=[LineRequest("HOODIE-SE", 1), LineRequest("HOODIE-SE", 1)],
    )

    response = admin_client.get(reverse("admin:orders_order_changelist"))

    [row] = response.context["cl"].result_list
    assert (row.pk, row.last_eta) == (order.pk, timezone.localdate() + timedelta(days=14))


def test_changing_priority_in_the_admin_goes_through_the_service(
    admin_client, hoodie, default_warehouse, django_capture_on_commit_callbacks
):
    order = place(hoodie, 1)
    url = reverse("admin:orders_order_change", args=[order.pk])

    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            url, {**inline_management_data(admin_client, url), "priority": "7"}
        )

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.priority == 7
    assert (
        OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.PRIORITY_CHANGED).count() == 1
    )
    assert len(callbacks) == 1

    response = admin_client.post(
        url, {**inline_management_data(admin_client, url), "priority": "5000"}
    )
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.priority == 7


def test_staff_see_the_shipping_address_and_can_switch_the_delivery_choice(
    admin_client, hoodie, default_warehouse
):
    # given: an order placed from the storefront, and one already partly shipped
    from notifications.models import Notification
    from orders.services import ShippingAddress, shipment_create

    address = ShippingAddress("Jl. Merdeka 1\nRT 01", "Jakarta", "10110", "Indonesia", "0812")
    order = order_place(
        email="ana@example.com", name="Ana", lines=[LineRequest(hoodie.sku, 1)], shipping=address
    )
    stock_receive(product=hoodie, quantity=1)
    shipped = order_place(email="bo@example.com", name="Bo", lines=[LineRequest(hoodie.sku, 2)])
    Order.objects.filter(pk=shipped.pk).update(ship_complete=False)
    stock_receive(product=hoodie, quantity=2)
    from orders.queue import product_reallocate

    product_reallocate(product_id=hoodie.pk)
    line = shipped.lines.get()
    line.refresh_from_db()
    shipment_create(order=shipped, lines=[(line.pk, line.allocated)], tracking="")

    # when
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    response = admin_client.post(
        "/admin/orders/order/",
        {"action": "ship_together", "_selected_action": [order.pk, shipped.pk]},
        follow=True,
    )

    # then
    assert "Jl. Merdeka 1<br>RT 01<br>10110 Jakarta<br>Indonesia" in page
    view_on_site = re.search(r'href="(/admin/r/[^"]+)" class="viewsitelink"', page).group(1)
    assert admin_client.get(view_on_site)["Location"].endswith(
        f"/orders/{order.number}/{order.token}/"
    )
    messages = [str(m) for m in response.context["messages"]]
    assert messages[0] == "Updated 1 order(s)."
    assert messages[1].startswith(f"{shipped.number}: Part of this order has shipped")
    order.refresh_from_db()
    shipped.refresh_from_db()
    assert (order.ship_complete, shipped.ship_complete) == (True, False)
    notice = Notification.objects.get(kind="shipping")
    assert (notice.order_id, notice.data["by_customer"]) == (order.pk, False)
