"""Daily demand per product (`orders.demand`): ordered plus refused, the shop's days, imported
history where the shop has no record of its own."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.exceptions import OrderRefused
from inventory.models import DemandHistory, Product
from inventory.stock import stock_receive
from orders.demand import DemandDay, daily_demand
from orders.models import Order, OrderLine
from orders.services import LineRequest, order_place
from tests.factories import ProductFactory
from tests.helpers import place_line, today

pytestmark = pytest.mark.django_db


def placed(sku: str, quantity: int, *, days_ago: int, at: time = time(12)) -> None:
    """An order of `quantity` placed `days_ago` days ago at `at`, the shop's time."""
    order = order_place(email="a@example.com", name="A", lines=[LineRequest(sku, quantity)])
    moment = timezone.make_aware(
        datetime.combine(timezone.localdate() - timedelta(days=days_ago), at)
    )
    Order.objects.filter(pk=order.pk).update(created_at=moment)
    OrderLine.objects.filter(order=order).update(queued_at=moment)


def test_a_day_is_what_was_ordered_and_refused_else_what_was_imported(hoodie):
    today = timezone.localdate()
    stock_receive(product=hoodie, quantity=2)
    placed("HOODIE-SE", 2, days_ago=3)  # from stock
    placed("HOODIE-SE", 5, days_ago=3)  # backordered: demand all the same
    placed("HOODIE-SE", 1, days_ago=2, at=time(23, 30))  # late evening: still that day
    placed("HOODIE-SE", 1, days_ago=0)
    capped = ProductFactory(sku="CAPPED", backorder_limit=0)
    with pytest.raises(OrderRefused):
        order_place(email="b@example.com", name="B", lines=[LineRequest("CAPPED", 4)])
    DemandHistory.objects.create(
        product=hoodie, day=today - timedelta(days=5), quantity=7, refused=1
    )
    # the shop's own record of that day wins over an imported one
    DemandHistory.objects.create(product=hoodie, day=today - timedelta(days=3), quantity=100)

    with CaptureQueriesContext(connection) as queries:
        series = daily_demand([hoodie.pk, capped.pk], first=today - timedelta(days=5), last=today)

    assert len(queries) == 3
    day = lambda n: today - timedelta(days=n)  # noqa: E731
    assert series[hoodie.pk] == [
        DemandDay(day(5), 7, 1, imported=True),
        DemandDay(day(4)),
        DemandDay(day(3), 7, 0),
        DemandDay(day(2), 1, 0),
        DemandDay(day(1)),
        DemandDay(day(0), 1, 0),
    ]
    assert [d.units for d in series[capped.pk]] == [0, 0, 0, 0, 0, 4]
    assert series[capped.pk][-1] == DemandDay(day(0), 0, 4)


def test_a_product_nobody_asked_for_has_a_day_of_zero_for_every_day(default_warehouse):
    quiet = ProductFactory(sku="QUIET", backorder_policy=Product.BackorderPolicy.DENY)
    today = timezone.localdate()

    series = daily_demand([quiet.pk], first=today - timedelta(days=2), last=today)

    assert series == {quiet.pk: [DemandDay(today - timedelta(days=n)) for n in (2, 1, 0)]}


def test_units_staff_cancel_as_entered_in_error_are_not_demand(hoodie):
    from orders.services import order_line_cancel

    kept = place_line(hoodie, 4)
    mistake = place_line(hoodie, 3, who="budi")
    order_line_cancel(line_id=mistake.pk, quantity=2, in_error=True, reason="Duplicate")
    order_line_cancel(line_id=kept.pk, quantity=1, reason="Changed her mind")

    (day,) = daily_demand([hoodie.pk], first=today(), last=today())[hoodie.pk]

    # A customer's change of mind was demand; the duplicate's two units never were.
    assert day.ordered == 5
    mistake.refresh_from_db()
    assert (mistake.cancelled, mistake.cancelled_in_error) == (2, 2)


def test_customers_cannot_mark_a_cancellation_as_an_error(hoodie):
    from inventory.exceptions import ValidationFailed
    from orders.services import order_line_cancel

    line = place_line(hoodie, 2)
    with pytest.raises(ValidationFailed):
        order_line_cancel(line_id=line.pk, in_error=True, by_customer=True)
    line.refresh_from_db()
    assert (line.cancelled, line.cancelled_in_error) == (0, 0)
