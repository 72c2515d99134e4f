"""The shopper's cart: SKUs and quantities kept in the session, quoted afresh on every view.

Nothing in the cart is reserved. Each page asks the ETA engine what an order of the cart
would get right now, so what the shopper reads before ordering is what `order_place` does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inventory.checks import MAX_ORDER_LINES, MAX_QUANTITY, max_line_quantity, storable_text
from inventory.models import Product
from inventory.selectors import Quote, availability_quotes
from orders.forms import line_limit_message
from orders.templatetags.shop import when

SESSION_KEY = "cart"


class Cart:
    """SKU to quantity, in the order the shopper added them."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session
        stored = session.get(SESSION_KEY)
        self.items: dict[str, int] = {}
        if isinstance(stored, dict):
            for sku, quantity in stored.items():
                if isinstance(sku, str) and isinstance(quantity, int) and quantity > 0:
                    self.items[sku] = min(quantity, MAX_QUANTITY)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def units(self) -> int:
        return sum(self.items.values())

    def quantity(self, sku: str) -> int:
        return self.items.get(sku, 0)

    def can_add(self, sku: str) -> bool:
        return sku in self.items or len(self.items) < MAX_ORDER_LINES

    def set(self, sku: str, quantity: int) -> None:
        if not storable_text(sku):
            return
        if quantity <= 0:
            self.items.pop(sku, None)
        else:
            self.items[sku] = min(quantity, MAX_QUANTITY)
        self.save()

    def clear(self) -> None:
        self.items = {}
        self.save()

    def save(self) -> None:
        self.session[SESSION_KEY] = dict(self.items)
        self.session.modified = True


def ready_date(today: date | None = None) -> date:
    """When units in stock leave: today plus the handling time."""
    return (today or timezone.localdate()) + timedelta(days=settings.BACKORDER_HANDLING_DAYS)


@dataclass(frozen=True)
class CartRow:
    product: Product
    quantity: int
    quote: Quote

    @property
    def total(self) -> Decimal:
        return self.product.price * self.quantity

    @property
    def refused(self) -> bool:
        return self.quote.status == "unavailable"


@dataclass(frozen=True)
class CartView:
    """The cart quoted now: what ships when, and what each delivery choice means."""

    rows: list[CartRow]
    missing: list[str]
    """SKUs in the cart whose product no longer exists (dropped from the cart)."""
    today: date

    @property
    def total(self) -> Decimal:
        return sum((row.total for row in self.rows), start=Decimal(0))

    @property
    def refused(self) -> list[CartRow]:
        return [row for row in self.rows if row.refused]

    @property
    def ready_date(self) -> date:
        return ready_date(self.today)

    @property
    def ships_now(self) -> list[CartRow]:
        return [row for row in self.rows if row.quote.from_stock]

    @property
    def waiting(self) -> list[CartRow]:
        return [row for row in self.rows if row.quote.backordered]

    @property
    def last_date(self) -> date | None:
        """When everything would have shipped; None while a date is unknown."""
        if not self.rows or any(row.quote.eta is None for row in self.waiting):
            return None
        dates = [row.quote.eta for row in self.waiting if row.quote.eta is not None]
        return max(dates, default=self.ready_date)

    @property
    def offers_choice(self) -> bool:
        """Ship-now and ship-together differ only if some units are ready and some wait."""
        return bool(self.ships_now) and bool(self.waiting)

    def fingerprint(self) -> str:
        """What the shopper was shown: placing the order checks nothing has changed since."""
        facts = [
            f"{row.product.sku}:{row.quantity}:{row.quote.status}:{row.quote.from_stock}:"
            f"{row.quote.backordered}:{row.quote.eta}:{row.product.price}"
            for row in self.rows
        ]
        return hashlib.sha256("|".join(facts).encode()).hexdigest()[:32]


def cart_view(cart: Cart, *, today: date | None = None) -> CartView:
    """The cart's rows with fresh quotes: a fixed number of queries however many rows."""
    today = today or timezone.localdate()
    products = {p.sku: p for p in Product.objects.filter(sku__in=list(cart.items))}
    missing = [sku for sku in cart.items if sku not in products]
    for sku in missing:
        cart.items.pop(sku)
    if missing:
        cart.save()
    wanted = [(products[sku], quantity) for sku, quantity in cart.items.items()]
    quotes = availability_quotes(wanted=wanted, today=today) if wanted else []
    rows = [
        CartRow(product, quantity, quote)
        for (product, quantity), quote in zip(wanted, quotes, strict=True)
    ]
    return CartView(rows=rows, missing=missing, today=today)


def refusal_message(row: CartRow) -> str:
    """Why the shop cannot take this line as it stands, and what would work, in the
    shopper's language ("" when it can)."""
    if row.quote.status != "unavailable":
        return ""
    quote, product = row.quote, row.product
    available = quote.available
    if quote.code == "not_released":
        if product.release_date is not None:
            return mark_safe(  # noqa: S308 - the text is escaped, the date is a <time> tag
                conditional_escape(_("Not released yet: you can order it from %(date)s."))
                % {"date": when(product.release_date)}
            )
        return _("Not released yet.")
    if quote.code == "max_per_order":
        return line_limit_message(max_line_quantity(product.max_per_order))
    if not available:
        if quote.code == "backorder_limit":
            return _("Sold out, and our backorder list for it is full for now.")
        return _("Sold out, and we are not taking backorders for it.")
    if quote.code == "backorder_limit":
        return ngettext(
            "We can take only %(count)d more for now: our backorder list for it is nearly full.",
            "We can take only %(count)d more for now: our backorder list for it is nearly full.",
            available,
        ) % {"count": available}
    return ngettext(
        "Only %(count)d left, and we are not taking backorders for it.",
        "Only %(count)d left, and we are not taking backorders for it.",
        available,
    ) % {"count": available}
