"""`GET /metrics`: the shop's figures in Prometheus' format, for staff or the scraper's
token; task timings recorded by a real worker in Redis."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from config.metrics import SERIES, observe
from tests.factories import StaffFactory
from tests.helpers import place
from tests.worker import celery_worker, wait_until

pytestmark = pytest.mark.usefixtures("empty_queue")


@pytest.fixture(autouse=True)
def _no_timings():
    """Timings live in Redis and would leak from one test into the next."""
    cache = caches["default"]
    client = cache._cache.get_client(write=True)
    for key in client.scan_iter(match="*metrics:*"):
        client.delete(key)


def samples(response) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, as a scraper parses the body."""
    assert response["Content-Type"] == CONTENT_TYPE_LATEST
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.mark.django_db
def test_anyone_without_staff_login_or_the_token_gets_a_401(client, settings):
    settings.BACKORDER_METRICS_TOKEN = "scrape-3f9a"

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Token scrape-3f9a").status_code == 401
    client.force_login(StaffFactory(is_staff=False))
    assert client.get("/metrics").status_code == 401

    settings.BACKORDER_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


@pytest.mark.django_db
def test_the_figures_count_what_the_database_holds(client, settings, hoodie):
    # given: two orders, one waiting for three hoodies, and no worker to send their emails
    settings.BACKORDER_METRICS_TOKEN = "scrape-3f9a"
    place((hoodie, 3))
    place((hoodie, 1), who="budi")

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-3f9a")

    assert response.status_code == 200
    found = samples(response)
    assert found["backorder_orders_placed_total", ()] == 2
    assert found["backorder_backordered_units", ()] == 4
    assert found["backorder_backordered_lines", ()] == 2
    assert found["backorder_emails", (("status", "pending"),)] == 2
    assert found["backorder_emails", (("status", "failed"),)] == 0
    assert found["backorder_beat_last_run_age_seconds", ()] == float("inf")
    # no worker ran anything: no timings
    assert [name for name, _ in found if name.startswith("backorder_task_")] == []
    # and the same for a staff member's session
    client.force_login(StaffFactory())
    assert samples(client.get("/metrics")) == found


@pytest.mark.django_db
def test_timings_go_in_their_buckets(client):
    observe("task_duration_seconds", "orders.tasks.refresh_products", 0.03)
    observe("task_duration_seconds", "orders.tasks.refresh_products", 2.0)
    observe("task_duration_seconds", "notifications.tasks.deliver_notifications", 0.004)
    client.force_login(StaffFactory())

    found = samples(client.get("/metrics"))

    refresh = (("task", "orders.tasks.refresh_products"),)
    assert found["backorder_task_duration_seconds_bucket", (("le", "0.025"), *refresh)] == 0
    assert found["backorder_task_duration_seconds_bucket", (("le", "0.05"), *refresh)] == 1
    assert found["backorder_task_duration_seconds_bucket", (("le", "2.5"), *refresh)] == 2
    assert found["backorder_task_duration_seconds_bucket", (("le", "+Inf"), *refresh)] == 2
    assert found["backorder_task_duration_seconds_count", refresh] == 2
    assert found["backorder_task_duration_seconds_sum", refresh] == pytest.approx(2.03)
    assert found["backorder_refresh_duration_seconds_count", ()] == 2
    assert found["backorder_refresh_duration_seconds_bucket", (("le", "0.005"),)] == 0


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_records_each_task_s_latency_and_duration(client, hoodie):
    client.force_login(StaffFactory())
    with celery_worker(concurrency=1):
        place((hoodie, 1))  # its confirmation email is one task
        key = caches["default"].make_and_validate_key(SERIES)
        client_redis = caches["default"]._cache.get_client(write=True)
        wait_until(
            lambda: client_redis.sismember(
                key, "task_duration_seconds|notifications.tasks.deliver_notifications"
            ),
            "the delivery timed",
        )
        found = samples(client.get("/metrics"))

    email_queue = next(
        labels
        for name, labels in found
        if name == "backorder_task_latency_seconds_count"
        and labels
        and labels[0][1].endswith(".email")
    )
    assert found["backorder_task_latency_seconds_count", email_queue] == 1
    delivery = (("task", "notifications.tasks.deliver_notifications"),)
    assert found["backorder_task_duration_seconds_count", delivery] == 1
    assert found["backorder_task_duration_seconds_sum", delivery] > 0
    queues = {
        labels: value
        for (name, labels), value in found.items()
        if name == "backorder_workers_alive"
    }
    assert set(queues.values()) == {1}
