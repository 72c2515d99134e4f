"""Notification tables: the outbox (`Notification`), back-in-stock alerts and answers to
delay notices."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from inventory.models import Product, PurchaseOrder, SpikeAlert, StockVerification
from orders.models import Order, OrderLine


class StockAlert(models.Model):
    """A customer's request to hear when a sold-out `deny` product is back in stock."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="stock_alerts")
    email = models.EmailField()
    locale = models.CharField(max_length=5, choices=Order.Locale.choices, default=Order.Locale.EN)
    created_at = models.DateTimeField(default=timezone.now)
    notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One waiting request per address and product; a notified one may be renewed.
            models.UniqueConstraint(
                fields=["product", "email"],
                condition=Q(notified_at__isnull=True),
                name="stock_alert_one_waiting",
            ),
        ]
        indexes = [
            models.Index(
                fields=["product", "created_at"],
                condition=Q(notified_at__isnull=True),
                name="stock_alert_waiting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} for {self.product_id}"


class Notification(models.Model):
    """An email owed to a customer: the transactional outbox.

    The row is written in the same transaction as the change it tells about; a worker sends
    it after commit, and a beat sweep sends any row still pending later. Pending rows of one
    order go out together as one email.
    """

    class Kind(models.TextChoices):
        CONFIRMATION = "confirmation", "Order confirmation"
        DELAY = "delay", "Delay notice"
        EARLIER = "earlier", "Ships sooner"
        ALLOCATED = "allocated", "Ready to ship"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"
        BACK_IN_STOCK = "back_in_stock", "Back in stock"
        SHIPPING = "shipping", "Delivery choice changed"
        KEPT = "kept", "Keeps waiting"
        STATUS_LINK = "status_link", "Status link"
        PURCHASE_ORDER = "purchase_order", "Purchase order to supplier"
        AUTO_ORDERED = "auto_ordered", "Placed automatically (staff)"
        SPIKE = "spike", "Demand spike (staff)"
        VERIFICATION = "verification", "Stock verification (staff)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    key = models.CharField(
        max_length=100, unique=True, editable=False, help_text="Idempotency key: one row per fact."
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    alert = models.ForeignKey(
        StockAlert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    purchase_order = models.ForeignKey(
        PurchaseOrder,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        help_text="Emails to the supplier, and to staff about an order placed automatically.",
    )
    spike = models.ForeignKey(
        SpikeAlert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    verification = models.ForeignKey(
        StockVerification,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    to = models.EmailField()
    locale = models.CharField(max_length=5, choices=Order.Locale.choices, default=Order.Locale.EN)
    data = models.JSONField(
        default=dict, blank=True, help_text="What happened: lines, dates, reason, tracking."
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(order__isnull=False)
                | Q(alert__isnull=False)
                | Q(purchase_order__isnull=False)
                | Q(spike__isnull=False)
                | Q(verification__isnull=False),
                name="notification_has_recipient",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="notification_pending",
            ),
            models.Index(fields=["order", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to}"


class DelayAnswer(models.Model):
    """The customer's answer to a delay notice for one line: keep waiting, or cancel."""

    class Answer(models.TextChoices):
        KEEP = "keep", "Kept waiting"
        CANCEL = "cancel", "Cancelled"

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="answers")
    line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="delay_answers")
    answer = models.CharField(max_length=8, choices=Answer.choices)
    quantity = models.PositiveIntegerField(default=0, help_text="Units cancelled.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["notification", "line"], name="delay_answer_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_answer_display()} (line {self.line_id})"
