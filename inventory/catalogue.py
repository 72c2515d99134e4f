"""Catalogue services: products and suppliers, and what a change to them means for supply.

A change to a product's policy, lead time or release date, or to a supplier's lead time,
activity or terms, moves the ETAs of everyone waiting: `product_supply_changed` asks for the
products' refresh after commit (`inventory.refresh`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from inventory.checks import (
    MAX_LEAD_TIME_DAYS,
    check_count,
    check_day,
    check_email,
    check_sku,
    check_text,
)
from inventory.exceptions import AlreadyExists, ValidationFailed
from inventory.locks import lock_products, lock_supplier
from inventory.models import Product, Supplier, SupplierProduct
from inventory.refresh import refresh_after_commit
from orders.models import EtaChange

PRODUCT_FIELDS = (
    "name",
    "price",
    "backorder_policy",
    "lead_time_days",
    "backorder_limit",
    "max_per_order",
    "release_date",
)
# Reorder figures the shop may fix by hand (`inventory.replenishment` computes the rest).
REORDER_FIELDS = ("service_level", "safety_stock", "reorder_point", "order_up_to")
# A change to one of these moves ETAs or releases pre-orders: the product is refreshed.
PRODUCT_SUPPLY_FIELDS = {
    "backorder_policy": "backorder policy",
    "lead_time_days": "lead time",
    "release_date": "release date",
}
SUPPLIER_FIELDS = (
    "name",
    "email",
    "lead_time_days",
    "is_active",
    "language",
    "auto_order",
    "auto_order_daily_cap",
)
# A change to one of these moves the lead time of every product the supplier offers.
SUPPLIER_SUPPLY_FIELDS = {"lead_time_days": "lead time", "is_active": "active"}


def product_supply_changed(*, product_ids: Iterable[int], detail: str = "") -> None:
    """Lead time, release date or supplier terms changed: recompute the products' ETAs."""
    refresh_after_commit(
        sorted(set(product_ids)), cause=EtaChange.Cause.LEAD_TIME_CHANGED, detail=detail
    )


def _check_changeable(changes: dict[str, Any], fields: Iterable[str]) -> None:
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise ValidationFailed(
            "These fields cannot be changed.", fields={name: "read-only" for name in unknown}
        )


def _apply(instance: Product | Supplier, changes: dict[str, Any]) -> list[str]:
    """Set the changed fields on `instance` (unsaved); return their names."""
    changed = [name for name, value in changes.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, changes[name])
    return changed


def _product_check(product: Product) -> None:
    """Domain checks on a product about to be saved; model-level rules come from full_clean."""
    product.name = check_text(product.name, field="name", max_length=200)
    if not isinstance(product.price, Decimal) or not product.price.is_finite():
        raise ValidationFailed("Enter a price.", fields={"price": "not a number"})
    if product.price < 0 or product.price >= Decimal("1e10"):
        raise ValidationFailed(
            "The price must be from 0 to 9999999999.99.", fields={"price": "out of range"}
        )
    if product.price != product.price.quantize(Decimal("0.01")):
        raise ValidationFailed(
            "The price has at most two decimal places.", fields={"price": "too precise"}
        )
    if product.backorder_policy not in Product.BackorderPolicy.values:
        raise ValidationFailed(
            "Unknown backorder policy.",
            fields={"backorder_policy": f"one of {Product.BackorderPolicy.values}"},
        )
    check_count(product.lead_time_days, field="lead_time_days", maximum=MAX_LEAD_TIME_DAYS)
    check_count(product.backorder_limit, field="backorder_limit")
    check_count(product.max_per_order, field="max_per_order", minimum=1)
    if product.release_date is not None:
        check_day(product.release_date, field="release_date")
    level = product.service_level
    if level is not None and not (
        isinstance(level, Decimal)
        and level.is_finite()
        and Decimal("0.5") <= level <= Decimal("0.999")
    ):
        raise ValidationFailed(
            "The service level is a share from 0.500 to 0.999, e.g. 0.950.",
            fields={"service_level": "out of range"},
        )
    for name in REORDER_FIELDS[1:]:
        check_count(getattr(product, name), field=name)


@transaction.atomic
def product_create(
    *,
    sku: str,
    name: str,
    price: Decimal,
    backorder_policy: str = Product.BackorderPolicy.BACKORDER,
    lead_time_days: int | None = None,
    backorder_limit: int | None = None,
    max_per_order: int | None = None,
    release_date: date | None = None,
    actor: Any = None,
    **reorder: Any,
) -> Product:
    """Add a product to the catalogue; a duplicate SKU is refused with `AlreadyExists`.
    `reorder`: any of the figures in `REORDER_FIELDS` fixed by hand."""
    sku = check_sku(sku)
    _check_changeable(reorder, REORDER_FIELDS)
    product = Product(
        sku=sku,
        name=name,
        price=price,
        backorder_policy=backorder_policy,
        lead_time_days=lead_time_days,
        backorder_limit=backorder_limit,
        max_per_order=max_per_order,
        release_date=release_date,
        **reorder,
    )
    _product_check(product)
    # The unique index decides under concurrency; the savepoint keeps the transaction usable.
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:
        raise AlreadyExists(
            f"A product with SKU {sku} already exists.", fields={"sku": "already exists"}
        ) from None
    return product


@transaction.atomic
def product_update(
    *, product_id: int, changes: dict[str, Any], actor: Any = None, detail: str = ""
) -> Product:
    """Change a product's catalogue fields. Takes the product lock.

    A change to the policy, lead time or release date refreshes the product's backorders and
    ETAs after commit; `detail` says where the change came from ("... changed" by default).
    """
    _check_changeable(changes, (*PRODUCT_FIELDS, *REORDER_FIELDS))
    product = lock_products([product_id]).get(product_id)
    if product is None:
        raise ValidationFailed("Unknown product.", fields={"sku": "unknown"})
    changed = _apply(product, changes)
    if not changed:
        return product
    _product_check(product)
    product.save(update_fields=[*changed, "updated_at"])
    supply = [label for name, label in PRODUCT_SUPPLY_FIELDS.items() if name in changed]
    if supply:
        product_supply_changed(
            product_ids=[product.pk],
            detail=f"{', '.join(supply).capitalize()} changed{detail}",
        )
    return product


def _supplier_check(name: object, email: object, lead_time_days: object) -> tuple[str, str, int]:
    name = check_text(name, field="name", max_length=200)
    email = check_email(email, required=False)
    if lead_time_days is None:
        raise ValidationFailed(
            "Say the supplier's lead time.", fields={"lead_time_days": "required"}
        )
    days = check_count(lead_time_days, field="lead_time_days", maximum=MAX_LEAD_TIME_DAYS)
    assert days is not None
    return name, email, days


def _ordering_check(supplier: Supplier) -> None:
    """The supplier's language and automatic ordering: a cap whenever auto-order is on."""
    if supplier.language not in dict(settings.LANGUAGES):
        raise ValidationFailed(
            "Unknown language.", fields={"language": f"one of {list(dict(settings.LANGUAGES))}"}
        )
    supplier.auto_order = bool(supplier.auto_order)
    cap = supplier.auto_order_daily_cap
    if cap is not None and (not isinstance(cap, Decimal) or not cap.is_finite() or cap <= 0):
        raise ValidationFailed(
            "The daily cap is an amount above 0.", fields={"auto_order_daily_cap": "not positive"}
        )
    if supplier.auto_order and cap is None:
        raise ValidationFailed(
            "Automatic ordering needs a daily spend cap.",
            fields={"auto_order_daily_cap": "required with auto-order"},
        )


def supplier_create(
    *,
    name: str,
    email: str = "",
    lead_time_days: int,
    is_active: bool = True,
    language: str = "en",
    auto_order: bool = False,
    auto_order_daily_cap: Decimal | None = None,
    actor: Any = None,
) -> Supplier:
    """Add a supplier; a duplicate name is refused with `AlreadyExists`."""
    name, email, lead_time_days = _supplier_check(name, email, lead_time_days)
    supplier = Supplier(
        name=name,
        email=email,
        lead_time_days=lead_time_days,
        is_active=bool(is_active),
        language=language,
        auto_order=auto_order,
        auto_order_daily_cap=auto_order_daily_cap,
    )
    _ordering_check(supplier)
    try:
        with transaction.atomic():
            supplier.save()
            return supplier
    except IntegrityError:
        raise AlreadyExists(
            f"A supplier named {name} already exists.", fields={"name": "already exists"}
        ) from None


@transaction.atomic
def supplier_update(
    *, supplier_id: int, changes: dict[str, Any], actor: Any = None, detail: str = ""
) -> Supplier:
    """Change a supplier. Locks its row. A new lead time or activity refreshes every product
    it offers after commit."""
    _check_changeable(changes, SUPPLIER_FIELDS)
    supplier = lock_supplier(supplier_id)
    if supplier is None:
        raise ValidationFailed("Unknown supplier.", fields={"supplier": "unknown"})
    changed = _apply(supplier, changes)
    if not changed:
        return supplier
    supplier.name, supplier.email, supplier.lead_time_days = _supplier_check(
        supplier.name, supplier.email, supplier.lead_time_days
    )
    supplier.is_active = bool(supplier.is_active)
    _ordering_check(supplier)
    try:
        with transaction.atomic():
            supplier.save(update_fields=changed)
    except IntegrityError:
        raise AlreadyExists(
            f"A supplier named {supplier.name} already exists.", fields={"name": "already exists"}
        ) from None
    supply = [label for name, label in SUPPLIER_SUPPLY_FIELDS.items() if name in changed]
    if supply:
        product_supply_changed(
            product_ids=supplier.terms.values_list("product_id", flat=True),
            detail=f"{supplier.name}: {', '.join(supply)} changed{detail}",
        )
    return supplier


@transaction.atomic
def supplier_terms_set(
    *,
    supplier_id: int,
    sku: str,
    unit_cost: Decimal | None = None,
    lead_time_days: int | None = None,
    minimum_order_quantity: int = 1,
    pack_size: int = 1,
    preferred: bool = False,
    actor: Any = None,
) -> tuple[SupplierProduct, bool]:
    """What `supplier` asks for `sku` (contract §8): a second call replaces the terms.

    `lead_time_days` None means the supplier's own. `preferred` makes this supplier the
    product's first choice (rank 1, the others after it); otherwise it keeps its place, or
    comes after those already there. Locks the supplier, then the product, so two calls for
    either never interleave. The product's ETAs are recomputed after commit (its lead time may
    have moved). Returns the terms and whether they are new.
    """
    supplier = lock_supplier(supplier_id)
    if supplier is None:
        raise ValidationFailed("Unknown supplier.", fields={"supplier": "unknown"})
    product = Product.objects.filter(sku=sku).only("pk").first() if isinstance(sku, str) else None
    if product is None:
        raise ValidationFailed(f"Unknown SKU {sku}.", fields={"sku": "unknown"})
    lock_products([product.pk])
    if unit_cost is not None and (not isinstance(unit_cost, Decimal) or unit_cost < 0):
        raise ValidationFailed(
            "A unit cost is a price of 0 or more.", fields={"unit_cost": "invalid"}
        )
    lead = check_count(lead_time_days, field="lead_time_days", maximum=MAX_LEAD_TIME_DAYS)
    moq = check_count(minimum_order_quantity, field="minimum_order_quantity", minimum=1)
    pack = check_count(pack_size, field="pack_size", minimum=1)
    others = list(SupplierProduct.objects.filter(product=product).order_by("rank", "pk"))
    terms = next((t for t in others if t.supplier_id == supplier.pk), None)
    created = terms is None
    if terms is None:
        terms = SupplierProduct(supplier=supplier, product=product)
    else:
        others.remove(terms)
    terms.unit_cost, terms.lead_time_days = unit_cost, lead
    terms.minimum_order_quantity, terms.pack_size = moq or 1, pack or 1
    # The product's suppliers in order of preference, ranked 1, 2, 3... again.
    if preferred:
        ranking = [terms, *others]
    elif not created and terms.rank != 1:
        ranking = sorted([*others, terms], key=lambda t: (t.rank, t.pk))
    else:
        ranking = [*others, terms]  # new, or no longer the preferred one: after the others
    for place, ranked in enumerate(ranking, start=1):
        if ranked is terms:
            terms.rank = place
            terms.save()
        elif ranked.rank != place:
            ranked.rank = place
            ranked.save(update_fields=["rank"])
    product_supply_changed(product_ids=[product.pk], detail=f"terms of {supplier.name}")
    return terms, created
