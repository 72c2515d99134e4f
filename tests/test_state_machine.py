"""A hypothesis state machine driving the real services, in any order, on PostgreSQL.

The steps: orders placed (four products: backorder, backorder with caps and no lead time,
deny, pre-order; three customers; shipping complete or as ready; priority 0 or 1), purchase
orders placed, received line by line (partly) or whole, rescheduled and cancelled, stock
adjusted up and down (below what is allocated is refused), lines cancelled by customers or
staff (partly or whole), allocated units shipped line by line or per order, order priorities
and delivery choices changed, the pre-order's release date moved (to today: released), the
worker running the refreshes the services asked for after commit (at once, or later while
other steps happen first) and the day rolling over (the beat's start-of-day work).

After every step (every service call, and every refresh the worker runs):
- the ledger agrees with the counters and the allocation rows (`stock_drift()` is empty),
  every stock row's chain of movements holds (`chain_breaks()` finds nothing), and
  0 <= allocated <= on_hand on every stock row;
- every line has allocated + backordered + shipped + cancelled == quantity and the status
  its counters imply; a `deny` product never has backordered units;
- a refused step changes nothing at all (a refused order keeps only its refused demand) and
  asks for no refresh;
- a new order takes from stock only what no waiting line has a claim on, and promises each
  line the ETA its confirmation tells;
- only a refresh fills waiting lines, in queue order (priority, then order time, then line):
  a line gains units only when every line ahead of it waits for nothing;
- every ETA that moves is recorded as an `EtaChange`, and a waiting line's move owes exactly
  the notice `orders.promises` describes: a delay notice for any date later than the
  customer was last told (`notified_eta`), or no date any more; good news for a date known
  again or two days earlier; the told date moves with the notice and stays put otherwise.

Once the worker has caught up (every refresh asked for has run), also:
- no free stock is left while a line waits (unless a pre-order product is not yet released),
  and no line is still pre-ordered once its product is released;
- waiting lines' ETAs are monotone in queue order and are exactly contract §4's rule: free
  stock today, then each open purchase-order line's remaining units at its expected date (an
  overdue one today), past all of them today plus the lead time (never before the last
  expected date; unknown without a lead time), plus handling, never before release;
- no waiting line's ETA is later than what its customer was last told;
- fully allocated lines ship today, or on their planned ship date (the release date);
  cancelled lines have no ETA.

Queue order is checked on each fill rather than as a property of the state, because the
queue's rules let a later line hold units while an earlier one waits: units allocated when
an order was placed stay with it when a higher-priority order arrives later, or when another
order is moved up the queue. Allocated lines owe no delay notice (`orders.promises`: their
customers hear when they ship), so the notice rules are about waiting lines.

"Today" is `django.utils.timezone.localdate()`, which every service reads: the test moves it
with a clock of its own. Each example runs in a savepoint that is rolled back at its end.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Max
from django.test import TestCase
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from inventory.catalogue import product_update
from inventory.exceptions import (
    BackorderError,
    InsufficientStock,
    InvalidTransition,
    NotCancellable,
    NotShippable,
    OrderRefused,
    OverReceipt,
    ValidationFailed,
)
from inventory.models import Product, PurchaseOrder, PurchaseOrderLine, Stock, Supplier, Warehouse
from inventory.purchasing import (
    PurchaseLineRequest,
    ReceiptRequest,
    purchase_order_create,
    purchase_order_line_cancel,
    purchase_order_line_reschedule,
    purchase_order_receive,
)
from inventory.selectors import chain_breaks, stock_drift
from inventory.stock import stock_adjust
from notifications.models import Notification
from orders import selectors as order_selectors
from orders.models import EtaChange, Order, OrderLine
from orders.services import (
    LineRequest,
    order_line_cancel,
    order_place,
    order_priority_set,
    order_ship_complete_set,
    shipment_create,
)
from orders.tasks import REFRESH_CHUNK, refresh_products
from tests.factories import ProductFactory, SupplierFactory, WarehouseFactory
from tests.helpers import refreshes_asked
from tests.state import purchasing_state

pytestmark = pytest.mark.django_db

Policy = Product.BackorderPolicy
Status = OrderLine.Status
Kind = Notification.Kind

SUPPLIER = "State machine supplier"
SECOND_WAREHOUSE = "second"
CUSTOMERS = ("ayu", "budi", "citra")
# The products' indexes in `ShopMachine.products`.
STOCKED, CAPPED, DENIED, PREORDER = range(4)
PRODUCTS = st.sampled_from([STOCKED, CAPPED, DENIED, PREORDER])
# An order's lines: (product index, quantity) pairs.
BASKETS = st.lists(st.tuples(PRODUCTS, st.integers(1, 6)), min_size=1, max_size=3)
# A purchase order's lines: (product index, quantity, days until expected), one per product.
SUPPLY = st.lists(
    st.tuples(PRODUCTS, st.integers(1, 8), st.integers(0, 20)),
    min_size=1,
    max_size=3,
    unique_by=lambda item: item[0],
)
# Whether the worker runs the refreshes a step asks for only after later steps: False, the
# worker keeping up, is what a failing example shrinks to.
LATER = st.booleans()

_wall_clock_localdate = timezone.localdate


class Clock:
    """The shop's "today", which the day-rollover step moves on.

    It starts a day ahead of the wall clock: a run that crosses midnight then never has a
    purchase order placed (`timezone.now()`, the wall clock) on a later day than "today".
    """

    def __init__(self) -> None:
        self.today = self.start()

    @staticmethod
    def start() -> date:
        return _wall_clock_localdate() + timedelta(days=1)

    def localdate(self, *args: Any, **kwargs: Any) -> date:
        """`timezone.localdate`: today without arguments, the real conversion with them."""
        if args or kwargs:
            return _wall_clock_localdate(*args, **kwargs)
        return self.today


CLOCK = Clock()


def _queue_key(line: dict[str, Any]) -> tuple[int, Any, int]:
    """`orders.selectors.queue_ordering`: priority first, then order time, then line."""
    return (-line["queue_priority"], line["queued_at"], line["pk"])


def _later(told: date | None, eta: date | None) -> bool:
    """A move from the told date to `eta` is a delay: a later date, or no date any more."""
    if eta is None:
        return told is not None
    return told is not None and eta > told


def _notice_owed(told: date | None, eta: date | None) -> str | None:
    """The notice README and `orders.promises` promise for a waiting line's move."""
    if told == eta:
        return None
    if _later(told, eta):
        return Kind.DELAY
    if told is None or (told - eta).days >= django_settings.BACKORDER_EARLIER_NOTICE_DAYS:
        return Kind.EARLIER
    return None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _ship_date(product: Product, arrival: date | None) -> date | None:
    """Contract §4: goods arriving on `arrival` ship after handling, never before release."""
    if arrival is None:
        return None
    shipped = arrival + timedelta(days=django_settings.BACKORDER_HANDLING_DAYS)
    if product.release_date is not None and shipped < product.release_date:
        return product.release_date
    return shipped


def _contract_etas(
    product: Product, free: int, incoming: list[tuple[int, date]], waiting: list[int], today: date
) -> list[date | None]:
    """Contract §4's ETA of each waiting line (`waiting`: their backordered units in queue
    order): the date the supply covering its last unit arrives. Written from the contract,
    not from `inventory.eta`, so that the rule is checked too and not only its SQL."""
    slots: list[tuple[int, date]] = [(free, today)] if free > 0 else []
    slots += [(units, max(expected, today)) for units, expected in incoming]
    beyond: date | None = None
    if product.lead_time_days is not None:
        beyond = today + timedelta(days=product.lead_time_days)
        last = max((expected for _, expected in incoming), default=None)
        if last is not None and last > beyond:
            beyond = last
    etas: list[date | None] = []
    position = 0
    for units in waiting:
        position += units
        covered, arrival = 0, beyond
        for slot_units, day in slots:
            covered += slot_units
            if position <= covered:
                arrival = day
                break
        etas.append(_ship_date(product, arrival))
    return etas


class ShopMachine(RuleBasedStateMachine):
    lines = Bundle("lines")
    purchase_lines = Bundle("purchase_lines")

    def __init__(self) -> None:
        super().__init__()
        # Every example starts from the same database: what it writes is rolled back.
        self.savepoint = transaction.savepoint()
        CLOCK.today = Clock.start()
        self.warehouses = [
            Warehouse.objects.get(is_default=True),
            Warehouse.objects.get(code=SECOND_WAREHOUSE),
        ]
        self.supplier = Supplier.objects.get(name=SUPPLIER)
        today = CLOCK.today
        self.products = [
            ProductFactory(backorder_policy=Policy.BACKORDER, lead_time_days=14),
            ProductFactory(
                backorder_policy=Policy.BACKORDER,
                lead_time_days=None,
                backorder_limit=6,
                max_per_order=5,
            ),
            ProductFactory(backorder_policy=Policy.DENY, lead_time_days=7),
            ProductFactory(
                backorder_policy=Policy.PREORDER,
                lead_time_days=10,
                release_date=today + timedelta(days=2),
            ),
        ]
        self.product_ids = [product.pk for product in self.products]
        # Refreshes asked for after commit that the worker has not run yet: (cause, detail,
        # product ids), oldest first.
        self.pending: list[tuple[str, str, list[int]]] = []

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    # Reading the state ---------------------------------------------------------------------

    def _lines(self) -> dict[int, dict[str, Any]]:
        return {
            row["pk"]: row
            for row in OrderLine.objects.filter(product_id__in=self.product_ids).values(
                "pk",
                "order_id",
                "product_id",
                "quantity",
                "allocated",
                "backordered",
                "shipped",
                "cancelled",
                "status",
                "eta",
                "notified_eta",
                "first_promised_eta",
                "queue_priority",
                "queued_at",
            )
        }

    def _free(self) -> dict[int, int]:
        free: dict[int, int] = defaultdict(int)
        for product_id, on_hand, allocated in Stock.objects.filter(
            product_id__in=self.product_ids
        ).values_list("product_id", "on_hand", "allocated"):
            free[product_id] += on_hand - allocated
        return free

    def _everything(self) -> dict[str, Any]:
        """Every row and counter a refused step must leave as it was."""
        return {
            **purchasing_state(),
            "notifications": Notification.objects.count(),
            "eta_changes": EtaChange.objects.count(),
            "line_dates": sorted(
                OrderLine.objects.values_list("pk", "eta", "notified_eta", "first_promised_eta")
            ),
            "orders": sorted(Order.objects.values_list("pk", "priority", "ship_complete")),
            "products": sorted(Product.objects.values_list("pk", "waiting_units", "release_date")),
        }

    def _product(self, index: int) -> Product:
        return Product.objects.get(pk=self.product_ids[index])

    def _takes_preorders(self, product: Product) -> bool:
        return (
            product.backorder_policy == Policy.PREORDER
            and product.release_date is not None
            and CLOCK.today < product.release_date
        )

    # Running steps --------------------------------------------------------------------------

    @contextmanager
    def _observed(self, *, refresh: bool) -> Iterator[None]:
        """Check what one transaction (a service call or one refresh) did to the lines: the
        queue filled in order, every ETA move recorded, exactly the notices owed."""
        before = self._lines()
        last_notice = Notification.objects.aggregate(last=Max("pk"))["last"] or 0
        last_change = EtaChange.objects.aggregate(last=Max("pk"))["last"] or 0
        yield
        after = self._lines()
        if not refresh:
            gained = [
                pk for pk, line in before.items() if after[pk]["allocated"] > line["allocated"]
            ]
            assert gained == [], f"only a refresh fills waiting lines, yet {gained} gained units"
        for product_id in self.product_ids:
            queue = sorted(
                (
                    after[pk]
                    for pk, line in before.items()
                    if line["product_id"] == product_id and line["backordered"] > 0
                ),
                key=_queue_key,
            )
            for place, line in enumerate(queue):
                if line["allocated"] > before[line["pk"]]["allocated"]:
                    waiting_ahead = [ahead["pk"] for ahead in queue[:place] if ahead["backordered"]]
                    assert waiting_ahead == [], (
                        f"line {line['pk']} was filled while {waiting_ahead} ahead of it wait"
                    )
        moves = []
        owed = set()
        for pk, line in after.items():
            previous = before.get(pk)
            if previous is None:
                moves.append((pk, None, line["eta"]))
                continue
            if line["eta"] != previous["eta"]:
                moves.append((pk, previous["eta"], line["eta"]))
            told = previous["notified_eta"]
            kind = None
            if line["eta"] != previous["eta"] and line["backordered"] > 0:
                kind = _notice_owed(told, line["eta"])
            if kind is not None:
                owed.add((kind, line["order_id"], pk, _iso(told), _iso(line["eta"])))
            assert line["notified_eta"] == (line["eta"] if kind else told), (
                f"line {pk} moved from {previous['eta']} to {line['eta']} (told {told}):"
                f" its told date is {line['notified_eta']}"
            )
        recorded = EtaChange.objects.filter(pk__gt=last_change).values_list(
            "line_id", "previous", "eta"
        )
        assert sorted(recorded, key=str) == sorted(moves, key=str), "ETA moves vs EtaChange rows"
        sent = {
            (kind, order_id, entry["id"], entry["previous_eta"], entry["eta"])
            for kind, order_id, data in Notification.objects.filter(
                pk__gt=last_notice, kind__in=(Kind.DELAY, Kind.EARLIER)
            ).values_list("kind", "order_id", "data")
            for entry in data["lines"]
        }
        assert sent == owed, "delay and good-news notices vs the moves that owe them"

    def _service(
        self, call: Callable[[], Any], *refusals: type[BackorderError], later: bool
    ) -> Any:
        """Run one service call; a refusal among `refusals` must change nothing. The
        refreshes it asks for after commit run now, or later when `later`. Returns the
        call's result, or None when it was refused."""
        everything = self._everything()
        with self._observed(refresh=False), TestCase.captureOnCommitCallbacks() as callbacks:
            try:
                result = call()
            except refusals as error:
                if isinstance(error, OrderRefused):
                    # The one thing a refused order keeps: its demand, for forecasting.
                    everything["refused_demand"] += len(error.refusals)
                assert self._everything() == everything, f"{error!r} changed something"
                assert refreshes_asked(callbacks) == [], f"{error!r} asked for a refresh"
                return None
        asked: dict[tuple[str, str], set[int]] = defaultdict(set)
        for cause, detail, product_ids in refreshes_asked(callbacks):
            # `config.batching`: one task per cause and detail for the whole transaction.
            asked[cause, detail].update(product_ids)
        self.pending += [
            (cause, detail, sorted(ids)) for (cause, detail), ids in sorted(asked.items())
        ]
        if not later:
            self._worker_catches_up()
        return result

    def _refresh(self, product_ids: list[int], cause: str, detail: str = "") -> None:
        """What the worker runs for one task (`orders.tasks.refresh_products`)."""
        with self._observed(refresh=True), TestCase.captureOnCommitCallbacks() as callbacks:
            refresh_products(product_ids, cause, detail)
        assert refreshes_asked(callbacks) == [], "a refresh asked for another refresh"

    def _worker_catches_up(self) -> None:
        while self.pending:
            cause, detail, product_ids = self.pending.pop(0)
            self._refresh(product_ids, cause, detail)

    # Orders ---------------------------------------------------------------------------------

    def _place(
        self,
        customer: str,
        ship_complete: bool,
        priority: int,
        basket: list[tuple[int, int]],
        later: bool = False,
    ) -> list[int]:
        """`order_place` of `basket` ((product index, quantity) pairs); the new line ids."""
        products = {index: self._product(index) for index, _ in basket}
        free = self._free()
        order = self._service(
            lambda: order_place(
                email=f"{customer}@example.com",
                name=customer,
                ship_complete=ship_complete,
                priority=priority,
                lines=[LineRequest(products[index].sku, quantity) for index, quantity in basket],
            ),
            OrderRefused,
            later=later,
        )
        if order is None:
            return []
        # The lines as placement made them (in hand: before any refresh it asked for).
        placed = list(order.lines.all())
        ordered: dict[int, int] = defaultdict(int)
        for index, quantity in basket:
            ordered[index] += quantity
        for index, quantity in ordered.items():
            product = products[index]
            # Waiting lines have the first claim on free stock; pre-orders take none.
            unpromised = max(free[product.pk] - product.waiting_units, 0)
            expected = 0 if self._takes_preorders(product) else min(quantity, unpromised)
            allocated = sum(line.allocated for line in placed if line.product_id == product.pk)
            assert allocated == expected, (
                f"{product.sku}: {quantity} ordered with {free[product.pk]} free and"
                f" {product.waiting_units} waiting allocated {allocated}, not {expected}"
            )
        for line in placed:
            assert line.notified_eta == line.first_promised_eta == line.eta, (
                f"line {line.pk} promised {line.eta}: told {line.notified_eta},"
                f" first promise {line.first_promised_eta}"
            )
        confirmation = Notification.objects.get(order=order, kind=Kind.CONFIRMATION)
        assert confirmation.data["lines"] == [
            {"id": line.pk, "eta": _iso(line.eta)} for line in placed
        ], "the confirmation tells every line's promised ETA"
        return [line.pk for line in placed]

    @initialize(target=lines, baskets=st.lists(BASKETS, min_size=1, max_size=3))
    def opening_backlog(self, baskets: list[list[tuple[int, int]]]) -> Any:
        """Orders placed before any stock arrived: a queue to work on from the start."""
        placed = [
            line
            for number, basket in enumerate(baskets)
            for line in self._place(CUSTOMERS[number % len(CUSTOMERS)], False, 0, basket)
        ]
        return multiple(*placed)

    @initialize(target=purchase_lines, supply=SUPPLY, warehouse=st.sampled_from([0, 1]))
    def opening_supply(self, supply: list[tuple[int, int, int]], warehouse: int) -> Any:
        """A purchase order on its way from the start: ETAs to move."""
        return self.create_purchase_order(supply, warehouse, later=False)

    @rule(
        target=lines,
        customer=st.sampled_from(CUSTOMERS),
        ship_complete=st.booleans(),
        priority=st.sampled_from([0, 1]),
        basket=BASKETS,
        later=LATER,
    )
    def place_order(
        self,
        customer: str,
        ship_complete: bool,
        priority: int,
        basket: list[tuple[int, int]],
        later: bool,
    ) -> Any:
        return multiple(*self._place(customer, ship_complete, priority, basket, later))

    @rule(
        line=lines,
        quantity=st.none() | st.integers(1, 6),
        by_customer=st.booleans(),
        later=LATER,
    )
    def cancel_line(self, line: int, quantity: int | None, by_customer: bool, later: bool) -> None:
        """Cancel units of the line (all it can, with None); customers only backordered ones."""
        self._service(
            lambda: order_line_cancel(
                line_id=line, quantity=quantity, by_customer=by_customer, reason="changed mind"
            ),
            NotCancellable,
            later=later,
        )

    @rule(line=lines, quantity=st.none() | st.integers(1, 6), later=LATER)
    def ship(self, line: int, quantity: int | None, later: bool) -> None:
        """Ship units of the line, or (None) everything allocated on its order, as the pick
        list would."""
        order = Order.objects.get(lines=line)
        if quantity is None:
            shipping = [(pk, units) for pk, units in order.lines.values_list("pk", "allocated")]
            shipping = [(pk, units) for pk, units in shipping if units]
        else:
            shipping = [(line, quantity)]
        self._service(
            lambda: shipment_create(order=order, lines=shipping, tracking="JNE-1"),
            NotShippable,  # More than allocated, or backorders on an order shipping complete.
            ValidationFailed,  # Nothing allocated: a shipment needs lines.
            later=later,
        )

    @rule(
        line=lines,
        priority=st.none() | st.sampled_from([-1, 1, 0, 2]),
        ship_complete=st.booleans(),
        later=LATER,
    )
    def change_order(
        self, line: int, priority: int | None, ship_complete: bool, later: bool
    ) -> None:
        """Customer service moves the line's order in the queues or, with no priority,
        switches how it ships."""
        order_id = OrderLine.objects.get(pk=line).order_id
        if priority is not None:
            self._service(
                lambda: order_priority_set(order_id=order_id, priority=priority, reason="VIP"),
                later=later,
            )
            return
        self._service(
            lambda: order_ship_complete_set(order_id=order_id, ship_complete=ship_complete),
            NotShippable,  # Part shipped already, or nothing left to ship.
            later=later,
        )

    # Stock and purchasing -------------------------------------------------------------------

    @rule(
        product=PRODUCTS,
        warehouse=st.sampled_from([0, 1]),
        quantity=st.integers(-6, 8).filter(bool),
        later=LATER,
    )
    def adjust_stock(self, product: int, warehouse: int, quantity: int, later: bool) -> None:
        """A stock count; one below what is allocated is refused."""
        self._service(
            lambda: stock_adjust(
                product=self._product(product),
                warehouse=self.warehouses[warehouse],
                quantity=quantity,
                reason="stock count",
            ),
            InsufficientStock,
            later=later,
        )

    @rule(
        target=purchase_lines,
        supply=SUPPLY,
        warehouse=st.sampled_from([0, 1]),
        later=LATER,
    )
    def create_purchase_order(
        self, supply: list[tuple[int, int, int]], warehouse: int, later: bool
    ) -> Any:
        """A purchase order of (product index, quantity, days until expected) lines."""
        purchase_order = self._service(
            lambda: purchase_order_create(
                supplier=self.supplier,
                warehouse=self.warehouses[warehouse],
                lines=[
                    PurchaseLineRequest(
                        self._product(index).sku, quantity, CLOCK.today + timedelta(days=days)
                    )
                    for index, quantity, days in supply
                ],
            ),
            later=later,
        )
        return multiple(*purchase_order.lines.order_by("pk").values_list("pk", flat=True))

    @rule(purchase_line=purchase_lines, quantity=st.none() | st.integers(1, 8), later=LATER)
    def receive(self, purchase_line: int, quantity: int | None, later: bool) -> None:
        """A receipt of units of the purchase-order line (partial, whole, or too many:
        refused) or, with None, of everything still to arrive on its order."""
        order = PurchaseOrder.objects.get(lines=purchase_line)
        if quantity is None:
            received = [
                ReceiptRequest(line.outstanding, line_id=line.pk)
                for line in order.lines.order_by("pk")
                if line.outstanding
            ]
        else:
            received = [ReceiptRequest(quantity, line_id=purchase_line)]
        self._service(
            lambda: purchase_order_receive(purchase_order_id=order.pk, lines=received),
            OverReceipt,
            InvalidTransition,  # Received or cancelled already.
            ValidationFailed,  # Nothing left to say was received.
            later=later,
        )

    @rule(purchase_line=purchase_lines, days=st.none() | st.integers(-1, 25), later=LATER)
    def change_purchase_line(self, purchase_line: int, days: int | None, later: bool) -> None:
        """The supplier moves the line's delivery (a past date is refused) or, with None,
        cancels what is still to arrive."""
        if days is None:
            self._service(
                lambda: purchase_order_line_cancel(line_id=purchase_line),
                InvalidTransition,  # Nothing left to arrive.
                later=later,
            )
            return
        self._service(
            lambda: purchase_order_line_reschedule(
                line_id=purchase_line, expected_date=CLOCK.today + timedelta(days=days)
            ),
            ValidationFailed,  # In the past.
            InvalidTransition,  # Nothing left to arrive.
            later=later,
        )

    @rule(days=st.integers(0, 4), later=LATER)
    def move_release_date(self, days: int, later: bool) -> None:
        """Staff move the pre-order's release date; to today releases it."""
        self._service(
            lambda: product_update(
                product_id=self.product_ids[PREORDER],
                changes={"release_date": CLOCK.today + timedelta(days=days)},
            ),
            later=later,
        )

    # The worker and the clock ---------------------------------------------------------------

    @precondition(lambda self: self.pending)
    @rule()
    def worker_catches_up(self) -> None:
        self._worker_catches_up()

    @rule()
    def new_day(self) -> None:
        """Midnight: the worker has long run what was asked, then the beat's start-of-day
        work (`orders.tasks.start_of_day`) runs a refresh task per cause and chunk."""
        self._worker_catches_up()
        CLOCK.today += timedelta(days=1)
        by_cause: dict[str, list[int]] = defaultdict(list)
        for product_id, cause in sorted(order_selectors.products_to_refresh(CLOCK.today).items()):
            by_cause[cause].append(product_id)
        for cause, product_ids in sorted(by_cause.items()):
            for start in range(0, len(product_ids), REFRESH_CHUNK):
                self._refresh(product_ids[start : start + REFRESH_CHUNK], cause)

    # Invariants of every state --------------------------------------------------------------

    @invariant()
    def ledger_agrees(self) -> None:
        assert [str(drift) for drift in stock_drift()] == []
        assert [str(broken) for broken in chain_breaks()[0]] == []
        for pk, on_hand, allocated in Stock.objects.filter(
            product_id__in=self.product_ids
        ).values_list("pk", "on_hand", "allocated"):
            assert 0 <= allocated <= on_hand, f"stock {pk}: {allocated} allocated of {on_hand}"

    @invariant()
    def lines_add_up(self) -> None:
        for line in self._lines().values():
            counted = line["allocated"] + line["backordered"] + line["shipped"] + line["cancelled"]
            assert counted == line["quantity"], (
                f"line {line['pk']}: {counted} of {line['quantity']}"
            )
            if line["quantity"] == line["shipped"] + line["cancelled"]:
                status = {Status.SHIPPED if line["shipped"] else Status.CANCELLED}
            elif line["backordered"]:
                status = {Status.BACKORDERED, Status.PREORDERED}
            else:
                status = {Status.ALLOCATED}
            assert line["status"] in status, f"line {line['pk']} is {line['status']}: {line}"
            if line["product_id"] == self.product_ids[DENIED]:
                assert line["backordered"] == 0, f"deny product line {line['pk']} waits"

    # Invariants once the worker has caught up -----------------------------------------------

    @precondition(lambda self: not self.pending)
    @invariant()
    def queues_and_etas_are_true(self) -> None:
        today = CLOCK.today
        free = self._free()
        lines = self._lines()
        incoming: dict[int, list[tuple[int, date]]] = defaultdict(list)
        for product_id, quantity, received, cancelled, expected in (
            PurchaseOrderLine.objects.filter(
                product_id__in=self.product_ids,
                purchase_order__status__in=PurchaseOrder.OPEN_STATUSES,
            )
            .order_by("expected_date", "pk")
            .values_list("product_id", "quantity", "received", "cancelled", "expected_date")
        ):
            if quantity - received - cancelled > 0:
                incoming[product_id].append((quantity - received - cancelled, expected))
        for product in Product.objects.filter(pk__in=self.product_ids).order_by("pk"):
            queue = sorted(
                (line for line in lines.values() if line["product_id"] == product.pk),
                key=_queue_key,
            )
            waiting = [line for line in queue if line["backordered"] > 0]
            held = self._takes_preorders(product)
            if waiting and not held:
                assert free[product.pk] == 0, (
                    f"{product.sku}: {free[product.pk]} free while {len(waiting)} line(s) wait"
                )
            if not held:
                preordered = [line["pk"] for line in waiting if line["status"] == Status.PREORDERED]
                assert preordered == [], f"{product.sku} is released, yet {preordered} wait for it"
            etas = [line["eta"] for line in waiting]
            known = [eta for eta in etas if eta is not None]
            assert etas[: len(known)] == sorted(known), f"{product.sku}: ETAs not monotone {etas}"
            expected = _contract_etas(
                product,
                free[product.pk],
                incoming[product.pk],
                [line["backordered"] for line in waiting],
                today,
            )
            assert etas == expected, (
                f"{product.sku}: ETAs in queue order {etas}, contract says {expected}"
                f" (free {free[product.pk]}, incoming {incoming[product.pk]})"
            )
            for line in waiting:
                assert not _later(line["notified_eta"], line["eta"]), (
                    f"line {line['pk']} ships {line['eta']}, later than told {line['notified_eta']}"
                )
            ready = {today, _ship_date(product, today)}
            for line in queue:
                if line["status"] == Status.ALLOCATED:
                    assert line["eta"] in ready, (
                        f"{product.sku}: allocated line {line['pk']} ships {line['eta']},"
                        f" not {sorted(ready)}"
                    )
                if line["status"] == Status.CANCELLED:
                    assert line["eta"] is None, f"cancelled line {line['pk']} has an ETA"


# Bounded for CI on two cores; no example database, so the run writes no files.
SETTINGS = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_the_services_keep_every_invariant_in_any_order(default_warehouse, monkeypatch):
    WarehouseFactory(code=SECOND_WAREHOUSE, priority=10)
    SupplierFactory(name=SUPPLIER, lead_time_days=10)
    monkeypatch.setattr(timezone, "localdate", CLOCK.localdate)

    run_state_machine_as_test(ShopMachine, settings=SETTINGS)
