"""Data migrations of the inventory: what they make of rows the rules of their day allowed."""

import importlib

import pytest
from django.apps import apps
from django.db import ProgrammingError, connection, transaction

from inventory.checks import check_sku
from inventory.models import Product, Stock, StockMovement
from inventory.selectors import chain_breaks
from inventory.stock import stock_receive
from tests.factories import ProductFactory
from tests.helpers import place_line

pytestmark = pytest.mark.django_db

safe_skus = importlib.import_module("inventory.migrations.0006_safe_skus")


def test_skus_outside_the_rule_are_renamed_and_the_others_kept(capsys):
    # given SKUs the catalogue accepted before the rule, and one a rename would collide with
    kept = [ProductFactory(sku=sku) for sku in ("HOODIE-SE", "a.b", "a-b", "...")]
    renamed = [ProductFactory(sku=sku) for sku in ("a/b", "../../etc/passwd", ".", "..", "é")]

    # when
    safe_skus.rename_unsafe_skus(apps, None)

    # then
    skus = dict(Product.objects.values_list("pk", "sku"))
    assert [skus[product.pk] for product in kept] == ["HOODIE-SE", "a.b", "a-b", "..."]
    slashed, passwd, dot, dots, accented = (product.pk for product in renamed)
    assert [skus[pk] for pk in (slashed, passwd, dot, dots, accented)] == [
        f"SKU-{slashed}",
        "..-..-etc-passwd",
        f"SKU-{dot}",
        f"SKU-{dots}",
        "-",
    ]
    assert all(check_sku(sku) == sku for sku in skus.values())
    assert f"Product {passwd}: SKU '../../etc/passwd' renamed '..-..-etc-passwd'" in (
        capsys.readouterr().out
    )


def test_a_rename_never_takes_a_sku_in_use():
    # given a SKU whose tidy form and fallback are both taken
    product = ProductFactory(sku="x/y")
    ProductFactory(sku="x-y")
    ProductFactory(sku=f"SKU-{product.pk}")

    # when
    safe_skus.rename_unsafe_skus(apps, None)

    # then
    assert Product.objects.get(pk=product.pk).sku == f"SKU-{product.pk}-2"


ledger_chain = importlib.import_module("inventory.migrations.0012_ledger_chain_verification")


def test_movements_written_before_the_chain_are_chained_in_order(hoodie):
    # given movements as they were before the chain: no digests, no heads (set by an
    # administrator past the append-only guard, as the migration itself is)
    stock_receive(product=hoodie, quantity=3)
    place_line(hoodie, 2)
    stock_receive(product=hoodie, quantity=1)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE inventory_stockmovement SET digest = ''")
        cursor.execute("SET session_replication_role = DEFAULT")
    Stock.objects.update(ledger_head="")
    assert chain_breaks()[0] != []

    # when (the test's own inserts checked first, as a migration's transaction has none
    # pending)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with connection.schema_editor() as editor:
        ledger_chain.chain_existing(apps, editor)

    # then: every chain holds, from the first movement to the head, and the guard is back
    assert chain_breaks()[0] == []
    assert chain_breaks()[1] == 3
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        StockMovement.objects.update(reason="x")
