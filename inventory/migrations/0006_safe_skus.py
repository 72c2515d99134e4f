"""SKUs are URL path segments: rename any SKU the catalogue accepted before the rule held.

Until now a SKU could hold "/" (which takes the catalogue down: no URL can be built for it),
"." or "..", which browsers resolve away, and any other non-space character. Each such SKU
is renamed: every character outside the rule becomes "-", or, if that still breaks the rule or
is taken, "SKU-<id>". Orders and stock point at products by id, so nothing else changes.
Each rename is printed; the old SKUs cannot be restored.
"""

import re

from django.db import migrations

# The rule as of this migration (inventory.checks.check_sku), frozen here.
SKU = re.compile(r"(?!\.\.?\Z)[-A-Za-z0-9_.]{1,64}")
OUTSIDE_THE_RULE = re.compile(r"[^-A-Za-z0-9_.]")


def rename_unsafe_skus(apps, schema_editor):
    Product = apps.get_model("inventory", "Product")
    taken = set(Product.objects.values_list("sku", flat=True))
    for product in Product.objects.order_by("pk").only("pk", "sku"):
        if SKU.fullmatch(product.sku):
            continue
        new = OUTSIDE_THE_RULE.sub("-", product.sku)[:64]
        suffix = 0
        while not SKU.fullmatch(new) or new in taken:
            suffix += 1
            new = f"SKU-{product.pk}" if suffix == 1 else f"SKU-{product.pk}-{suffix}"
        print(f"\n  Product {product.pk}: SKU {product.sku!r} renamed {new!r}", end="")
        taken.add(new)
        Product.objects.filter(pk=product.pk).update(sku=new)


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0005_purchasing"),
    ]

    operations = [
        migrations.RunPython(rename_unsafe_skus, migrations.RunPython.noop, elidable=True),
    ]
