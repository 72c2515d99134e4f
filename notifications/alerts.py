"""Back-in-stock alerts: a shopper asks to hear when a sold-out `deny` product returns.

The alert is answered by `notifications.outbox.stock_alerts_release`, which the stock
services call when units become free.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q

from inventory import selectors
from inventory.checks import check_email, check_locale
from inventory.exceptions import AlertNotNeeded
from inventory.models import Product
from notifications.models import StockAlert


def stock_alert_subscribe(*, product: Product, email: object, locale: object) -> StockAlert:
    """Ask to be told when a sold-out `deny` product can be ordered again.

    Offered only while the product is refused for lack of stock; asking again while a request
    waits returns that request.
    """
    email = check_email(email)
    locale = check_locale(locale)
    if (
        product.backorder_policy != Product.BackorderPolicy.DENY
        or selectors.free_units(product.pk) > 0
    ):
        raise AlertNotNeeded("This product can be ordered now: no need to wait for it.")
    with transaction.atomic():
        alert = StockAlert.objects.filter(
            Q(product=product) & Q(email__iexact=email) & Q(notified_at__isnull=True)
        ).first()
        if alert is not None:
            return alert
        try:
            with transaction.atomic():
                return StockAlert.objects.create(product=product, email=email, locale=locale)
        except IntegrityError:
            # A concurrent request for the same address won.
            return StockAlert.objects.get(product=product, email=email, notified_at__isnull=True)
