"""Every lock on stock is taken here, always in primary-key order, so writers never deadlock.

The rule: whoever changes a product's stock counters, allocations or order-line counters
first locks that product's row (`lock_products`), then its stock rows (`lock_stocks`). The
product lock is the mutex for the product's whole backorder queue: placement, reallocation,
cancellation and shipment of one product never interleave, while different products proceed
in parallel.
"""

from __future__ import annotations

from collections.abc import Iterable

from inventory.models import Product, Stock


def lock_products(product_ids: Iterable[int]) -> dict[int, Product]:
    """Lock the products' rows until the end of the transaction. Caller must be in one."""
    ids = sorted(set(product_ids))
    locked = Product.objects.filter(pk__in=ids).order_by("pk").select_for_update(of=("self",))
    return {product.pk: product for product in locked}


def lock_stocks(product_ids: Iterable[int]) -> list[Stock]:
    """Lock the products' stock rows. Caller must already hold `lock_products` for them."""
    ids = sorted(set(product_ids))
    return list(
        Stock.objects.filter(product_id__in=ids)
        .select_related("warehouse")
        .order_by("pk")
        .select_for_update(of=("self",))
    )
