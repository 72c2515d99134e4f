"""Data migrations of the inventory: what they make of rows the rules of their day allowed."""

import importlib

import pytest
from django.apps import apps

from inventory.checks import check_sku
from inventory.models import Product
from tests.factories import ProductFactory

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
