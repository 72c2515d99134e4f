"""The staff roles: `setup_roles`, and what each role can and cannot do through the staff API
and the admin (contract §7)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from config.roles import ROLES, role_permissions
from inventory.models import PurchaseOrder, Stock
from inventory.stock import stock_receive
from notifications.models import Notification
from orders.models import Order
from orders.services import LineRequest, order_place
from tests.api.conftest import token_client
from tests.factories import StaffFactory
from tests.helpers import purchase
from tests.state import purchasing_state, snapshot

pytestmark = pytest.mark.django_db

ROLE_NAMES = ["warehouse", "purchasing", "customer_service", "read_only"]


def member_of(role: str):
    call_command("setup_roles", verbosity=0)
    user = StaffFactory(username=f"{role}-user", is_superuser=False)
    user.groups.add(Group.objects.get(name=role))
    return user


# setup_roles ----------------------------------------------------------------------------------


def test_setup_roles_creates_the_four_groups_and_running_it_again_restores_them(capsys):
    call_command("setup_roles")
    assert sorted(Group.objects.values_list("name", flat=True)) == sorted(ROLE_NAMES)
    warehouse = Group.objects.get(name="warehouse")
    granted = sorted(
        f"{p.content_type.app_label}.{p.codename}"
        for p in warehouse.permissions.select_related("content_type")
    )
    assert granted == role_permissions("warehouse")
    assert "inventory.change_stock" in granted
    assert "inventory.change_purchaseorder" not in granted
    assert "orders.view_order" in granted

    # A permission taken away and another added by hand: the next run puts the role back.
    warehouse.permissions.remove(Permission.objects.get(codename="change_stock"))
    warehouse.permissions.add(Permission.objects.get(codename="delete_order"))
    call_command("setup_roles")

    assert sorted(
        f"{p.content_type.app_label}.{p.codename}"
        for p in warehouse.permissions.select_related("content_type")
    ) == role_permissions("warehouse")
    assert Group.objects.count() == 4
    assert "Roles are up to date." in capsys.readouterr().out


def test_every_role_reads_everything_and_writes_only_its_own_work():
    read_only = set(role_permissions("read_only"))
    assert all(name.split(".")[1].startswith("view_") for name in read_only)
    assert {
        "orders.view_order",
        "inventory.view_purchaseorder",
        "notifications.view_notification",
    } <= read_only
    assert "orders.view_idempotencykey" not in read_only
    for role in ROLES:
        assert read_only <= set(role_permissions(role))
    assert not any("product" in name.split("_", 1)[1] for name in ROLES["customer_service"])


# The staff API, role by role ------------------------------------------------------------------


@pytest.fixture
def shop(hoodie):
    """Five hoodies on hand: one order holds one, another waits for nine; a placed purchase
    order of ten is due in a week."""
    stock_receive(product=hoodie, quantity=5)
    in_stock = order_place(email="a@example.com", name="A", lines=[LineRequest(hoodie.sku, 1)])
    waiting = order_place(email="b@example.com", name="B", lines=[LineRequest(hoodie.sku, 13)])
    purchase_order = purchase(hoodie, 10, days=7)
    return {
        "in_stock": in_stock,
        "waiting": waiting,
        "purchase_order": PurchaseOrder.objects.get(pk=purchase_order.pk),
    }


def _api_call(name: str, shop: dict) -> tuple[str, str, dict | None, int]:
    order, waiting = shop["in_stock"], shop["waiting"]
    purchase_order = shop["purchase_order"]
    po_line = purchase_order.lines.get()
    later = (timezone.localdate() + timedelta(days=9)).isoformat()
    return {
        "adjust_stock": (
            "post",
            "/api/v1/stock/adjustments",
            {"sku": "HOODIE-SE", "quantity": 2, "reason": "count"},
            201,
        ),
        "receive_goods": (
            "post",
            f"/api/v1/purchase-orders/{purchase_order.pk}/receive",
            {"lines": [{"sku": "HOODIE-SE", "quantity": 4}]},
            200,
        ),
        "ship_order": (
            "post",
            f"/api/v1/orders/{order.number}/shipments",
            {"lines": [{"line_id": order.lines.get().pk, "quantity": 1}], "tracking": "JNE-1"},
            201,
        ),
        "add_supplier": ("post", "/api/v1/suppliers", {"name": "Tenun", "lead_time_days": 9}, 201),
        "set_supplier_terms": (
            "post",
            f"/api/v1/suppliers/{purchase_order.supplier_id}/products",
            {"sku": "HOODIE-SE", "unit_cost": "40000", "preferred": True},
            201,
        ),
        "add_purchase_order": (
            "post",
            "/api/v1/purchase-orders",
            {
                "supplier": purchase_order.supplier_id,
                "lines": [{"sku": "HOODIE-SE", "quantity": 5, "expected_date": later}],
            },
            201,
        ),
        "reschedule_purchase_order": (
            "patch",
            f"/api/v1/purchase-orders/{purchase_order.pk}/lines/{po_line.pk}",
            {"expected_date": later},
            200,
        ),
        "cancel_line": (
            "post",
            f"/api/v1/orders/{waiting.number}/lines/{waiting.lines.get().pk}/cancel",
            {"quantity": 2, "reason": "Customer called"},
            200,
        ),
        "draft_suggestions": ("post", "/api/v1/replenishment/drafts", {}, 200),
        "read_suggestions": ("get", "/api/v1/replenishment/suggestions", None, 200),
        "read_order": ("get", f"/api/v1/orders/{order.number}", None, 200),
        "read_purchase_order": ("get", f"/api/v1/purchase-orders/{purchase_order.pk}", None, 200),
        "add_product": (
            "post",
            "/api/v1/products",
            {"sku": "NEW", "name": "New", "price": "1"},
            201,
        ),
        "change_price": ("patch", "/api/v1/products/HOODIE-SE", {"price": "1.00"}, 200),
    }[name]


API_ALLOWED = {
    "warehouse": {"adjust_stock", "receive_goods", "ship_order"},
    "purchasing": {
        "add_supplier",
        "add_purchase_order",
        "reschedule_purchase_order",
        "set_supplier_terms",
        "draft_suggestions",
    },
    "customer_service": {"cancel_line"},
    "read_only": set(),
}
READS = {"read_order", "read_purchase_order", "read_suggestions"}
API_CALLS = [
    "adjust_stock",
    "receive_goods",
    "ship_order",
    "add_supplier",
    "add_purchase_order",
    "reschedule_purchase_order",
    "set_supplier_terms",
    "cancel_line",
    "draft_suggestions",
    "read_suggestions",
    "read_order",
    "read_purchase_order",
    "add_product",
    "change_price",
]


@pytest.mark.parametrize("call", API_CALLS)
@pytest.mark.parametrize("role", ROLE_NAMES)
def test_each_role_through_the_staff_api(shop, role, call):
    method, path, body, success = _api_call(call, shop)
    client = token_client(member_of(role))
    before = (snapshot(), purchasing_state(), Order.objects.count())

    response = getattr(client, method)(path, body, format="json")

    if call in API_ALLOWED[role] or call in READS:
        assert response.status_code == success, response.json()
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        assert (snapshot(), purchasing_state(), Order.objects.count()) == before


# The admin, role by role ----------------------------------------------------------------------


def _admin_get(client, name: str, *args) -> int:
    return client.get(reverse(name, args=args)).status_code


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_each_role_through_the_admin(client, shop, role):
    client.force_login(member_of(role))
    purchase_order = shop["purchase_order"]
    waiting = shop["waiting"]
    may = API_ALLOWED[role]

    # Everyone reads the backlog, the orders, the stock and the purchase orders.
    for name in (
        "admin:orders_order_changelist",
        "admin:orders_orderline_changelist",
        "admin:inventory_stock_changelist",
        "admin:inventory_purchaseorder_changelist",
        "admin:notifications_notification_changelist",
    ):
        assert _admin_get(client, name) == 200, name
    assert _admin_get(client, "admin:orders_order_change", waiting.pk) == 200
    # Nobody but a superuser creates products or changes prices.
    assert _admin_get(client, "admin:inventory_product_add") == 403

    expected = {True: 200, False: 403}
    assert (
        _admin_get(client, "admin:inventory_stock_change_stock") == expected["adjust_stock" in may]
    )
    assert (
        _admin_get(client, "admin:inventory_purchaseorder_receive", purchase_order.pk)
        == (expected["receive_goods" in may])
    )
    assert (
        _admin_get(client, "admin:inventory_purchaseorder_reschedule", purchase_order.pk)
        == (expected["reschedule_purchase_order" in may])
    )
    assert (
        _admin_get(client, "admin:inventory_purchaseorder_add")
        == expected["add_purchase_order" in may]
    )
    assert (
        _admin_get(client, "admin:orders_order_ship", shop["in_stock"].pk)
        == (expected["ship_order" in may])
    )
    assert _admin_get(client, "admin:orders_readytoship_changelist") == 200

    # Cancelling a waiting line's backordered units: an action only customer service has.
    line = waiting.lines.get()
    response = client.post(
        reverse("admin:orders_orderline_changelist"),
        {
            "action": "cancel_backordered",
            "_selected_action": [line.pk],
            "apply": "1",
            "reason": "Customer asked",
        },
    )
    line.refresh_from_db()
    if role == "customer_service":
        assert response.status_code == 302
        assert line.cancelled == line.quantity - line.allocated
    else:
        # The action is not offered: the post just shows the list, and cancels nothing.
        assert response.status_code == 200
        assert 'value="cancel_backordered"' not in response.content.decode()
        assert line.cancelled == 0

    # Resending failed emails: customer service too.
    Notification.objects.update(status=Notification.Status.FAILED)
    client.post(
        reverse("admin:notifications_notification_changelist"),
        {
            "action": "resend",
            "_selected_action": list(Notification.objects.values_list("pk", flat=True)),
        },
    )
    failed = Notification.objects.filter(status=Notification.Status.FAILED).count()
    assert (failed == 0) == (role == "customer_service")


def test_a_customer_service_user_cannot_adjust_stock_in_the_admin_either(client, shop):
    client.force_login(member_of("customer_service"))
    stock = Stock.objects.get()

    response = client.post(
        reverse("admin:inventory_stock_change_stock"),
        {"product": stock.product_id, "warehouse": stock.warehouse_id, "quantity": "5"},
    )

    assert response.status_code == 403
    assert Stock.objects.get().on_hand == stock.on_hand
