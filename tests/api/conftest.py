import pytest
from django.contrib.auth.models import Permission
from django.core.cache import caches
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import StaffFactory


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """Throttle counts live in Redis and would leak from one test into the next."""
    client = caches["throttle"]._cache.get_client(write=True)
    for key in client.scan_iter(match="*backorder-test-throttle*"):
        client.delete(key)


@pytest.fixture
def api():
    """A client with no credentials: a storefront or a customer."""
    return APIClient()


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def staff_api(superuser):
    """A superuser's token: every permission."""
    return token_client(superuser)


def clerk_with(*codenames: str):
    """A staff user holding only these permissions (`app_label.codename`)."""
    user = StaffFactory(is_superuser=False)
    for name in codenames:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def error_of(response) -> tuple[int, str]:
    """The status and the contract's error code, after checking the body has its shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return response.status_code, body["error"]["code"]
