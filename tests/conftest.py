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


@pytest.fixture
def smtp(settings):
    """A real SMTP server; Django's mail goes to it over SMTP. Yields its mailbox."""
    from tests.smtp import smtp_server

    with smtp_server() as (mailbox, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        yield mailbox
