"""The orders backoffice: order and line pages, the cancel and delivery-choice actions,
priorities, and what the order list shows."""

import re
from datetime import timedelta

from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory.models import Stock
from inventory.selectors import stock_drift
from inventory.stock import stock_receive
from notifications.models import Notification
from orders.models import Order, OrderEvent
from orders.queue import product_reallocate
from orders.services import (
    LineRequest,
    ShippingAddress,
    order_line_cancel,
    order_place,
    shipment_create,
)
from tests.factories import ProductFactory, StaffFactory
from tests.state import snapshot


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


def _order_page_queries(client, lines: int) -> int:
    products = [ProductFactory() for _ in range(lines)]
    order = order_place(
        email="many@example.com",
        name="Many Lines",
        lines=[LineRequest(product.sku, 1) for product in products],
    )
    url = reverse("admin:orders_order_change", args=[order.pk])
    client.get(url)  # once to warm the caches (session, supply outlooks)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_order_page_queries_do_not_grow_with_the_number_of_lines(client, default_warehouse):
    client.force_login(StaffFactory())

    assert _order_page_queries(client, 2) == _order_page_queries(client, 12)


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


def test_the_order_list_and_page_show_what_the_order_is_worth(
    admin_client, hoodie, default_warehouse
):
    # given: three hoodies at 100,000, one shipped and one cancelled
    stock_receive(product=hoodie, quantity=1)
    order = place(hoodie, 3)
    line = order.lines.get()
    shipment_create(order=order, lines=[(line.pk, 1)])
    order_line_cancel(line_id=line.pk, quantity=1)

    # when
    listed = admin_client.get(reverse("admin:orders_order_changelist"))
    page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk]))

    # then
    [row] = listed.context["cl"].result_list
    assert row.total_value == 200000
    assert "Rp200,000" in listed.content.decode()
    assert (
        "Rp200,000 in all; Rp100,000 shipped; Rp100,000 to ship (Rp100,000 of it waiting for"
        " stock); Rp100,000 cancelled"
    ) in page.content.decode()


def test_changing_priority_in_the_admin_goes_through_the_service(
    admin_client, hoodie, default_warehouse, django_capture_on_commit_callbacks
):
    order = place(hoodie, 1)
    url = reverse("admin:orders_order_change", args=[order.pk])

    # A priority change needs its reason.
    refused = admin_client.post(url, {**inline_management_data(admin_client, url), "priority": "7"})
    assert refused.status_code == 200
    assert "Say why the priority changes." in refused.content.decode()
    order.refresh_from_db()
    assert order.priority == 0

    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            url,
            {
                **inline_management_data(admin_client, url),
                "priority": "7",
                "priority_reason": "  Replacement for a   lost parcel ",
            },
        )

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.priority == 7
    [event] = OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.PRIORITY_CHANGED)
    assert event.message == "Queue priority 0 to 7: Replacement for a lost parcel"
    assert event.actor.username == "boss"
    assert len(callbacks) == 1
    # The order's history on its page says who and why.
    page = admin_client.get(url).content.decode()
    assert "Queue priority 0 to 7: Replacement for a lost parcel" in page

    response = admin_client.post(
        url,
        {**inline_management_data(admin_client, url), "priority": "5000", "priority_reason": "x"},
    )
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.priority == 7


def test_staff_see_the_shipping_address_and_can_switch_the_delivery_choice(
    admin_client, hoodie, default_warehouse
):
    # given: an order placed from the storefront, and one already partly shipped
    address = ShippingAddress("Jl. Merdeka 1\nRT 01", "Jakarta", "10110", "Indonesia", "0812")
    order = order_place(
        email="ana@example.com", name="Ana", lines=[LineRequest(hoodie.sku, 1)], shipping=address
    )
    stock_receive(product=hoodie, quantity=1)
    shipped = order_place(email="bo@example.com", name="Bo", lines=[LineRequest(hoodie.sku, 2)])
    Order.objects.filter(pk=shipped.pk).update(ship_complete=False)
    stock_receive(product=hoodie, quantity=2)
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


def test_the_admin_says_whose_time_zone_its_dates_are_in(admin_client, settings):
    page = admin_client.get(reverse("admin:index")).content.decode()

    assert f"Dates and times are the shop's: {settings.TIME_ZONE} (UTC" in page
