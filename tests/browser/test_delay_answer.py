"""A customer answers a delay notice in a real browser: keep waiting, then cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.purchasing import (
    PurchaseLineRequest,
    purchase_order_create,
    purchase_order_line_reschedule,
)
from notifications.delivery import notifications_deliver
from notifications.models import DelayAnswer, Notification
from orders.models import EtaChange, OrderLine
from orders.queue import product_refresh
from orders.services import LineRequest, order_place
from tests.browser.conftest import shot
from tests.factories import SupplierFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customer_keeps_waiting_then_cancels_from_the_delay_email(
    live_server, page, smtp, hoodie, settings
):
    # given: an Indonesian order whose delivery slipped, and the delay email it was sent
    settings.SITE_URL = live_server.url
    today = timezone.localdate()
    purchase_order = purchase_order_create(
        supplier=SupplierFactory(),
        lines=[PurchaseLineRequest(hoodie.sku, 10, today + timedelta(days=5))],
    )
    order = order_place(
        email="ayu@example.com", name="Ayu", locale="id", lines=[LineRequest(hoodie.sku, 2)]
    )
    notifications_deliver(ids=list(Notification.objects.values_list("pk", flat=True)))
    purchase_order_line_reschedule(
        line_id=purchase_order.lines.get().pk, expected_date=today + timedelta(days=9)
    )
    product_refresh(product_id=hoodie.pk, cause=EtaChange.Cause.PO_DATE_CHANGED)
    notifications_deliver(ids=list(Notification.objects.values_list("pk", flat=True)))
    delay = next(m for m in smtp.messages if "tanggal kirim baru" in m.subject)
    link = next(line.strip() for line in delay.text.splitlines() if "/delays/" in line)

    # when: the customer follows the link and chooses to keep waiting
    page.goto(link)
    shot(page, "delay-answer-1-opened")
    page.get_by_role("button", name="Tetap menunggu").click()
    shot(page, "delay-answer-2-kept")

    # then
    assert page.get_by_role("status").inner_text().startswith("Terima kasih sudah menunggu")
    assert DelayAnswer.objects.get().answer == "keep"
    assert order.lines.get().backordered == 2

    # when: they change their mind
    page.get_by_role("button", name="Batalkan 2 unit backorder").click()
    shot(page, "delay-answer-3-cancelled")

    # then: the units are cancelled, the answer recorded, and the cancellation emailed
    assert "Anda membatalkan 2 unit backorder." in page.get_by_role("status").inner_text()
    line = order.lines.get()
    assert (line.status, line.cancelled) == (OrderLine.Status.CANCELLED, 2)
    assert DelayAnswer.objects.get().answer == "cancel"
    notifications_deliver(ids=list(Notification.objects.values_list("pk", flat=True)))
    assert smtp.messages[-1].subject == f"Pesanan {order.number}: barang dibatalkan"

    # when: the link to the whole order
    page.get_by_role("link", name="Lihat seluruh pesanan Anda").click()
    shot(page, "delay-answer-4-order")

    # then
    assert page.get_by_role("cell", name="Dibatalkan").is_visible()
