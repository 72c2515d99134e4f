from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from inventory.models import Product, Supplier, SupplierProduct, Warehouse


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse

    code = factory.Sequence(lambda n: f"wh{n}")
    name = factory.Sequence(lambda n: f"Warehouse {n}")
    priority = 0


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("100000")
    backorder_policy = Product.BackorderPolicy.BACKORDER
    lead_time_days = 14


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supplier

    name = factory.Sequence(lambda n: f"Supplier {n}")
    # No address unless a test gives one: placing a purchase order emails a supplier that
    # has one, and most tests are about something else.
    email = ""
    lead_time_days = 10


class SupplierProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupplierProduct

    supplier = factory.SubFactory(SupplierFactory)
    product = factory.SubFactory(ProductFactory)


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    is_superuser = True
    password = factory.django.Password("correct-horse-battery")
