"""Idempotency-Keys belong to who sent them: a key space per user, one for anonymous callers.

Keys already stored go to the user who placed their order (its "placed" event's actor), so an
anonymous request can no longer replay a key a staff user sent before this migration.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def keys_to_their_callers(apps, schema_editor):
    IdempotencyKey = apps.get_model("orders", "IdempotencyKey")
    OrderEvent = apps.get_model("orders", "OrderEvent")
    placed_by = OrderEvent.objects.filter(order_id=OuterRef("order_id"), kind="placed").values(
        "actor_id"
    )[:1]
    IdempotencyKey.objects.filter(order__isnull=False).update(user_id=Subquery(placed_by))


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0007_delivery_choice_events"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencykey",
            name="user",
            field=models.ForeignKey(
                blank=True,
                help_text="Who sent the key; empty: an anonymous caller.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="key",
            field=models.CharField(max_length=255),
        ),
        migrations.AddConstraint(
            model_name="idempotencykey",
            constraint=models.UniqueConstraint(
                condition=models.Q(("user__isnull", False)),
                fields=("user", "key"),
                name="idempotency_key_unique_per_user",
            ),
        ),
        migrations.AddConstraint(
            model_name="idempotencykey",
            constraint=models.UniqueConstraint(
                condition=models.Q(("user__isnull", True)),
                fields=("key",),
                name="idempotency_key_unique_anonymous",
            ),
        ),
        # Last: rows updated in this transaction hold deferred foreign-key checks, which the
        # table changes above would refuse to run under.
        migrations.RunPython(keys_to_their_callers, migrations.RunPython.noop),
    ]
