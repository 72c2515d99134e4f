import pytest

from inventory.models import Warehouse
from tests.factories import ProductFactory, StaffFactory


@pytest.fixture
def default_warehouse(db) -> Warehouse:
    """The default warehouse (transactional tests flush the one the migrations create)."""
    warehouse, _ = Warehouse.objects.get_or_create(
        is_default=True, defaults={"code": "main", "name": "Main warehouse", "priority": 100}
    )
    return warehouse


@pytest.fixture
def hoodie(default_warehouse):
    """The case study's special-edition hoodie: backorderable, ships in 14 days."""
    return ProductFactory(sku="HOODIE-SE", name="Special Edition Hoodie", lead_time_days=14)


@pytest.fixture
def superuser(db):
    return StaffFactory(username="boss")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client
