"""Inventory tables: products, warehouses, stock counters, the stock ledger, allocations,
suppliers with their terms, and purchase orders with their receipts. Fields, constraints and
small derived properties only: every change goes through a service."""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Warehouse(models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    priority = models.IntegerField(
        default=0, help_text="Stock is taken from warehouses with a higher priority first."
    )
    is_default = models.BooleanField(
        default=False, help_text="Used when a stock change names no warehouse."
    )

    class Meta:
        ordering = ["-priority", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="warehouse_single_default",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"


class Product(models.Model):
    class BackorderPolicy(models.TextChoices):
        DENY = "deny", "Deny"
        BACKORDER = "backorder", "Backorder"
        PREORDER = "preorder", "Pre-order"

    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    backorder_policy = models.CharField(
        max_length=16,
        choices=BackorderPolicy.choices,
        default=BackorderPolicy.BACKORDER,
        help_text=(
            "When stock runs out: deny refuses the order; backorder accepts it and ships when"
            " stock arrives; pre-order takes orders until the release date, then backorders."
        ),
    )
    lead_time_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=(
            "Days from reorder to arrival, for ETAs past all scheduled supply; used when no"
            " active supplier has terms for this product."
        ),
    )
    backorder_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most units that may be backordered or pre-ordered at once; empty for no cap.",
    )
    max_per_order = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most units of this product in one order line."
    )
    release_date = models.DateField(
        null=True, blank=True, help_text="Before this date the product can only be pre-ordered."
    )
    # Kept by `inventory.ledger.waiting_change` under the product lock, so that placement and
    # quotes read the queue's length from the product row instead of summing the queue;
    # `verify_stock` checks it against the lines.
    waiting_units = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Units waiting in the backorder queue: the sum of the lines' backordered units.",
    )
    # Replenishment (`inventory.replenishment`): empty fields are computed each night from
    # the forecast and the suppliers' delivery record; a figure set here is used as it is.
    service_level = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        help_text=(
            "Chance of not running out while waiting for a delivery, e.g. 0.950. Empty: by"
            " the product's sales class (A 0.98, B 0.95, C 0.90)."
        ),
    )
    safety_stock = models.PositiveIntegerField(
        null=True, blank=True, help_text="Units kept against uncertainty. Empty: computed."
    )
    reorder_point = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Reorder when the inventory position falls to this. Empty: computed.",
    )
    order_up_to = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A reorder brings the inventory position up to this. Empty: computed.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
            models.CheckConstraint(
                condition=Q(max_per_order__isnull=True) | Q(max_per_order__gte=1),
                name="product_max_per_order_positive",
            ),
            models.CheckConstraint(
                condition=Q(service_level__isnull=True)
                | Q(service_level__gte="0.5", service_level__lte="0.999"),
                name="product_service_level_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Stock(models.Model):
    """What one warehouse holds of one product; counters change only through services."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="stocks")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stocks")
    on_hand = models.IntegerField(default=0)
    allocated = models.IntegerField(default=0)
    # The digest of this row's last movement (`inventory.chain`): the chain's end.
    ledger_head = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        ordering = ["product", "-warehouse__priority", "warehouse"]
        constraints = [
            models.UniqueConstraint(fields=["product", "warehouse"], name="stock_unique"),
            models.CheckConstraint(condition=Q(allocated__gte=0), name="stock_allocated_gte_0"),
            models.CheckConstraint(
                condition=Q(allocated__lte=F("on_hand")), name="stock_allocated_lte_on_hand"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} @ {self.warehouse.code}"

    @property
    def free(self) -> int:
        return self.on_hand - self.allocated


class StockMovement(models.Model):
    """One row of the append-only stock ledger.

    Replaying the ledger gives the counters: `receipt`, `adjustment` and `return` change
    `on_hand` by `quantity`; `allocation` and `deallocation` change `allocated` by it;
    `shipment` changes both (its quantity is negative).
    """

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        ADJUSTMENT = "adjustment", "Adjustment"
        ALLOCATION = "allocation", "Allocation"
        DEALLOCATION = "deallocation", "Deallocation"
        SHIPMENT = "shipment", "Shipment"
        RETURN = "return", "Return"

    ON_HAND_KINDS = (Kind.RECEIPT, Kind.ADJUSTMENT, Kind.RETURN, Kind.SHIPMENT)
    ALLOCATED_KINDS = (Kind.ALLOCATION, Kind.DEALLOCATION, Kind.SHIPMENT)

    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    quantity = models.IntegerField()
    order_line = models.ForeignKey(
        "orders.OrderLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stock_movements",
    )
    reason = models.CharField(max_length=255, blank=True)
    reference = models.CharField(
        max_length=100, blank=True, help_text="Supplier delivery note, purchase order, RMA..."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set by the ledger before the digest is taken over it.
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    # SHA-256 over this movement and the one before it on its stock row (`inventory.chain`).
    digest = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="movement_quantity_not_zero"),
            models.CheckConstraint(
                condition=~Q(kind__in=["receipt", "allocation"]) | Q(quantity__gt=0),
                name="movement_increase_positive",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["deallocation", "shipment"]) | Q(quantity__lt=0),
                name="movement_decrease_negative",
            ),
        ]
        indexes = [models.Index(fields=["stock", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity:+d} {self.stock}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("The stock ledger is append-only.")
        super().save(*args, **kwargs)


class Allocation(models.Model):
    """Units of one warehouse's stock reserved for one order line."""

    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.CASCADE, related_name="allocations"
    )
    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="allocations")
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order_line", "stock"], name="allocation_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="allocation_quantity_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.stock} for line {self.order_line_id}"


class Supplier(models.Model):
    name = models.CharField(max_length=200, unique=True)
    email = models.EmailField(blank=True)
    lead_time_days = models.PositiveIntegerField(
        help_text="Days from ordering to arrival, unless a product's terms say otherwise."
    )
    is_active = models.BooleanField(
        default=True, help_text="Inactive suppliers are left out of lead times and reordering."
    )
    language = models.CharField(
        max_length=5,
        choices=settings.LANGUAGES,
        default="en",
        help_text="The language of the purchase orders emailed to the supplier.",
    )
    auto_order = models.BooleanField(
        default=False,
        help_text=(
            "Place the nightly draft purchase orders for this supplier by themselves, within"
            " the daily spend cap."
        ),
    )
    auto_order_daily_cap = models.DecimalField(
        "auto-order daily spend cap",
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Most that automatic orders may spend with this supplier in one day.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(auto_order=False) | Q(auto_order_daily_cap__gt=0),
                name="supplier_auto_order_capped",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SupplierProduct(models.Model):
    """What one supplier offers for one product; rank 1 is the preferred supplier."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="terms")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="supplier_terms")
    supplier_sku = models.CharField("supplier SKU", max_length=64, blank=True)
    lead_time_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: the supplier's default lead time."
    )
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    minimum_order_quantity = models.PositiveIntegerField(default=1)
    pack_size = models.PositiveIntegerField(
        default=1, help_text="The supplier sells in multiples of this many units."
    )
    rank = models.PositiveSmallIntegerField(
        default=1, help_text="Preference: 1 is the preferred supplier, then 2, 3..."
    )

    class Meta:
        ordering = ["product", "rank", "pk"]
        verbose_name = "supplier terms"
        verbose_name_plural = "supplier terms"
        constraints = [
            models.UniqueConstraint(fields=["supplier", "product"], name="supplier_product_unique"),
            models.CheckConstraint(
                condition=Q(minimum_order_quantity__gte=1), name="supplier_product_moq_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(pack_size__gte=1), name="supplier_product_pack_size_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(unit_cost__isnull=True) | Q(unit_cost__gte=0),
                name="supplier_product_cost_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} from {self.supplier.name}"

    @property
    def quoted_lead_time_days(self) -> int:
        if self.lead_time_days is not None:
            return self.lead_time_days
        return self.supplier.lead_time_days


class PurchaseOrder(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ORDERED = "ordered", "Ordered"
        PARTIALLY_RECEIVED = "partially_received", "Partially received"
        RECEIVED = "received", "Received"
        CANCELLED = "cancelled", "Cancelled"

    class Origin(models.TextChoices):
        """Who drafted the order: staff by hand, staff from the reorder suggestions, or the
        nightly replenishment run."""

        STAFF = "staff", "Staff"
        SUGGESTIONS = "suggestions", "Suggestions"
        NIGHTLY = "nightly", "Nightly run"

    OPEN_STATUSES = (Status.ORDERED, Status.PARTIALLY_RECEIVED)

    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="purchase_orders")
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="purchase_orders"
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    reference = models.CharField(
        max_length=100, blank=True, help_text="The supplier's order confirmation or invoice."
    )
    notes = models.TextField(blank=True)
    origin = models.CharField(
        max_length=16, choices=Origin.choices, default=Origin.STAFF, editable=False
    )
    auto_placed = models.BooleanField(
        default=False, editable=False, help_text="Placed by the nightly run (auto-order)."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ordered_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        return f"PO-{self.pk:05d}" if self.pk else "PO (new)"


class PurchaseOrderLine(models.Model):
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.CASCADE, related_name="lines"
    )
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="purchase_order_lines"
    )
    quantity = models.PositiveIntegerField("ordered")
    received = models.PositiveIntegerField(default=0, editable=False)
    cancelled = models.PositiveIntegerField(default=0, editable=False)
    expected_date = models.DateField()
    first_expected_date = models.DateField(
        editable=False, help_text="The date the supplier first promised."
    )
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["purchase_order", "expected_date", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="po_line_quantity_gt_0"),
            models.CheckConstraint(
                condition=Q(quantity__gte=F("received") + F("cancelled")),
                name="po_line_not_over_received",
            ),
        ]
        indexes = [models.Index(fields=["product", "expected_date"])]

    def __str__(self) -> str:
        return f"{self.purchase_order.number} {self.product.sku} x{self.quantity}"

    @property
    def outstanding(self) -> int:
        return self.quantity - self.received - self.cancelled


class PurchaseReceipt(models.Model):
    """Goods of one purchase-order line arriving: when, against the date expected."""

    line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="receipts")
    quantity = models.PositiveIntegerField()
    received_on = models.DateField()
    expected_date = models.DateField(help_text="The line's expected date when the goods came.")
    delay_days = models.IntegerField(help_text="Days late; negative when early.")
    movement = models.OneToOneField(
        StockMovement, on_delete=models.PROTECT, related_name="purchase_receipt"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="receipt_quantity_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.line} on {self.received_on}"


class UnsentRefresh(models.Model):
    """A product refresh asked for after a commit that could not be queued (the broker was
    unreachable). Written and sent again by `inventory.refresh`: the beat does so every
    minute and deletes the row."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    cause = models.CharField(max_length=24)
    detail = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Refresh of product {self.product_id} ({self.cause})"


class DemandHistory(models.Model):
    """One product's demand on one past day, imported (`manage.py demand_import`) from the
    shop's previous platform: history for forecasting, beside what orders here record."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="demand_history")
    day = models.DateField()
    quantity = models.PositiveIntegerField(help_text="Units customers ordered that day.")
    refused = models.PositiveIntegerField(
        default=0, help_text="Units asked for but refused (out of stock, caps...)."
    )
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product", "day"]
        verbose_name_plural = "demand history"
        constraints = [
            models.UniqueConstraint(fields=["product", "day"], name="demand_history_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.day}: {self.quantity}"


class ProductForecast(models.Model):
    """The nightly forecast of one product (`inventory.replenishment`): what the spike check
    compares recent demand with during the day, and what the reports show."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="forecast")
    computed_on = models.DateField(help_text="The first day forecast: history ends the day before.")
    method = models.CharField(max_length=16)
    shape = models.CharField(max_length=16)
    daily_mean = models.FloatField(help_text="Expected units a day.")
    daily_sd = models.FloatField(help_text="Standard deviation of one day's units.")
    daily = models.JSONField(
        default=list, help_text="Expected units for each day from computed_on on."
    )
    abc_class = models.CharField("ABC class", max_length=1, default="C")
    history_days = models.PositiveIntegerField()
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product"]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.daily_mean:.2f}/day ({self.method})"


class SpikeAlert(models.Model):
    """Demand running well above the forecast: one per product per window
    (`inventory.replenishment.spikes_check`), told to the purchasing staff."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="spike_alerts")
    window_start = models.DateField(help_text="First day of the alert window.")
    first_day = models.DateField(help_text="First day of the demand that ran high.")
    observed = models.PositiveIntegerField(help_text="Units asked for, refused ones included.")
    expected = models.FloatField(help_text="Units the forecast expected in those days.")
    backlog_units = models.PositiveIntegerField(
        help_text="Units the spike leaves waiting beyond what stock and supply cover."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "window_start"], name="spike_alert_once_per_window"
            ),
        ]

    def __str__(self) -> str:
        return f"Spike of {self.product_id} from {self.first_day}"


class StockVerification(models.Model):
    """One run of the stock verification (`inventory.verification`): what disagreed, what
    the ledger proved and was repaired, what could not be explained and was left alone."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # [{"what", "expected", "found", "repaired": bool, "why": ...}], in the order found.
    drift = models.JSONField(default=list, blank=True)
    # [{"stock", "movement", "why"}]: the first broken link of each broken chain.
    broken_links = models.JSONField(default=list, blank=True)
    repaired = models.PositiveIntegerField(default=0)
    unexplained = models.PositiveIntegerField(default=0)
    movements = models.PositiveBigIntegerField(
        default=0, help_text="Movements whose chain was checked."
    )
    root = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 over every stock row's chain head."
    )

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = "stock verification"

    def __str__(self) -> str:
        return f"Stock verification {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_clean(self) -> bool:
        return not self.drift and not self.broken_links
