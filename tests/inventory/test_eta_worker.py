"""ETAs kept true by a real Celery worker process, over Redis, on the test database."""

from datetime import date

import pytest
from django.core.management import call_command

from inventory import purchasing
from inventory.models import Product
from inventory.purchasing import PurchaseLineRequest, ReceiptRequest
from inventory.stock import stock_receive
from orders.models import EtaChange, OrderLine
from orders.services import LineRequest, order_line_cancel, order_place
from orders.tasks import reallocate_all_products, start_of_day
from tests.factories import ProductFactory, SupplierFactory
from tests.helpers import in_days, place_line
from tests.worker import celery_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
Cause = EtaChange.Cause


def state(lines: list[OrderLine]) -> list[tuple[str, date | None]]:
    fresh = {line.pk: line for line in OrderLine.objects.filter(pk__in=[x.pk for x in lines])}
    return [(fresh[line.pk].status, fresh[line.pk].eta) for line in lines]


def settles_at(lines: list[OrderLine], expected: list[tuple[str, date | None]], what: str):
    wait_until(lambda: state(lines) == expected, what)


def test_supply_moves_etas_through_the_worker(hoodie):
    # given the hoodie sold out: four buyers wait, each told "ships in 14 days"
    buyers = [place_line("HOODIE-SE", 2, who) for who in ("ayu", "budi", "citra", "dewi")]
    assert state(buyers) == [("backordered", in_days(14))] * 4

    with celery_worker():
        # a purchase order for four hoodies moves the two oldest to its date
        purchase_order = purchasing.purchase_order_create(
            supplier=SupplierFactory(name="Konveksi Bandung"),
            lines=[PurchaseLineRequest("HOODIE-SE", 4, in_days(6))],
        )
        settles_at(
            buyers,
            [("backordered", in_days(6))] * 2 + [("backordered", in_days(14))] * 2,
            "the purchase order to move the oldest ETAs",
        )

        # the oldest buyer cancels: the buyer behind moves up onto the delivery
        order_line_cancel(line_id=buyers[0].pk, by_customer=True)
        settles_at(
            buyers,
            [("cancelled", None)]
            + [("backordered", in_days(6))] * 2
            + [("backordered", in_days(14))],
            "the cancellation ahead to move the queue earlier",
        )

        # the supplier slips past the lead time: everyone waiting moves later
        po_line = purchase_order.lines.get()
        purchasing.purchase_order_line_reschedule(line_id=po_line.pk, expected_date=in_days(20))
        settles_at(
            buyers,
            [("cancelled", None)] + [("backordered", in_days(20))] * 3,
            "the slip to move ETAs later",
        )

        # the goods arrive early: the oldest waiting buyers are allocated and ship today
        purchasing.purchase_order_receive(
            purchase_order_id=purchase_order.pk, lines=[ReceiptRequest(4, sku="HOODIE-SE")]
        )
        settles_at(
            buyers,
            [("cancelled", None)]
            + [("allocated", in_days(0))] * 2
            + [("backordered", in_days(14))],
            "the receipt to be allocated",
        )

    # then every move is on record with its cause, and the ledger agrees with the counters
    def history(line: OrderLine) -> list[tuple[date | None, date | None, str]]:
        changes = EtaChange.objects.filter(line=line).order_by("pk")
        return list(changes.values_list("previous", "eta", "cause"))

    assert history(buyers[0]) == [
        (None, in_days(14), Cause.PLACED),
        (in_days(14), in_days(6), Cause.PO_CREATED),
        (in_days(6), None, Cause.CANCELLED),
    ]
    assert history(buyers[1]) == [
        (None, in_days(14), Cause.PLACED),
        (in_days(14), in_days(6), Cause.PO_CREATED),
        (in_days(6), in_days(20), Cause.PO_DATE_CHANGED),
        (in_days(20), in_days(0), Cause.PO_RECEIVED),
    ]
    assert history(buyers[2]) == [
        (None, in_days(14), Cause.PLACED),
        (in_days(14), in_days(6), Cause.QUEUE_AHEAD_CANCELLED),
        (in_days(6), in_days(20), Cause.PO_DATE_CHANGED),
        (in_days(20), in_days(0), Cause.PO_RECEIVED),
    ]
    assert history(buyers[3]) == [
        (None, in_days(14), Cause.PLACED),
        (in_days(14), in_days(20), Cause.PO_DATE_CHANGED),
        (in_days(20), in_days(14), Cause.PO_RECEIVED),
    ]
    assert [line.first_promised_eta for line in OrderLine.objects.order_by("pk")] == [
        in_days(14)
    ] * 4
    call_command("verify_stock")


def test_start_of_day_releases_preorders_due_today_through_the_worker(default_warehouse):
    # given pre-orders taken yesterday for an album released today, and stock for one of them
    album = ProductFactory(
        sku="ALBUM-LTD",
        backorder_policy=Product.BackorderPolicy.PREORDER,
        release_date=in_days(0),
        lead_time_days=30,
    )
    fans = [
        order_place(
            email=f"fan{n}@example.com",
            name="Fan",
            lines=[LineRequest("ALBUM-LTD", 1)],
            today=in_days(-1),
        ).lines.get()
        for n in range(2)
    ]
    stock_receive(product=album, quantity=1)

    with celery_worker():  # starting the worker drops the refresh the receipt queued
        assert state(fans) == [("preordered", in_days(29))] * 2

        start_of_day.delay()

        settles_at(
            fans,
            [("allocated", in_days(0)), ("backordered", in_days(30))],
            "the release to allocate the oldest pre-order",
        )
    assert list(EtaChange.objects.filter(line=fans[1]).values_list("cause", flat=True)) == [
        Cause.PLACED,
        Cause.RELEASED,
    ]
    call_command("verify_stock")


def test_the_sweep_catches_up_a_refresh_that_was_lost(hoodie):
    waiting = place_line("HOODIE-SE", 1, "ayu")
    stock_receive(product=hoodie, quantity=1)

    with celery_worker():  # starting the worker drops the refresh the receipt queued
        assert state([waiting]) == [("backordered", in_days(14))]

        reallocate_all_products.delay()

        settles_at([waiting], [("allocated", in_days(0))], "the sweep to allocate")
