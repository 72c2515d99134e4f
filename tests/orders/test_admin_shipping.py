"""Shipping from the admin: the pick list of what is ready, the ship form of an order page
and the pick list's action, through `shipment_create`, and the customer's email."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory.models import Product, Warehouse
from inventory.stock import stock_receive
from notifications.delivery import notifications_deliver
from notifications.models import Notification
from orders.models import Order, OrderLine, Shipment
from orders.services import LineRequest, order_place
from tests.factories import ProductFactory, StaffFactory
from tests.state import snapshot

pytestmark = pytest.mark.django_db

PICK_LIST = "admin:orders_readytoship_changelist"


def place(*lines: tuple[str, int], ship_complete: bool = False, name: str = "Ayu") -> Order:
    return order_place(
        email=f"{name.lower()}@example.com",
        name=name,
        lines=[LineRequest(sku, quantity) for sku, quantity in lines],
        ship_complete=ship_complete,
    )


@pytest.fixture
def shop(hoodie):
    """Three hoodies and five totes on hand; orders, oldest first:
    `ayu` 2 hoodies and 1 tote (all in stock), `budi` 2 hoodies (1 in stock, 1 waiting),
    `citra` ships complete: 1 tote in stock and 1 hoodie waiting."""
    ProductFactory(sku="TOTE", name="Canvas Tote")
    stock_receive(product=hoodie, quantity=3)
    stock_receive(product=Product.objects.get(sku="TOTE"), quantity=5)
    return {
        "ayu": place(("HOODIE-SE", 2), ("TOTE", 1), name="Ayu"),
        "budi": place(("HOODIE-SE", 2), name="Budi"),
        "citra": place(("TOTE", 1), ("HOODIE-SE", 1), ship_complete=True, name="Citra"),
    }


def test_the_pick_list_shows_what_may_ship_now_in_queue_order(admin_client, shop):
    response = admin_client.get(reverse(PICK_LIST))

    assert response.status_code == 200
    rows = [
        (line.order.name, line.product.sku, line.allocated)
        for line in response.context["cl"].result_list
    ]
    # Citra's tote is set aside, but her order ships complete and a hoodie still waits.
    assert rows == [("Ayu", "HOODIE-SE", 2), ("Ayu", "TOTE", 1), ("Budi", "HOODIE-SE", 1)]
    page = response.content.decode()
    main = Warehouse.objects.get(is_default=True).code
    assert f"2 &times; {main}" in page
    assert "Citra" not in page


def test_the_pick_list_costs_the_same_queries_however_many_lines(admin_client, shop):
    def queries() -> int:
        admin_client.get(reverse(PICK_LIST))
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(reverse(PICK_LIST)).status_code == 200
        return len(captured)

    few = queries()
    stock_receive(product=shop["ayu"].lines.first().product, quantity=20)
    for index in range(10):
        place(("HOODIE-SE", 1), name=f"Extra{index}")
    assert queries() == few


def test_ship_from_the_order_page_with_carrier_and_tracking_and_the_customer_is_emailed(
    admin_client, shop, smtp
):
    order = shop["ayu"]
    hoodie_line, tote_line = order.lines.order_by("pk")
    url = reverse("admin:orders_order_ship", args=[order.pk])
    change_page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert f'href="{url}"' in change_page.content.decode()
    Notification.objects.update(status=Notification.Status.SENT)  # the confirmations

    form = admin_client.get(url)
    assert form.status_code == 200
    fields = form.context["forms"][0].fields
    assert fields[f"line_{hoodie_line.pk}"].initial == 2
    response = admin_client.post(
        url,
        {
            "ship": "1",
            f"order-{order.pk}-line_{hoodie_line.pk}": "1",
            f"order-{order.pk}-line_{tote_line.pk}": "0",
            f"order-{order.pk}-carrier": "JNE",
            f"order-{order.pk}-tracking": "JNE-0001",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:orders_order_change", args=[order.pk])
    shipment = Shipment.objects.get()
    assert (shipment.order, shipment.carrier, shipment.tracking) == (order, "JNE", "JNE-0001")
    assert [(line.order_line_id, line.quantity) for line in shipment.lines.all()] == [
        (hoodie_line.pk, 1)
    ]
    hoodie_line.refresh_from_db()
    assert (hoodie_line.allocated, hoodie_line.shipped, hoodie_line.status) == (1, 1, "allocated")
    assert hoodie_line.product.stocks.get().on_hand == 2
    pending = Notification.objects.filter(status=Notification.Status.PENDING)
    assert [row.kind for row in pending] == [Notification.Kind.SHIPPED]
    notifications_deliver(ids=[row.pk for row in pending])
    [email] = smtp.messages
    assert email.message["To"] == "Ayu <ayu@example.com>"
    assert "  Carrier: JNE\n  Tracking number: JNE-0001\n" in email.text


@pytest.mark.parametrize(
    ("quantities", "message"),
    [
        ((3, 0), "Ensure this value is less than or equal to 2."),
        ((0, 0), "Choose at least one unit to ship."),
        (("two", 0), "Enter a whole number."),
        ((-1, 1), "Ensure this value is greater than or equal to 0."),
    ],
)
def test_a_wrong_quantity_is_a_form_error_and_ships_nothing(
    admin_client, shop, quantities, message
):
    order = shop["ayu"]
    hoodie_line, tote_line = order.lines.order_by("pk")
    before = snapshot()

    response = admin_client.post(
        reverse("admin:orders_order_ship", args=[order.pk]),
        {
            "ship": "1",
            f"order-{order.pk}-line_{hoodie_line.pk}": str(quantities[0]),
            f"order-{order.pk}-line_{tote_line.pk}": str(quantities[1]),
        },
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert snapshot() == before


def test_an_order_that_ships_complete_waits_with_a_reason(admin_client, shop):
    order = shop["citra"]
    before = snapshot()

    response = admin_client.get(reverse("admin:orders_order_ship", args=[order.pk]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:orders_order_change", args=[order.pk])
    assert (
        f"{order.number} has nothing to ship: it ships complete and 1 unit(s) still wait for"
        " stock." in response.content.decode()
    )
    assert snapshot() == before


def test_ship_several_orders_from_the_pick_list(admin_client, shop):
    ayu, budi = shop["ayu"], shop["budi"]
    selected = [line.pk for line in OrderLine.objects.filter(order__in=[ayu, budi])]
    action = {"action": "ship_selected", "_selected_action": selected}

    form = admin_client.post(reverse(PICK_LIST), action)
    assert form.status_code == 200
    assert [f.order for f in form.context["forms"]] == [ayu, budi]
    data = {**action, "ship": "1"}
    for order in (ayu, budi):
        for line in order.lines.filter(allocated__gt=0):
            data[f"order-{order.pk}-line_{line.pk}"] = str(line.allocated)
        data[f"order-{order.pk}-carrier"] = "SiCepat"
        data[f"order-{order.pk}-tracking"] = f"SC-{order.name}"
    response = admin_client.post(reverse(PICK_LIST), data, follow=True)

    page = response.content.decode()
    assert f"{ayu.number}: shipped 3 unit(s), SiCepat SC-Ayu." in page
    assert f"{budi.number}: shipped 1 unit(s), SiCepat SC-Budi." in page
    assert sorted(Shipment.objects.values_list("order__name", "tracking")) == [
        ("Ayu", "SC-Ayu"),
        ("Budi", "SC-Budi"),
    ]
    assert [line.product.sku for line in response.context["cl"].result_list] == []


def test_staff_without_the_shipping_permission_cannot_ship(client, shop):
    client.force_login(StaffFactory(is_superuser=False))
    order = shop["ayu"]
    before = snapshot()

    response = client.post(reverse("admin:orders_order_ship", args=[order.pk]), {"ship": "1"})

    assert response.status_code == 403
    assert snapshot() == before
