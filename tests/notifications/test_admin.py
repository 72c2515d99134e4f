"""The notifications backoffice: the outbox is read-only, and failed emails can be resent."""

from django.contrib.messages import get_messages
from django.urls import reverse

from notifications.models import Notification
from orders.models import Order
from orders.services import LineRequest, order_place


def place(product, quantity: int) -> Order:
    return order_place(
        email="ayu@example.com", name="Ayu", lines=[LineRequest(product.sku, quantity)]
    )


def outbox() -> list[tuple]:
    return list(
        Notification.objects.order_by("pk").values_list("pk", "status", "attempts", "last_error")
    )


def test_resend_puts_failed_emails_back_in_the_outbox_and_leaves_the_rest(admin_client, hoodie):
    # given two confirmations: one failed for good, one still pending
    failed = Notification.objects.get(order=place(hoodie, 1))
    pending = Notification.objects.get(order=place(hoodie, 2))
    Notification.objects.filter(pk=failed.pk).update(
        status=Notification.Status.FAILED, attempts=5, last_error="550 mailbox unavailable"
    )

    # when
    response = admin_client.post(
        reverse("admin:notifications_notification_changelist"),
        {"action": "resend", "_selected_action": [failed.pk, pending.pk], "index": 0},
    )

    # then
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Queued 1 failed email(s) to send again. 1 not failed, left alone."
    ]
    assert outbox() == [
        (failed.pk, "pending", 0, "550 mailbox unavailable"),
        (pending.pk, "pending", 0, ""),
    ]


def test_the_outbox_is_read_only(admin_client, hoodie):
    # given
    order = place(hoodie, 1)
    notification = Notification.objects.get(order=order)
    before = outbox()

    # when
    listed = admin_client.get(reverse("admin:notifications_notification_changelist"))
    page = admin_client.get(
        reverse("admin:notifications_notification_change", args=[notification.pk])
    )
    change = admin_client.post(
        reverse("admin:notifications_notification_change", args=[notification.pk]),
        {"status": "sent", "attempts": 0},
    )
    delete = admin_client.post(
        reverse("admin:notifications_notification_delete", args=[notification.pk]),
        {"post": "yes"},
    )

    # then
    assert (listed.status_code, page.status_code) == (200, 200)
    assert f'<a href="../../orders/order/{order.pk}/change/">{order.number}</a>' in (
        listed.content.decode()
    )
    assert (change.status_code, delete.status_code) == (403, 403)
    assert outbox() == before
