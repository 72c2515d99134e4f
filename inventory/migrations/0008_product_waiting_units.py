from django.db import migrations, models

# The counter starts as what the queue holds now. One correlated UPDATE, in SQL PostgreSQL
# and SQLite share.
BACKFILL = """
    UPDATE inventory_product SET waiting_units = COALESCE(
        (SELECT SUM(l.backordered) FROM orders_orderline l
         WHERE l.product_id = inventory_product.id AND l.backordered > 0), 0)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0007_unsent_refresh"),
        ("orders", "0008_idempotency_key_scope"),
    ]

    operations = [
        migrations.AddField(
            model_name="product",
            name="waiting_units",
            field=models.PositiveIntegerField(
                default=0,
                editable=False,
                help_text=(
                    "Units waiting in the backorder queue: the sum of the lines' backordered units."
                ),
            ),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=True),
    ]
