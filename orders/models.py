"""Order tables: orders, their lines and counters, shipments, the event log, the ETA history,
Idempotency-Keys and refused demand. Fields, constraints and small derived properties only."""

import re
import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from inventory.models import Product, Stock

NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
NUMBER_SHAPE = re.compile(r"BO-[A-Z0-9]{4}-[A-Z0-9]{4}")
"""What an order number looks like: text of another shape is no order's number."""


def new_order_number() -> str:
    """Eight characters with no look-alikes (0/O, 1/I): easy to read out on the phone."""
    code = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))
    return f"BO-{code[:4]}-{code[4:]}"


def new_order_token() -> str:
    return secrets.token_urlsafe(32)


class Order(models.Model):
    class Locale(models.TextChoices):
        EN = "en", "English"
        ID = "id", "Bahasa Indonesia"

    number = models.CharField(max_length=16, unique=True, default=new_order_number, editable=False)
    token = models.CharField(max_length=64, unique=True, default=new_order_token, editable=False)
    email = models.EmailField()
    name = models.CharField(max_length=200)
    locale = models.CharField(max_length=5, choices=Locale.choices, default=Locale.EN)
    ship_complete = models.BooleanField(
        default=False, help_text="Ship everything together rather than what is ready now."
    )
    address = models.TextField("street address", blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=100, blank=True)
    phone = models.CharField(
        max_length=32, blank=True, help_text="For the courier, if the customer gave one."
    )
    priority = models.IntegerField(
        default=0,
        validators=[MinValueValidator(-1000), MaxValueValidator(1000)],
        help_text="Backorders of orders with a higher priority are filled first (-1000 to 1000).",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("order-status", args=[self.number, self.token])

    @property
    def shipping_lines(self) -> list[str]:
        """The address as it goes on the parcel, one line per entry."""
        lines = [self.name, *self.address.splitlines()]
        lines.append(" ".join(part for part in (self.postal_code, self.city) if part))
        lines.append(self.country)
        return [line.strip() for line in lines if line.strip()]


class OrderLine(models.Model):
    class Status(models.TextChoices):
        ALLOCATED = "allocated", "Allocated"
        BACKORDERED = "backordered", "Backordered"
        PREORDERED = "preordered", "Pre-ordered"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField()
    allocated = models.PositiveIntegerField(default=0)
    backordered = models.PositiveIntegerField(default=0)
    shipped = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    cancelled_in_error = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text=(
            "Of the cancelled units, those staff cancelled as entered in error (a duplicate, a"
            " test order): never demand, so forecasts leave them out."
        ),
    )
    status = models.CharField(max_length=16, choices=Status.choices, editable=False)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    eta = models.DateField(
        "ETA", null=True, blank=True, editable=False, help_text="When the last unit should ship."
    )
    first_promised_eta = models.DateField(
        "first promised ETA",
        null=True,
        blank=True,
        editable=False,
        help_text="The ETA the customer was told when ordering.",
    )
    notified_eta = models.DateField(
        "notified ETA",
        null=True,
        blank=True,
        editable=False,
        help_text="The ETA the customer was last told (empty: told no date is known).",
    )
    # The order's place in every queue (its priority, then when it was placed), copied onto
    # each line by placement and by `orders.services.order_priority_set`, the only writers,
    # so that a product's queue is read in index order without joining the orders.
    queue_priority = models.IntegerField(default=0, editable=False)
    queued_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_gt_0"),
            models.CheckConstraint(
                condition=Q(
                    quantity=F("allocated") + F("backordered") + F("shipped") + F("cancelled")
                ),
                name="line_quantities_add_up",
            ),
            models.CheckConstraint(
                condition=Q(cancelled_in_error__lte=F("cancelled")),
                name="line_errors_within_cancelled",
            ),
        ]
        indexes = [
            # The backorder queue of each product, in queue order, with the units each line
            # waits for: the queue's running sums (`orders.selectors.queue_positions_sql`)
            # read it in order, without a sort or a join.
            models.Index(
                fields=["product", "-queue_priority", "queued_at", "id"],
                include=["backordered"],
                condition=Q(backordered__gt=0),
                name="line_backorder_queue",
            ),
            # Every line in queue order: the admin's line list and pick list
            # (`orders.selectors.lines_ready_to_ship`) read a page of it without a sort.
            models.Index(fields=["-queue_priority", "queued_at", "id"], name="line_queue_order"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number} {self.product.sku} x{self.quantity}"

    @property
    def outstanding(self) -> int:
        return self.quantity - self.shipped - self.cancelled


class ReadyToShip(OrderLine):
    """The admin's pick list: order lines with units set aside that may ship now."""

    class Meta:
        proxy = True
        verbose_name = "line ready to ship"
        verbose_name_plural = "ready to ship (pick list)"


class OrderEvent(models.Model):
    """The order's history: the customer timeline and the admin history read these rows."""

    class Kind(models.TextChoices):
        PLACED = "placed", "Order placed"
        ALLOCATED = "allocated", "Stock allocated"
        BACKORDERED = "backordered", "Backordered"
        PREORDERED = "preordered", "Pre-ordered"
        RELEASED = "released", "Released"
        PRIORITY_CHANGED = "priority", "Priority changed"
        SHIP_TOGETHER = "ship_together", "Chose to ship everything together"
        SHIP_AS_READY = "ship_as_ready", "Chose to ship what is ready now"
        KEPT_WAITING = "kept", "Chose to keep waiting"
        DEALLOCATED = "deallocated", "Allocation released"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    line = models.ForeignKey(
        OrderLine, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    quantity = models.PositiveIntegerField(null=True, blank=True)
    status_before = models.CharField(max_length=16, blank=True)
    status_after = models.CharField(max_length=16, blank=True)
    message = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["order", "created_at"])]

    def __str__(self) -> str:
        return f"{self.order_id} {self.get_kind_display()}"


class EtaChange(models.Model):
    """A line's ETA moving, and why: feeds customer notices and ETA-accuracy reports."""

    class Cause(models.TextChoices):
        PLACED = "placed", "Order placed"
        PO_CREATED = "po_created", "Purchase order placed"
        PO_DATE_CHANGED = "po_date_changed", "Delivery date changed"
        PO_RECEIVED = "po_received", "Goods received"
        PO_CANCELLED = "po_cancelled", "Purchase order cancelled"
        QUEUE_AHEAD_CANCELLED = "queue_ahead_cancelled", "Order ahead cancelled"
        QUEUE_CHANGED = "queue_changed", "Queue order changed"
        LEAD_TIME_CHANGED = "lead_time_changed", "Lead time changed"
        STOCK_CHANGED = "stock_changed", "Stock changed"
        RELEASED = "released", "Product released"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Line cancelled"
        DAY_ROLLOVER = "day_rollover", "New day"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="eta_changes")
    line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="eta_changes")
    previous = models.DateField(null=True, blank=True)
    eta = models.DateField("ETA", null=True, blank=True)
    cause = models.CharField(max_length=24, choices=Cause.choices)
    detail = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = "ETA change"
        indexes = [
            models.Index(fields=["order", "created_at"]),
            models.Index(fields=["cause", "created_at"]),
        ]

    def __str__(self) -> str:
        before = f"{self.previous:%Y-%m-%d}" if self.previous else "none"
        after = f"{self.eta:%Y-%m-%d}" if self.eta else "none"
        return f"{self.get_cause_display()}: {before} to {after}"

    @property
    def days_moved(self) -> int | None:
        if self.previous is None or self.eta is None:
            return None
        return (self.eta - self.previous).days


class Shipment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="shipments")
    carrier = models.CharField(max_length=50, blank=True, help_text="JNE, J&T, SiCepat...")
    tracking = models.CharField(max_length=100, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Shipment {self.pk} of {self.order_id}"


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        OrderLine, on_delete=models.PROTECT, related_name="shipment_lines"
    )
    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="shipment_line_quantity_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x line {self.order_line_id}"


class RefusedDemand(models.Model):
    """Demand an order would have created but policy refused: still a signal for forecasting."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="refused_demand")
    quantity = models.PositiveIntegerField()
    reason = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "refused demand"

    def __str__(self) -> str:
        return f"{self.product_id} x{self.quantity} ({self.reason})"


class IdempotencyKey(models.Model):
    """An `Idempotency-Key` a client sent with an order: a retry gets the same order back.

    Keys belong to who sent them: each user has a key space of their own, and anonymous
    callers (the storefront, customers of the API) share one.
    """

    key = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Who sent the key; empty: an anonymous caller.",
    )
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request body.")
    order = models.ForeignKey(
        Order,
        null=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty only while the first request is being processed.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "idempotency key"
        constraints = [
            # Two partial indexes: NULLs are distinct in a plain unique index.
            models.UniqueConstraint(
                fields=["user", "key"],
                condition=Q(user__isnull=False),
                name="idempotency_key_unique_per_user",
            ),
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(user__isnull=True),
                name="idempotency_key_unique_anonymous",
            ),
        ]

    def __str__(self) -> str:
        return self.key
