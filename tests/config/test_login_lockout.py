"""Staff logins are locked out after repeated wrong passwords (django-axes): per username and
per address, through the admin's form and the API's token endpoint, and staff lift a
lock-out in the admin."""

import pytest
from axes.models import AccessAttempt
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

LIMIT = 5


@pytest.fixture
def clerk(db):
    return StaffFactory(username="clerk", is_superuser=False)


def _login(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def test_the_right_password_is_refused_after_too_many_wrong_ones(client, clerk):
    for _ in range(LIMIT - 1):
        assert _login(client, "clerk", "wrong").status_code == 200  # the form again
    locked = _login(client, "clerk", "wrong")
    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"
    assert "Too many failed logins: try again in 15 minutes" in locked.content.decode()
    after = _login(client, "clerk", "correct-horse-battery")
    assert after.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("admin:index")).status_code == 302  # to the login page


def test_the_lock_out_holds_for_the_username_from_another_address(client, clerk):
    for _ in range(LIMIT):
        _login(client, "clerk", "wrong", address="10.0.0.1")
    assert _login(client, "clerk", "correct-horse-battery", "10.9.9.9").status_code == 429


def test_the_lock_out_holds_for_the_address_with_another_username(client, clerk):
    StaffFactory(username="other", is_superuser=False)
    for index in range(LIMIT):
        _login(client, f"guess{index}", "wrong", address="10.0.0.7")
    assert _login(client, "other", "correct-horse-battery", "10.0.0.7").status_code == 429
    assert _login(client, "other", "correct-horse-battery", "10.0.0.8").status_code == 302


def test_a_successful_login_clears_the_count(client, clerk):
    for _ in range(LIMIT - 1):
        _login(client, "clerk", "wrong")
    assert _login(client, "clerk", "correct-horse-battery").status_code == 302
    client.logout()
    for _ in range(LIMIT - 1):
        _login(client, "clerk", "wrong")
    assert _login(client, "clerk", "correct-horse-battery").status_code == 302


def test_staff_lift_a_lock_out_in_the_admin(client, admin_client, clerk):
    for _ in range(LIMIT):
        _login(client, "clerk", "wrong")
    assert _login(client, "clerk", "correct-horse-battery").status_code == 429
    attempt = AccessAttempt.objects.get(username="clerk")
    # The five wrong passwords, and the right one refused while locked out.
    assert attempt.failures_since_start == LIMIT + 1

    page = admin_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert page.status_code == 200 and "clerk" in page.content.decode()
    admin_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )

    assert not AccessAttempt.objects.exists()
    assert _login(client, "clerk", "correct-horse-battery").status_code == 302


def test_the_api_token_login_is_locked_out_too():
    StaffFactory(username="robot", is_superuser=False)
    client = APIClient()
    for _ in range(LIMIT):
        client.post(
            "/api/v1/auth/token",
            {"username": "robot", "password": "wrong"},
            format="json",
            REMOTE_ADDR="10.0.0.3",
        )
    refused = client.post(
        "/api/v1/auth/token",
        {"username": "robot", "password": "correct-horse-battery"},
        format="json",
        REMOTE_ADDR="10.0.0.3",
    )
    assert refused.status_code == 429
    assert refused.json() == {
        "error": {
            "code": "locked_out",
            "message": (
                "Too many failed logins: try again in 15 minutes, or ask an administrator."
            ),
            "fields": {"username": "locked out"},
        }
    }
