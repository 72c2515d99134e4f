"""What every customer page shows in its header."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from orders.cart import Cart


def shop(request: HttpRequest) -> dict[str, Any]:
    # Lazy: pages that never show the cart never read the session for it.
    return {
        "shop_name": settings.BACKORDER_SHOP_NAME,
        "cart_units": SimpleLazyObject(lambda: Cart(request.session).units),
    }
