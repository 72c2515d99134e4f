"""Fixtures the order tests share."""

import pytest

from inventory.models import Product
from tests.factories import ProductFactory
from tests.helpers import in_days


@pytest.fixture
def album(default_warehouse) -> Product:
    return ProductFactory(
        sku="ALBUM-LTD",
        backorder_policy=Product.BackorderPolicy.PREORDER,
        release_date=in_days(10),
        backorder_limit=5,
        lead_time_days=30,
    )
