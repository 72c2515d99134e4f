"""ETA accuracy: were the first promises kept?"""

import pytest
from django.urls import reverse

from inventory.stock import stock_receive
from orders.models import EtaChange, OrderLine
from orders.selectors import eta_accuracy
from orders.services import LineRequest, order_place, shipment_create
from tests.factories import ProductFactory, StaffFactory
from tests.helpers import in_days

pytestmark = pytest.mark.django_db


def shipped_line(product, *, promised_days: int, moves: int = 0) -> OrderLine:
    """A line promised for `promised_days` from today, shipped today after `moves` moves."""
    stock_receive(product=product, quantity=1)
    order = order_place(email="a@example.com", name="A", lines=[LineRequest(product.sku, 1)])
    line = order.lines.get()
    OrderLine.objects.filter(pk=line.pk).update(first_promised_eta=in_days(promised_days))
    EtaChange.objects.bulk_create(
        EtaChange(order=order, line=line, eta=in_days(n), cause=EtaChange.Cause.PO_DATE_CHANGED)
        for n in range(moves)
    )
    shipment_create(order=order, lines=[(line.pk, 1)])
    return line


@pytest.fixture
def history(default_warehouse):
    hoodie = ProductFactory(sku="HOODIE-SE", name="Hoodie")
    tee = ProductFactory(sku="TEE", name="Tee")
    shipped_line(hoodie, promised_days=0)
    shipped_line(hoodie, promised_days=-3, moves=2)
    shipped_line(hoodie, promised_days=-1)
    shipped_line(tee, promised_days=2, moves=1)
    # an open hoodie line now expected later than first promised
    waiting = order_place(email="b@example.com", name="B", lines=[LineRequest("HOODIE-SE", 1)])
    OrderLine.objects.filter(order=waiting).update(first_promised_eta=in_days(5), eta=in_days(9))
    return hoodie, tee


def test_accuracy_counts_promises_kept_days_late_and_moves(history):
    total, products = eta_accuracy(since=in_days(-30))

    assert [p.sku for p in products] == ["HOODIE-SE", "TEE"]  # worst first
    hoodie, tee = products
    assert (hoodie.shipped, hoodie.on_time, hoodie.days_late) == (3, 1, [3, 1])
    assert (hoodie.average_days_late, hoodie.worst_days_late) == (2.0, 3)
    assert hoodie.moves_per_line == pytest.approx(2 / 3)
    assert hoodie.open_slipped == 1
    assert (tee.shipped, tee.on_time, tee.on_time_rate, tee.average_days_late) == (1, 1, 1.0, None)
    assert (total.shipped, total.on_time, total.worst_days_late, total.open_slipped) == (4, 2, 3, 1)
    assert total.on_time_rate == 0.5


def test_accuracy_leaves_out_lines_shipped_before_the_period(history):
    total, products = eta_accuracy(since=in_days(1))

    assert total.shipped == 0
    assert [(p.sku, p.shipped, p.open_slipped) for p in products] == [("HOODIE-SE", 0, 1)]


def test_accuracy_page_shows_the_table_in_a_fixed_number_of_queries(
    admin_client, history, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        response = admin_client.get(reverse("admin:orders_etachange_accuracy"), {"days": "30"})

    assert response.status_code == 200
    body = response.content.decode()
    assert "<strong>last 30 days</strong>" in body
    assert "HOODIE-SE Hoodie" in body
    assert "1 (33%)" in body and "2 (50%)" in body


def test_accuracy_page_ignores_an_unknown_period(admin_client, history):
    response = admin_client.get(reverse("admin:orders_etachange_accuracy"), {"days": "x"})

    assert response.status_code == 200
    assert "<strong>last 90 days</strong>" in response.content.decode()


def test_accuracy_page_needs_permission_to_view_eta_history(client, history):
    client.force_login(StaffFactory(username="clerk", is_superuser=False))

    response = client.get(reverse("admin:orders_etachange_accuracy"))

    assert response.status_code == 403
