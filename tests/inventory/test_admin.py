"""The inventory backoffice: every page renders, stock changes, products saved through the
catalogue service, and the "fill backorders" action."""

import warnings
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.messages import get_messages
from django.core.paginator import UnorderedObjectListWarning
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory import catalogue
from inventory.checks import SKU_RULE
from inventory.models import Allocation, Product, Stock, StockMovement, Warehouse
from inventory.selectors import eta_rule, stock_drift
from inventory.stock import stock_receive
from orders.models import EtaChange, Order, RefusedDemand, Shipment, ShipmentLine
from orders.services import LineRequest, order_place, order_priority_set, shipment_create
from tests.factories import ProductFactory, StaffFactory
from tests.helpers import admin_product_form
from tests.state import snapshot

CHANGE_STOCK = "admin:inventory_stock_change_stock"


def post_change_stock(client, product, warehouse, kind, quantity, **text):
    """Submit the "Receive or adjust stock" form."""
    data = {"product": product.pk, "warehouse": warehouse.pk, "kind": kind, "quantity": quantity}
    return client.post(reverse(CHANGE_STOCK), {**data, **text})


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


def test_every_changelist_takes_the_same_queries_for_more_rows(admin_client, shop, superuser):
    def queries() -> dict[str, int]:
        counts = {}
        for model in admin.site._registry:
            opts = model._meta
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            with CaptureQueriesContext(connection) as captured:
                assert admin_client.get(url).status_code == 200, url
            counts[url] = len(captured)
        return counts

    queries()  # warm the caches (session, supply outlooks)
    few = queries()
    # more of every row: receipts, orders, allocations, shipments, events, emails
    tee = ProductFactory(sku="TEE")
    stock_receive(product=tee, quantity=12, actor=superuser)
    for _ in range(6):
        order = place(tee, 2)
        shipment_create(order=order, lines=[(order.lines.get().pk, 1)], tracking="JNE-2")
    RefusedDemand.objects.create(product=shop, quantity=1, reason="out_of_stock")

    assert queries() == few


def test_every_change_page_renders(admin_client, shop, superuser, rf):
    request = rf.get("/admin/")
    request.user = superuser
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        # The first row the admin itself lists (the pick list holds only lines ready to ship).
        obj = model_admin.get_queryset(request).order_by("pk").first()
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


def test_a_second_default_warehouse_is_a_form_error_not_a_crash(client, default_warehouse):
    client.force_login(StaffFactory())

    response = client.post(
        reverse("admin:inventory_warehouse_add"),
        {"code": "second", "name": "Second", "priority": 1, "is_default": "on"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert list(Warehouse.objects.values_list("code", flat=True)) == ["main"]


# --- products are saved by the catalogue service ------------------------------------------


def product_row(product) -> tuple:
    return Product.objects.values_list("sku", "name", "price", "lead_time_days", "updated_at").get(
        pk=product.pk
    )


def test_a_refused_product_change_shows_the_services_error_and_changes_nothing(
    admin_client, hoodie, django_capture_on_commit_callbacks
):
    # given
    url = reverse("admin:inventory_product_change", args=[hoodie.pk])
    before = product_row(hoodie)

    # when: a price the catalogue refuses, together with a lead time it would accept
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            url, admin_product_form(hoodie, price="1.234", lead_time_days=21, name="Hoodie II")
        )

    # then
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "price": ["The price has at most two decimal places."]
    }
    assert b"The price has at most two decimal places." in response.content
    assert product_row(hoodie) == before
    assert callbacks == []
    assert LogEntry.objects.count() == 0


def test_a_product_change_is_written_by_the_service_under_the_product_lock(
    admin_client, superuser, hoodie, monkeypatch
):
    # given
    locked: list[list[int]] = []
    lock_products = catalogue.lock_products

    def lock(product_ids):
        locked.append(list(product_ids))
        return lock_products(locked[-1])

    monkeypatch.setattr(catalogue, "lock_products", lock)
    url = reverse("admin:inventory_product_change", args=[hoodie.pk])

    # when
    response = admin_client.post(
        url, admin_product_form(hoodie, price="125000.50", name="  Hoodie II ")
    )

    # then
    assert response.status_code == 302
    assert locked == [[hoodie.pk]]
    hoodie.refresh_from_db()
    assert (hoodie.name, hoodie.price) == ("Hoodie II", Decimal("125000.50"))
    entry = LogEntry.objects.get()
    assert (entry.object_id, entry.user_id) == (str(hoodie.pk), superuser.pk)


def test_the_sku_is_read_only_once_the_product_exists(admin_client, hoodie):
    # given
    url = reverse("admin:inventory_product_change", args=[hoodie.pk])

    # when
    page = admin_client.get(url)
    response = admin_client.post(url, admin_product_form(hoodie, sku="HOODIE-2"))

    # then
    assert "sku" not in page.context["adminform"].form.fields
    assert response.status_code == 302
    hoodie.refresh_from_db()
    assert hoodie.sku == "HOODIE-SE"


def test_adding_a_product_goes_through_the_catalogue_service(admin_client, hoodie):
    # given
    url = reverse("admin:inventory_product_add")
    new = ProductFactory.build(sku="CAP-01", name="Cap", price=Decimal("50000"))
    before = snapshot(), list(Product.objects.values_list("sku", flat=True))

    # when
    spaced = admin_client.post(url, admin_product_form(new, sku="CAP 01"))
    slashed = admin_client.post(url, admin_product_form(new, sku="../../etc/passwd"))
    taken = admin_client.post(url, admin_product_form(new, sku="HOODIE-SE"))
    unrefused = snapshot(), list(Product.objects.values_list("sku", flat=True))
    added = admin_client.post(url, admin_product_form(new))

    # then
    assert (spaced.status_code, slashed.status_code, taken.status_code) == (200, 200, 200)
    assert spaced.context["adminform"].form.errors == {"sku": [SKU_RULE]}
    assert slashed.context["adminform"].form.errors == {"sku": [SKU_RULE]}
    assert taken.context["adminform"].form.errors == {
        "sku": ["A product with SKU HOODIE-SE already exists."]
    }
    assert unrefused == before
    assert added.status_code == 302
    product = Product.objects.get(sku="CAP-01")
    assert (product.name, product.price, product.lead_time_days) == (
        "Cap",
        Decimal("50000"),
        14,
    )
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_id) == (ADDITION, str(product.pk))


# --- the "fill backorders" action ---------------------------------------------------------


def test_fill_backorders_action_runs_the_refresh_so_filled_lines_ship_on_the_ready_date(
    admin_client, hoodie, default_warehouse
):
    # given a backordered line, and stock that arrived with no worker running
    line = place(hoodie, 2).lines.get()
    assert (line.backordered, line.eta) == (2, timezone.localdate() + timedelta(days=14))
    stock_receive(product=hoodie, quantity=2)
    line.refresh_from_db()
    assert (line.allocated, line.backordered) == (0, 2)

    # when
    response = admin_client.post(
        reverse("admin:inventory_product_changelist"),
        {"action": "reallocate", "_selected_action": [hoodie.pk], "index": 0},
    )

    # then: filled and given its ship date at once
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Allocated 2 backordered unit(s)."
    ]
    line.refresh_from_db()
    ready = eta_rule(hoodie, 14, timezone.localdate()).ready
    assert (line.allocated, line.backordered, line.eta) == (2, 0, ready)
    change = EtaChange.objects.filter(line=line).latest("pk")
    assert (change.eta, change.cause, change.detail) == (
        ready,
        EtaChange.Cause.STOCK_CHANGED,
        "Filled from the admin",
    )
    assert stock_drift() == []


def test_the_product_page_lists_who_waits_in_queue_order_with_each_eta(admin_client, hoodie):
    # given: three waiting orders, the second bumped ahead of the first
    first, second, third = (
        order_place(email=f"{name}@example.com", name=name, lines=[LineRequest(hoodie.sku, 1)])
        for name in ("Ayu", "Budi", "Citra")
    )
    order_priority_set(order_id=second.pk, priority=5, reason="VIP")

    # when
    page = admin_client.get(reverse("admin:inventory_product_change", args=[hoodie.pk]))

    # then
    text = page.content.decode()
    queue = text[text.index('<table class="waiting-queue">') :]
    assert queue.index(second.number) < queue.index(first.number) < queue.index(third.number)
    eta = (timezone.localdate() + timedelta(days=14)).isoformat()
    assert f"<td>1</td><td>{eta}</td>" in queue


def test_the_product_search_pages_an_ordered_list(admin_client, hoodie):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnorderedObjectListWarning)
        response = admin_client.get(
            "/admin/autocomplete/",
            {
                "app_label": "inventory",
                "model_name": "stock",
                "field_name": "product",
                "term": "hood",
            },
        )

    assert response.json()["results"] == [{"id": str(hoodie.pk), "text": str(hoodie)}]


def test_the_backoffice_forms_use_the_admins_form_style(admin_client, hoodie):
    for url in (
        reverse("admin:inventory_stock_change_stock"),
        reverse("admin:orders_readytoship_changelist"),
    ):
        page = admin_client.get(url).content.decode()
        assert "backoffice.css" in page
    stock_form = admin_client.get(reverse("admin:inventory_stock_change_stock")).content.decode()
    assert "admin/css/forms.css" in stock_form
