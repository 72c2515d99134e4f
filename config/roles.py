"""The staff roles (contract §7): which Django model permissions each group holds.

The one place a role is defined. `manage.py setup_roles` writes these groups; the admin and the
staff API then allow what a user's permissions allow, and nothing checks a group's name. Every
role may view everything in the shop's three apps (the backlog, orders, stock, suppliers,
emails and the reports built on them); each adds the writes of its own daily work:

- `warehouse`: stock counts and adjustments, receiving goods against purchase orders,
  shipping orders;
- `purchasing`: suppliers and their terms per product, purchase orders from draft to placed,
  rescheduled or cancelled;
- `customer_service`: orders (queue priority, how an order ships), cancelling lines, and the
  customers' emails (resending failed ones);
- `read_only`: nothing more.

Creating products and changing prices is left to superusers (the shop's owner or manager).
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

SHOP_APPS = ("inventory", "orders", "notifications")

# Bookkeeping rows of the machinery, not the shop's: no role reads them.
HIDDEN_MODELS = {"orders.idempotencykey", "inventory.unsentrefresh"}

RECEIVE_PERMISSION = "inventory.add_purchasereceipt"
STOCK_PERMISSION = "inventory.change_stock"
"""Counting and adjusting stock: whoever holds it hears what the stock verification found."""
PURCHASING_PERMISSION = "inventory.add_purchaseorder"
"""Ordering from suppliers: whoever holds it hears of demand spikes and of purchase orders
placed by themselves (`staff_emails`)."""
"""Receiving goods against a purchase order: a receipt row is what a receipt adds."""

ROLES: dict[str, tuple[str, ...]] = {
    "warehouse": (
        STOCK_PERMISSION,
        RECEIVE_PERMISSION,
        "orders.add_shipment",
    ),
    "purchasing": (
        "inventory.add_supplier",
        "inventory.change_supplier",
        "inventory.add_supplierproduct",
        "inventory.change_supplierproduct",
        "inventory.delete_supplierproduct",
        "inventory.add_purchaseorder",
        "inventory.change_purchaseorder",
        "inventory.add_purchaseorderline",
        "inventory.change_purchaseorderline",
        "inventory.delete_purchaseorderline",
    ),
    "customer_service": (
        "orders.change_order",
        "orders.change_orderline",
        "notifications.change_notification",
    ),
    "read_only": (),
}


def view_permissions() -> list[str]:
    """`app.view_model` for every model of the shop's apps a person would read."""
    names = []
    for app_label in SHOP_APPS:
        for model in apps.get_app_config(app_label).get_models():
            label = f"{app_label}.{model._meta.model_name}"
            if label not in HIDDEN_MODELS:
                names.append(f"{app_label}.view_{model._meta.model_name}")
    return sorted(names)


def role_permissions(role: str) -> list[str]:
    """Everything `role` may do, as `app.codename`, sorted."""
    return sorted({*view_permissions(), *ROLES[role]})


def _permissions(names: list[str]) -> list[Permission]:
    # `migrate` creates every model's permissions; a name missing here is a typo in ROLES.
    wanted = {tuple(name.split(".", 1)) for name in names}
    found = [
        permission
        for permission in Permission.objects.select_related("content_type").filter(
            content_type__app_label__in=SHOP_APPS
        )
        if (permission.content_type.app_label, permission.codename) in wanted
    ]
    missing = wanted - {(p.content_type.app_label, p.codename) for p in found}
    if missing:
        raise LookupError(f"Unknown permissions: {sorted('.'.join(m) for m in missing)}")
    return found


@transaction.atomic
def roles_setup() -> dict[str, int]:
    """Create the role groups, or bring them back to their definition (idempotent: a
    permission added by hand to a role's group is taken away). Returns each group's number
    of permissions."""
    counts = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        permissions = _permissions(role_permissions(role))
        group.permissions.set(permissions)
        counts[role] = len(permissions)
    return counts


def staff_emails(permission: str) -> list[tuple[int, str]]:
    """(user id, email) of the active staff holding `permission` through a group or by
    themselves; superusers only as members of such a group."""
    app_label, codename = permission.split(".", 1)
    granted = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    users = (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .exclude(email="")
        .filter(Q(groups__permissions__in=granted) | Q(user_permissions__in=granted))
        .distinct()
        .order_by("pk")
    )
    return list(users.values_list("pk", "email"))
