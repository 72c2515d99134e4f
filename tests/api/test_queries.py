"""Responses cost a fixed number of queries, however many lines an order has."""

import pytest

from inventory.stock import stock_receive
from orders.models import Order
from orders.services import LineRequest, order_place
from tests.factories import ProductFactory, SupplierFactory
from tests.helpers import iso_in_days


def _order_of(lines: int):
    skus = [ProductFactory().sku for _ in range(lines)]
    return order_place(email="a@example.com", name="A", lines=[LineRequest(sku, 2) for sku in skus])


@pytest.mark.parametrize("lines", [1, 25])
def test_reading_an_order_as_its_customer(api, default_warehouse, django_assert_num_queries, lines):
    order = _order_of(lines)

    # The order with its lines and their products; the token is checked on that row.
    with django_assert_num_queries(2):
        response = api.get(f"/api/v1/orders/{order.number}?token={order.token}")

    assert len(response.json()["lines"]) == lines


@pytest.mark.parametrize("lines", [1, 25])
def test_reading_an_order_as_staff(staff_api, default_warehouse, django_assert_num_queries, lines):
    order = _order_of(lines)

    # The token and its user, then the order with its lines and products. A superuser's
    # permissions need no query.
    with django_assert_num_queries(3):
        response = staff_api.get(f"/api/v1/orders/{order.number}")

    assert len(response.json()["lines"]) == lines


@pytest.mark.parametrize("lines", [1, 25])
def test_placing_an_order(api, default_warehouse, django_assert_num_queries, lines):
    skus = [ProductFactory().sku for _ in range(lines)]
    for sku in skus[: max(1, lines // 2)]:
        stock_receive(product=ProductFactory._meta.model.objects.get(sku=sku), quantity=1)
    body = {
        "email": "a@example.com",
        "name": "A",
        "lines": [{"sku": sku, "quantity": 2} for sku in skus],
    }

    # Products, supplier terms and incoming supply before the locks; under them the products
    # (with their queues' counters) and stock; the order, its lines, the queues' counters,
    # allocations, stock, ledger, events, ETAs and the confirmation email in the outbox. No
    # savepoint, and the answer is built from what the service wrote (the transaction's own
    # BEGIN and COMMIT are not counted here).
    with django_assert_num_queries(14):
        response = api.post("/api/v1/orders", body, format="json")

    assert response.status_code == 201
    # The answer is the order as it is read back.
    order = Order.objects.get(number=response.json()["number"])
    assert response.json() == api.get(f"/api/v1/orders/{order.number}?token={order.token}").json()


@pytest.mark.parametrize("stocked", [True, False])
def test_placing_a_one_line_order(api, default_warehouse, django_assert_num_queries, stocked):
    product = ProductFactory()
    if stocked:
        stock_receive(product=product, quantity=1)
    body = {"email": "a@example.com", "name": "A", "lines": [{"sku": product.sku, "quantity": 1}]}

    # The three reads before the locks, the two locks (the product row carries its queue's
    # length), then the order, its line, (from stock: the allocation, stock counter and ledger
    # row; backordered: the queue's counter), its events, ETA and confirmation.
    with django_assert_num_queries(13 if stocked else 11):
        response = api.post("/api/v1/orders", body, format="json")

    assert response.status_code == 201


def test_placing_an_order_with_an_idempotency_key(
    api, default_warehouse, django_assert_num_queries
):
    product = ProductFactory()
    stock_receive(product=product, quantity=1)
    body = {"email": "a@example.com", "name": "A", "lines": [{"sku": product.sku, "quantity": 2}]}

    # The key's transaction (a savepoint here, inside the test's transaction), the key claimed
    # in one insert (no read before it), the placement with no savepoint of its own, and the
    # key pointed at its order.
    with django_assert_num_queries(18):
        first = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    # A replay: in its transaction the insert finds the key, then the key with its order and
    # the order's lines as they are now.
    with django_assert_num_queries(5):
        replay = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()


def test_a_refused_order(api, default_warehouse, django_assert_num_queries):
    product = ProductFactory(backorder_policy="deny")
    body = {"email": "a@example.com", "name": "A", "lines": [{"sku": product.sku, "quantity": 1}]}

    # The three reads before the locks, the two locks (the product row carries its queue's
    # length), the refused demand: one transaction.
    with django_assert_num_queries(6):
        response = api.post("/api/v1/orders", body, format="json")

    assert response.status_code == 422


@pytest.mark.parametrize("lines", [1, 25])
def test_purchase_orders(staff_api, default_warehouse, django_assert_num_queries, lines):
    supplier = SupplierFactory()
    skus = [ProductFactory().sku for _ in range(lines)]
    body = {
        "supplier": supplier.pk,
        "lines": [{"sku": sku, "quantity": 5, "expected_date": "2099-01-01"} for sku in skus],
    }
    created = staff_api.post("/api/v1/purchase-orders", body, format="json").json()

    # The token and its user, then the purchase order with its lines and their products.
    with django_assert_num_queries(3):
        response = staff_api.get(f"/api/v1/purchase-orders/{created['id']}")

    assert len(response.json()["lines"]) == lines


@pytest.mark.parametrize("warehouses", [1, 6])
def test_reading_a_product(api, default_warehouse, django_assert_num_queries, warehouses):
    from datetime import date

    from inventory.purchasing import PurchaseLineRequest, purchase_order_create
    from tests.factories import SupplierProductFactory, WarehouseFactory

    product = ProductFactory(sku="HOODIE-SE")
    for _ in range(warehouses - 1):
        stock_receive(product=product, quantity=2, warehouse=WarehouseFactory())
    stock_receive(product=product, quantity=1)
    for _ in range(warehouses):
        terms = SupplierProductFactory(product=product)
        purchase_order_create(
            supplier=terms.supplier, lines=[PurchaseLineRequest("HOODIE-SE", 5, date(2099, 1, 1))]
        )

    # The product with its stock rows and queue counter, and (the purchase orders are this
    # transaction's, so none from the cache) incoming supply and the supplier terms with
    # their receipts for the lead time.
    with django_assert_num_queries(4):
        response = api.get("/api/v1/products/HOODIE-SE")

    assert len(response.json()["stock"]["warehouses"]) == warehouses
    assert response.json()["stock"]["incoming"] == 5 * warehouses


def test_a_second_order_takes_the_supply_outlook_from_the_cache(
    api, default_warehouse, django_assert_num_queries
):
    product = ProductFactory(lead_time_days=14)
    body = {"email": "a@example.com", "name": "A", "lines": [{"sku": product.sku, "quantity": 1}]}
    first = api.post("/api/v1/orders", body, format="json")

    # The product, then the locks and writes as for the first: its incoming supply and
    # supplier terms come from the cache. With a queue waiting, one more: whether a line
    # of lower priority waits in it, which this order would overtake.
    with django_assert_num_queries(10):
        response = api.post("/api/v1/orders", body, format="json")

    assert (first.status_code, response.status_code) == (201, 201)
    # The same promise as the first order's, from the same lead time.
    assert response.json()["lines"][0]["eta"] == first.json()["lines"][0]["eta"] == iso_in_days(14)
