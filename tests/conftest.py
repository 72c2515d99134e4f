from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings

from config.celery import app
from inventory.models import Supplier, Warehouse
from inventory.outlook import supply_outlooks_forget
from tests.factories import ProductFactory, StaffFactory, SupplierFactory
from tests.helpers import free_port
from tests.worker import PrivateRedis, purge_queue, use_broker


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None) -> None:
    """pytest-django's, then: a test database made afresh numbers its products from 1 again,
    so supply outlooks an earlier run cached are stale."""
    supply_outlooks_forget()


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
def supplier(db) -> Supplier:
    """The case study's supplier: a garment maker two weeks away."""
    return SupplierFactory(name="Konveksi Bandung", lead_time_days=14)


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


@pytest.fixture
def empty_queue() -> Iterator[None]:
    """This run's Celery queue, empty before and after: with no worker, what a test sends
    stays there for `tests.worker.queued()` to read."""
    purge_queue()
    yield
    purge_queue()


@pytest.fixture
def private_broker() -> Iterator[PrivateRedis]:
    """A private Redis as this process's broker and result backend, restored afterwards."""
    server = PrivateRedis(port=free_port())
    server.start()
    broker, results = app.conf.broker_url, app.conf.result_backend
    assert broker == results == settings.REDIS_URL
    use_broker(server.url)
    try:
        yield server
    finally:
        server.kill()
        use_broker(broker)
        # The suite's Redis is this process's broker and result backend again
        port = redis.connection.parse_url(broker)["port"]
        with app.connection_for_write() as connection:
            assert connection.port == port
        backend: Any = app.backend
        assert backend.client.connection_pool.connection_kwargs["port"] == port
