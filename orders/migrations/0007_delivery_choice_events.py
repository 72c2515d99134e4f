"""A delivery choice is an event kind of its own, not a pseudo-status: OrderEvent statuses
are line statuses only."""

from django.db import migrations, models

CHOICES = [
    ("placed", "Order placed"),
    ("allocated", "Stock allocated"),
    ("backordered", "Backordered"),
    ("preordered", "Pre-ordered"),
    ("released", "Released"),
    ("priority", "Priority changed"),
    ("ship_together", "Chose to ship everything together"),
    ("ship_as_ready", "Chose to ship what is ready now"),
    ("kept", "Chose to keep waiting"),
    ("deallocated", "Allocation released"),
    ("shipped", "Shipped"),
    ("cancelled", "Cancelled"),
]


def split_delivery_choices(apps, schema_editor):
    OrderEvent = apps.get_model("orders", "OrderEvent")
    changed = OrderEvent.objects.filter(kind="shipping")
    changed.filter(status_after="together").update(
        kind="ship_together", status_before="", status_after=""
    )
    changed.update(kind="ship_as_ready", status_before="", status_after="")


def join_delivery_choices(apps, schema_editor):
    OrderEvent = apps.get_model("orders", "OrderEvent")
    OrderEvent.objects.filter(kind="ship_together").update(
        kind="shipping", status_before="as_ready", status_after="together"
    )
    OrderEvent.objects.filter(kind="ship_as_ready").update(
        kind="shipping", status_before="together", status_after="as_ready"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0006_backordered_units_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="orderevent",
            name="kind",
            field=models.CharField(choices=CHOICES, max_length=16),
        ),
        migrations.RunPython(split_delivery_choices, join_delivery_choices),
    ]
