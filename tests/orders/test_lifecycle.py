"""`orders.lifecycle`: the one door an order line's status moves through."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.exceptions import InvalidTransition
from inventory.stock import stock_receive
from orders.lifecycle import line_change, statuses_save
from orders.models import OrderLine
from tests.factories import ProductFactory, StaffFactory
from tests.helpers import place
from tests.state import snapshot

pytestmark = pytest.mark.django_db
Status = OrderLine.Status


def test_statuses_save_writes_each_lines_status_one_statement_per_status(hoodie):
    # given: three waiting lines and one allocated, whose statuses change in memory only
    stock_receive(product=hoodie, quantity=1)
    cap, tee = ProductFactory(sku="CAP"), ProductFactory(sku="TEE")
    allocated = place((hoodie, 1)).lines.get()
    lines = list(place((hoodie, 1), (cap, 1), (tee, 1), who="budi").lines.order_by("pk"))
    assert [line.status for line in lines] == [Status.BACKORDERED] * 3
    lines[0].status = Status.PREORDERED
    lines[1].status = Status.PREORDERED
    lines[2].status = Status.ALLOCATED

    # when
    with CaptureQueriesContext(connection) as queries:
        statuses_save(lines)

    # then
    assert len(queries) == 2
    assert list(OrderLine.objects.order_by("pk").values_list("pk", "status")) == [
        (allocated.pk, Status.ALLOCATED),
        (lines[0].pk, Status.PREORDERED),
        (lines[1].pk, Status.PREORDERED),
        (lines[2].pk, Status.ALLOCATED),
    ]
    # counters are not touched
    assert list(OrderLine.objects.order_by("pk").values_list("allocated", "backordered")) == [
        (1, 0),
        (0, 1),
        (0, 1),
        (0, 1),
    ]


def test_statuses_save_of_no_lines_runs_no_query(db):
    with CaptureQueriesContext(connection) as queries:
        statuses_save([])

    assert len(queries) == 0


def test_line_change_derives_the_status_and_returns_the_unsaved_event(hoodie):
    # given: a backordered line whose units are now allocated in memory
    staff = StaffFactory()
    line = place((hoodie, 2)).lines.get()
    line.allocated, line.backordered = 2, 0

    # when
    event = line_change(line, kind="allocated", quantity=2, actor=staff, message="x" * 300)

    # then
    assert line.status == Status.ALLOCATED
    assert event.pk is None
    assert (event.order_id, event.line, event.kind, event.quantity) == (
        line.order_id,
        line,
        "allocated",
        2,
    )
    assert (event.status_before, event.status_after, event.actor) == (
        Status.BACKORDERED,
        Status.ALLOCATED,
        staff,
    )
    assert event.message == "x" * 255
    assert OrderLine.objects.get(pk=line.pk).status == Status.BACKORDERED


@pytest.mark.parametrize(
    ("shipped", "cancelled", "status"),
    [(1, 1, Status.SHIPPED), (0, 2, Status.CANCELLED)],
)
def test_a_line_with_nothing_left_is_shipped_if_any_unit_shipped_else_cancelled(
    hoodie, shipped, cancelled, status
):
    line = place((hoodie, 2)).lines.get()
    line.backordered, line.shipped, line.cancelled = 0, shipped, cancelled

    event = line_change(line, kind="x")

    assert (line.status, event.status_after) == (status, status)


def test_a_preordered_line_stays_preordered_unless_told_otherwise(default_warehouse):
    album = ProductFactory(backorder_policy="preorder", release_date="2099-01-01")
    line = place((album, 2)).lines.get()
    assert line.status == Status.PREORDERED

    line_change(line, kind="x")
    assert line.status == Status.PREORDERED
    line_change(line, kind="x", preorder=False)
    assert line.status == Status.BACKORDERED


@pytest.mark.parametrize("terminal", [Status.SHIPPED, Status.CANCELLED])
def test_a_finished_line_never_moves_again(hoodie, terminal):
    # given: a line recorded as finished whose counters say it still waits
    line = place((hoodie, 2)).lines.get()
    line.status = terminal
    before = snapshot()

    # when
    with pytest.raises(InvalidTransition) as refused:
        line_change(line, kind="x")

    # then
    assert str(refused.value) == f"An order line cannot go from {terminal} to backordered."
    assert line.status == terminal
    assert snapshot() == before
