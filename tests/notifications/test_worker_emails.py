"""Emails sent by a real Celery worker over Redis to a real SMTP server, after real commits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.purchasing import (
    PurchaseLineRequest,
    ReceiptRequest,
    purchase_order_create,
    purchase_order_receive,
)
from notifications.models import Notification
from orders.services import LineRequest, order_place
from tests.factories import ProductFactory, SupplierFactory
from tests.smtp import Mailbox
from tests.worker import celery_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(smtp: Mailbox):
    with celery_worker(env={"EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}"}) as name:
        yield name


def all_sent() -> bool:
    return not Notification.objects.exclude(status=Notification.Status.SENT).exists()


def inbox(mailbox: Mailbox, address: str) -> list[str]:
    return [m.subject for m in mailbox.messages if m.envelope_to == [address]]


def test_the_sold_out_hoodie_keeps_every_buyer_informed(smtp, worker, hoodie):
    """The case study: sold out, still selling, every buyer told the truth at each step."""
    today = timezone.localdate()
    buyers = ["ayu@example.com", "budi@example.com", "citra@example.com"]

    # when: three buyers order the sold-out hoodie
    orders = [
        order_place(email=email, name=email.split("@")[0], lines=[LineRequest("HOODIE-SE", 1)])
        for email in buyers
    ]
    smtp.wait_for(3)
    # then: each is told it is backordered and ships in 14 days
    for order in orders:
        [email] = [m for m in smtp.messages if m.envelope_to == [order.email]]
        assert email.subject == f"Order {order.number} confirmed: when it ships"
        assert (
            "  Status: Backordered\n"
            f"  Estimated ship date: {(today + timedelta(days=14)).isoformat()}\n"
        ) in email.text

    # when: the shop orders 10 from its supplier for delivery in a week
    purchase_order = purchase_order_create(
        supplier=SupplierFactory(),
        lines=[PurchaseLineRequest("HOODIE-SE", 10, today + timedelta(days=7))],
    )
    smtp.wait_for(6)
    # then: each hears the good news, once
    for order in orders:
        assert inbox(smtp, order.email)[1] == f"Good news: order {order.number} ships sooner"

    # when: the goods arrive
    purchase_order_receive(
        purchase_order_id=purchase_order.pk, lines=[ReceiptRequest(quantity=10, sku="HOODIE-SE")]
    )
    smtp.wait_for(9)
    wait_until(all_sent, "every notification sent")

    # then: each is told it is ready to ship, and nobody got anything twice
    for order in orders:
        assert inbox(smtp, order.email) == [
            f"Order {order.number} confirmed: when it ships",
            f"Good news: order {order.number} ships sooner",
            f"Order {order.number} is ready to ship",
        ]
    assert len(smtp.messages) == 9


def test_a_receipt_of_five_products_sends_each_customer_one_email(smtp, worker, default_warehouse):
    # given: one order waits for five products
    today = timezone.localdate()
    products = [ProductFactory(sku=f"P{n}", name=f"Product {n}") for n in range(5)]
    purchase_order = purchase_order_create(
        supplier=SupplierFactory(),
        lines=[PurchaseLineRequest(p.sku, 2, today + timedelta(days=3)) for p in products],
    )
    order = order_place(
        email="ana@example.com",
        name="Ana",
        lines=[LineRequest(p.sku, 2) for p in products],
    )
    smtp.wait_for(1)

    # when: all five arrive in one receipt
    purchase_order_receive(
        purchase_order_id=purchase_order.pk,
        lines=[ReceiptRequest(quantity=2, sku=p.sku) for p in products],
    )
    # (the five products are refreshed together: one notice lists the five lines)
    wait_until(
        lambda: (
            sum(
                len(notice.data["lines"])
                for notice in Notification.objects.filter(kind="allocated", status="sent")
            )
            == 5
        ),
        "the five lines allocated and told",
    )
    assert Notification.objects.filter(kind="allocated").count() == 1

    # then: one email lists all five lines
    assert inbox(smtp, "ana@example.com") == [
        f"Order {order.number} confirmed: when it ships",
        f"Order {order.number} is ready to ship",
    ]
    assert smtp.messages[1].text.count("  Status: In stock, ready to ship\n") == 5
