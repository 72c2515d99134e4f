import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from config.roles import ROLES, roles_setup
from inventory import purchasing, stock
from inventory.models import DemandHistory, Product, Supplier, SupplierProduct, Warehouse
from orders.services import LineRequest, order_place

DEMO_USERNAME = "staff"
DEMO_PASSWORD = "backorder-demo"  # noqa: S105 - the printed demo login of `make run`

CUSTOMERS = [
    ("Ayu Lestari", "ayu@example.com", "id"),
    ("Budi Santoso", "budi@example.com", "id"),
    ("Claire Moreau", "claire@example.com", "en"),
    ("Dewi Anggraini", "dewi@example.com", "id"),
    ("Eko Prasetyo", "eko@example.com", "id"),
    ("Fiona Walsh", "fiona@example.com", "en"),
]


class Command(BaseCommand):
    help = (
        "Load the demo catalogue, stock and orders (once), and the demo staff logins: a"
        " superuser and one user per role."
    )

    def handle(self, *args: object, **options: object) -> None:
        self._staff()
        if Product.objects.filter(sku="HOODIE-SE").exists():
            self.stdout.write("Demo data already loaded.")
            return
        with transaction.atomic():
            self._catalogue()
        self.stdout.write(self.style.SUCCESS("Demo catalogue, stock and orders loaded."))

    def _staff(self) -> None:
        if not settings.DEBUG:
            # A known password is only acceptable on a developer's machine.
            self.stdout.write("DEBUG is off: no demo staff login created.")
            return
        User = get_user_model()
        if not User.objects.filter(username=DEMO_USERNAME).exists():
            User.objects.create_superuser(DEMO_USERNAME, "staff@example.com", DEMO_PASSWORD)
        # One login per role, named after it, with the same password.
        roles_setup()
        for role in ROLES:
            if User.objects.filter(username=role).exists():
                continue
            user = User.objects.create_user(
                role, f"{role}@example.com", DEMO_PASSWORD, is_staff=True
            )
            user.groups.add(Group.objects.get(name=role))

    def _catalogue(self) -> None:
        today = timezone.localdate()
        main = Warehouse.objects.get(is_default=True)
        surabaya, _ = Warehouse.objects.get_or_create(
            code="sby", defaults={"name": "Surabaya overflow", "priority": 50}
        )
        hoodie = Product.objects.create(
            sku="HOODIE-SE",
            name="Special Edition Hoodie",
            price=Decimal("450000"),
            backorder_policy=Product.BackorderPolicy.BACKORDER,
            lead_time_days=14,
            backorder_limit=500,
            max_per_order=2,
        )
        tee = Product.objects.create(
            sku="TEE-LOGO",
            name="Logo T-shirt",
            price=Decimal("150000"),
            backorder_policy=Product.BackorderPolicy.DENY,
            lead_time_days=7,
        )
        tote = Product.objects.create(
            sku="TOTE-CANVAS",
            name="Canvas tote bag",
            price=Decimal("95000"),
            backorder_policy=Product.BackorderPolicy.BACKORDER,
            lead_time_days=21,
        )
        Product.objects.create(
            sku="CAP-2027",
            name="Tour cap 2027",
            price=Decimal("250000"),
            backorder_policy=Product.BackorderPolicy.PREORDER,
            lead_time_days=30,
            backorder_limit=300,
            release_date=today + timedelta(days=30),
        )
        Product.objects.create(
            sku="STICKER-PACK",
            name="Sticker pack",
            price=Decimal("25000"),
            backorder_policy=Product.BackorderPolicy.DENY,
            lead_time_days=5,
        )
        stock.stock_receive(product=hoodie, quantity=8, warehouse=main, reference="Launch batch")
        stock.stock_receive(product=tee, quantity=120, warehouse=main, reference="DN-1001")
        stock.stock_receive(product=tee, quantity=40, warehouse=surabaya, reference="DN-1002")
        stock.stock_receive(product=tote, quantity=3, warehouse=surabaya, reference="DN-1003")
        self._suppliers(hoodie, tee, tote)
        self._history(tee, tote, Product.objects.get(sku="STICKER-PACK"))
        # The hoodie sells out on launch day: the last buyers are backordered.
        for index in range(6):
            name, email, locale = CUSTOMERS[index % len(CUSTOMERS)]
            order_place(
                email=email,
                name=name,
                locale=locale,
                lines=[LineRequest("HOODIE-SE", 2)],
                ship_complete=index % 2 == 0,
            )
        order_place(
            email="ayu@example.com",
            name="Ayu Lestari",
            locale="id",
            lines=[LineRequest("TOTE-CANVAS", 5), LineRequest("TEE-LOGO", 1)],
        )
        order_place(
            email="fiona@example.com",
            name="Fiona Walsh",
            locale="en",
            lines=[LineRequest("CAP-2027", 1)],
        )

    def _history(self, tee: Product, tote: Product, stickers: Product) -> None:
        """Half a year of demand from the shop's previous platform, for the forecasts: the
        T-shirt sells every day, more at weekends; the tote now and then; sticker packs in
        rare bulk orders."""
        today = timezone.localdate()
        draw = random.Random(2026)  # noqa: S311 - demo figures, the same every time
        rows = []
        for back in range(1, 181):
            day = today - timedelta(days=back)
            weekend = day.weekday() >= 5
            rows.append(
                DemandHistory(
                    product=tee, day=day, quantity=draw.randint(4, 8) + (5 if weekend else 0)
                )
            )
            if draw.random() < 0.3:
                rows.append(DemandHistory(product=tote, day=day, quantity=draw.randint(1, 3)))
            if draw.random() < 0.05:
                rows.append(
                    DemandHistory(
                        product=stickers, day=day, quantity=draw.choice((10, 25, 60)), refused=0
                    )
                )
        DemandHistory.objects.bulk_create(rows)

    def _suppliers(self, hoodie: Product, tee: Product, tote: Product) -> None:
        """A preferred and an alternative supplier, and deliveries on their way for the hoodie
        and the tote."""
        today = timezone.localdate()
        bandung = Supplier.objects.create(
            name="Konveksi Bandung", email="order@konveksi-bandung.example", lead_time_days=14
        )
        jakarta = Supplier.objects.create(
            name="Garmen Jakarta", email="sales@garmen-jakarta.example", lead_time_days=21
        )
        for product, cost in ((hoodie, "180000"), (tee, "55000"), (tote, "30000")):
            SupplierProduct.objects.create(
                supplier=bandung, product=product, unit_cost=Decimal(cost), rank=1
            )
        SupplierProduct.objects.create(
            supplier=bandung,
            product=Product.objects.get(sku="STICKER-PACK"),
            unit_cost=Decimal("8000"),
            pack_size=50,
            rank=1,
        )
        SupplierProduct.objects.create(
            supplier=jakarta,
            product=hoodie,
            unit_cost=Decimal("160000"),
            minimum_order_quantity=100,
            rank=2,
        )
        # Purchase order 1, the README's receipt example: the hoodie's restock, 14 days out,
        # which is the date its backordered buyers are told.
        purchasing.purchase_order_create(
            supplier=bandung,
            lines=[purchasing.PurchaseLineRequest("HOODIE-SE", 50, today + timedelta(days=14))],
            reference="KB-2310",
        )
        purchasing.purchase_order_create(
            supplier=bandung,
            lines=[purchasing.PurchaseLineRequest("TOTE-CANVAS", 10, today + timedelta(days=6))],
            reference="KB-2311",
        )
