"""Answering a delay notice from its link; the outbox in the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from inventory.purchasing import (
    PurchaseLineRequest,
    purchase_order_create,
    purchase_order_line_reschedule,
)
from notifications.models import DelayAnswer, Notification
from orders.models import EtaChange, Order, OrderLine
from orders.queue import product_refresh
from orders.services import LineRequest, order_place
from tests.factories import StaffFactory, SupplierFactory

pytestmark = pytest.mark.django_db
Kind = Notification.Kind


@pytest.fixture
def delayed(hoodie) -> tuple[Order, Notification]:
    """An order of two hoodies whose delivery slipped: it has a delay notice."""
    today = timezone.localdate()
    purchase_order = purchase_order_create(
        supplier=SupplierFactory(),
        lines=[PurchaseLineRequest(hoodie.sku, 10, today + timedelta(days=5))],
    )
    order = order_place(
        email="ana@example.com", name="Ana", locale="id", lines=[LineRequest(hoodie.sku, 2)]
    )
    purchase_order_line_reschedule(
        line_id=purchase_order.lines.get().pk, expected_date=today + timedelta(days=8)
    )
    product_refresh(product_id=hoodie.pk, cause=EtaChange.Cause.PO_DATE_CHANGED)
    return order, Notification.objects.get(order=order, kind=Kind.DELAY)


def answer_url(order: Order, notice: Notification, line_id: int | None = None) -> str:
    line_id = line_id or order.lines.get().pk
    return f"/orders/{order.number}/{order.token}/delays/{notice.pk}/lines/{line_id}/"


def test_the_link_shows_the_delay_and_cancels_nothing(client, delayed):
    # given
    order, notice = delayed
    eta = timezone.localdate() + timedelta(days=8)
    told = timezone.localdate() + timedelta(days=5)
    bulan = [
        "Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli",
        "Agustus", "September", "Oktober", "November", "Desember",
    ]  # fmt: skip

    # when: opened (as a mail scanner would)
    response = client.get(answer_url(order, notice))

    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="id">' in page
    assert (
        f'<time datetime="{eta.isoformat()}">{eta.day} {bulan[eta.month - 1]} {eta.year}</time>'
    ) in page
    assert (
        f'sebelumnya <time datetime="{told.isoformat()}">'
        f"{told.day} {bulan[told.month - 1]} {told.year}</time>"
    ) in page
    assert 'value="cancel"' in page and "Batalkan 2 unit backorder" in page
    assert 'value="keep"' in page and "Tetap menunggu" in page
    assert order.lines.get().backordered == 2
    assert DelayAnswer.objects.count() == 0


def test_cancelling_from_the_link_cancels_the_backordered_units(client, delayed):
    # given
    order, notice = delayed
    url = answer_url(order, notice)

    # when
    response = client.post(url, {"answer": "cancel"})
    again = client.post(url, {"answer": "cancel"})

    # then
    line = order.lines.get()
    assert (response.status_code, response["Location"]) == (302, url)
    assert again.status_code == 302
    assert (line.status, line.cancelled, line.backordered) == (OrderLine.Status.CANCELLED, 2, 0)
    answer = DelayAnswer.objects.get()
    assert (answer.answer, answer.quantity, answer.line_id) == ("cancel", 2, line.pk)
    confirmation = Notification.objects.get(order=order, kind=Kind.CANCELLED)
    assert confirmation.data["by_customer"] is True
    page = client.get(url).content.decode()
    assert "Anda membatalkan 2 unit backorder." in page
    assert 'value="cancel"' not in page


def test_keeping_waiting_is_recorded_and_can_still_become_a_cancel(client, delayed):
    # given
    order, notice = delayed
    url = answer_url(order, notice)

    # when
    client.post(url, {"answer": "keep"})
    kept = DelayAnswer.objects.get().answer
    thanks = list(Notification.objects.filter(kind=Kind.KEPT).values_list("order_id", "data"))
    page = client.get(url).content.decode()
    client.post(url, {"answer": "cancel"})

    # then: the "thank you for waiting" not yet sent gives way to the cancellation
    assert kept == "keep"
    assert thanks == [(order.pk, {"lines": [{"id": order.lines.get().pk}]})]
    assert not Notification.objects.filter(kind=Kind.KEPT).exists()
    assert Notification.objects.filter(kind=Kind.CANCELLED).count() == 1
    assert "Terima kasih sudah menunggu" in page
    assert 'value="keep"' not in page and 'value="cancel"' in page
    assert DelayAnswer.objects.get().answer == "cancel"
    assert order.lines.get().cancelled == 2


def test_a_bad_answer_changes_nothing(client, delayed):
    order, notice = delayed
    response = client.post(answer_url(order, notice), {"answer": "later"})
    assert response.status_code == 400
    assert DelayAnswer.objects.count() == 0
    assert order.lines.get().backordered == 2


@pytest.mark.parametrize("wrong", ["token", "notice", "line", "number"])
def test_a_wrong_part_of_the_link_is_a_404(client, delayed, wrong):
    # given
    order, notice = delayed
    other = order_place(email="b@example.com", name="B", lines=[LineRequest("HOODIE-SE", 1)])
    line_id = order.lines.get().pk
    url = {
        "token": f"/orders/{order.number}/{other.token}/delays/{notice.pk}/lines/{line_id}/",
        "notice": answer_url(
            order, Notification.objects.get(order=order, kind=Kind.CONFIRMATION), line_id
        ),
        "line": answer_url(order, notice, other.lines.get().pk),
        "number": f"/orders/BO-AAAA-AAAA/{order.token}/delays/{notice.pk}/lines/{line_id}/",
    }[wrong]

    # when
    responses = [client.get(url), client.post(url, {"answer": "cancel"})]

    # then
    assert [r.status_code for r in responses] == [404, 404]
    assert order.lines.get().backordered == 2


def test_the_answer_form_needs_csrf(delayed):
    from django.test import Client

    order, notice = delayed
    response = Client(enforce_csrf_checks=True).post(
        answer_url(order, notice), {"answer": "cancel"}
    )
    assert response.status_code == 403
    assert order.lines.get().backordered == 2


def test_the_status_link_opens_the_order_and_a_wrong_token_is_a_404(client, hoodie):
    # given
    order = order_place(email="a@example.com", name="A", lines=[LineRequest(hoodie.sku, 1)])
    eta = order.lines.get().eta

    # when
    page = client.get(f"/orders/{order.number}/{order.token}/")
    wrong = client.get(f"/orders/{order.number}/{order.token[:-1]}x/")
    unknown = client.get(f"/orders/BO-AAAA-AAAA/{order.token}/")

    # then
    assert page.status_code == 200
    assert f'<time datetime="{eta.isoformat()}">{eta.day} {eta:%B %Y}</time>' in (
        page.content.decode()
    )
    assert (wrong.status_code, unknown.status_code) == (404, 404)
    assert wrong.content == unknown.content


# Admin ----------------------------------------------------------------------------------------


def test_staff_see_the_outbox_and_resend_failed_emails(admin_client, hoodie):
    # given
    order = order_place(email="a@example.com", name="A", lines=[LineRequest(hoodie.sku, 1)])
    Notification.objects.update(status="failed", attempts=8, last_error="SMTPDataError: (451)")
    url = reverse("admin:notifications_notification_changelist")

    # when
    listing = admin_client.get(url + "?status__exact=failed")
    response = admin_client.post(
        url,
        {"action": "resend", "_selected_action": [n.pk for n in Notification.objects.all()]},
    )

    # then
    assert listing.status_code == 200
    assert order.number in listing.content.decode()
    assert "SMTPDataError: (451)" in listing.content.decode()
    assert response.status_code == 302
    row = Notification.objects.get()
    assert (row.status, row.attempts) == ("pending", 0)


def test_staff_without_the_permission_cannot_resend(client, hoodie):
    # given
    order_place(email="a@example.com", name="A", lines=[LineRequest(hoodie.sku, 1)])
    Notification.objects.update(status="failed")
    clerk = StaffFactory(username="clerk", is_superuser=False)
    clerk.user_permissions.add(Permission.objects.get(codename="view_notification"))
    client.force_login(clerk)
    url = reverse("admin:notifications_notification_changelist")

    # when
    listing = client.get(url)
    response = client.post(
        url,
        {"action": "resend", "_selected_action": [n.pk for n in Notification.objects.all()]},
    )

    # then
    assert listing.status_code == 200
    assert "Resend failed emails" not in listing.content.decode()
    assert response.status_code in (200, 302)
    assert Notification.objects.get().status == "failed"


def test_the_order_page_lists_the_emails_owed_and_sent(admin_client, hoodie):
    # given
    order = order_place(email="a@example.com", name="A", lines=[LineRequest(hoodie.sku, 1)])
    Notification.objects.update(status="failed", last_error="SMTPRecipientsRefused: 550")

    # when
    page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk]))

    # then
    content = page.content.decode()
    assert page.status_code == 200
    assert "Emails to the customer" in content
    assert "Order confirmation" in content
    assert "SMTPRecipientsRefused: 550" in content
