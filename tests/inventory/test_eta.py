"""The ETA rule, without a database."""

from datetime import date, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from inventory.eta import Basis, EtaRule, Incoming, QueuedUnits, Timeline, queue_etas

TODAY = date(2026, 11, 25)


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def etas(queue, *, free=0, incoming=(), lead=None, handling=0, release=None):
    rule = EtaRule(today=TODAY, lead_time_days=lead, handling_days=handling, release_date=release)
    lines = [QueuedUnits(index + 1, units) for index, units in enumerate(queue)]
    return [e.eta for e in queue_etas(lines, free=free, incoming=incoming, rule=rule)]


def test_no_supply_and_no_lead_time_gives_no_eta():
    assert etas([3, 2]) == [None, None]


def test_no_supply_uses_the_lead_time_from_today():
    assert etas([3, 2], lead=14) == [day(14), day(14)]


def test_a_lead_time_of_zero_means_today():
    assert etas([1], lead=0) == [TODAY]


def test_free_stock_not_yet_allocated_covers_the_head_of_the_queue_today():
    assert etas([2, 2], free=3, lead=14) == [TODAY, day(14)]


def test_one_purchase_order_covers_part_of_the_queue():
    incoming = [Incoming(5, day(10), 1)]

    assert etas([2, 3, 1], incoming=incoming, lead=14) == [day(10), day(10), day(14)]


def test_a_line_is_covered_only_when_its_last_unit_is():
    incoming = [Incoming(3, day(5), 1), Incoming(10, day(9), 2)]

    assert etas([2, 4], incoming=incoming, lead=30) == [day(5), day(9)]


def test_purchase_orders_are_used_by_expected_date_whatever_their_order():
    incoming = [Incoming(4, day(20), 1), Incoming(4, day(6), 2), Incoming(4, day(12), 3)]

    assert etas([4, 4, 4], incoming=incoming, lead=40) == [day(6), day(12), day(20)]


def test_purchase_orders_due_the_same_day_are_used_in_line_id_order():
    rule = EtaRule(today=TODAY, lead_time_days=30)
    incoming = [Incoming(2, day(6), 9), Incoming(2, day(6), 4)]

    walked = queue_etas(
        [QueuedUnits(1, 2), QueuedUnits(2, 2)], free=0, incoming=incoming, rule=rule
    )

    assert [(e.eta, e.source_id) for e in walked] == [(day(6), 4), (day(6), 9)]


def test_past_all_supply_never_earlier_than_the_last_scheduled_delivery():
    incoming = [Incoming(2, day(30), 1)]

    assert etas([2, 1], incoming=incoming, lead=7) == [day(30), day(30)]


def test_past_all_supply_with_a_lead_time_later_than_the_last_delivery():
    incoming = [Incoming(2, day(3), 1)]

    assert etas([2, 1], incoming=incoming, lead=7) == [day(3), day(7)]


def test_past_all_supply_without_a_lead_time_is_unknown_even_after_a_delivery():
    incoming = [Incoming(2, day(3), 1)]

    assert etas([2, 1], incoming=incoming) == [day(3), None]


def test_a_partial_receipt_leaves_only_the_outstanding_quantity_incoming():
    # 10 ordered, 6 received: the 6 are free stock now, 4 still due on day 8.
    incoming = [Incoming(4, day(8), 1)]

    assert etas([5, 5, 1], free=6, incoming=incoming, lead=20) == [TODAY, day(8), day(20)]


def test_a_slipped_delivery_moves_the_lines_it_covers_later():
    before = etas([3, 3], incoming=[Incoming(3, day(5), 1)], lead=10)
    after = etas([3, 3], incoming=[Incoming(3, day(12), 1)], lead=10)

    assert before == [day(5), day(10)]
    assert after == [day(12), day(12)]


def test_a_cancelled_delivery_falls_back_to_the_lead_time():
    assert etas([3], incoming=[], lead=10) == [day(10)]
    assert etas([3], incoming=[Incoming(3, day(5), 1)], lead=10) == [day(5)]


def test_an_overdue_delivery_is_expected_today_not_in_the_past():
    assert etas([2], incoming=[Incoming(2, day(-3), 1)], lead=10) == [TODAY]


def test_an_overdue_delivery_does_not_pull_the_lead_time_fallback_earlier():
    assert etas([2, 1], incoming=[Incoming(2, day(-3), 1)], lead=10) == [TODAY, day(10)]


def test_handling_time_is_added_to_every_eta():
    incoming = [Incoming(1, day(5), 1)]

    assert etas([1, 1, 1], free=1, incoming=incoming, lead=10, handling=2) == [
        day(2),
        day(7),
        day(12),
    ]


def test_preorders_never_ship_before_the_release_date():
    incoming = [Incoming(2, day(3), 1)]

    assert etas([1, 1, 1, 1], free=1, incoming=incoming, lead=30, release=day(10)) == [
        day(10),
        day(10),
        day(10),
        day(30),
    ]


def test_handling_time_before_a_release_does_not_delay_release_day():
    assert etas([1], free=1, lead=5, handling=2, release=day(10)) == [day(10)]


def test_handling_time_past_the_release_date_still_counts():
    assert etas([1], incoming=[Incoming(1, day(9), 1)], handling=2, release=day(10)) == [day(11)]


def test_a_release_date_in_the_past_changes_nothing():
    assert etas([1], lead=3, release=day(-5)) == [day(3)]


def test_each_eta_names_what_it_rests_on():
    rule = EtaRule(today=TODAY, lead_time_days=9)
    queue = [QueuedUnits(1, 1), QueuedUnits(2, 1), QueuedUnits(3, 1)]

    walked = queue_etas(queue, free=1, incoming=[Incoming(1, day(4), 77)], rule=rule)

    assert [(e.line_id, e.basis, e.source_id) for e in walked] == [
        (1, Basis.STOCK, None),
        (2, Basis.PURCHASE_ORDER, 77),
        (3, Basis.LEAD_TIME, None),
    ]


def test_quote_for_a_new_line_at_the_tail_of_the_queue():
    timeline = Timeline(
        free=2, incoming=[Incoming(5, day(6), 1)], rule=EtaRule(today=TODAY, lead_time_days=21)
    )

    assert timeline.quote(ahead=0, quantity=2).eta == TODAY
    assert timeline.quote(ahead=1, quantity=2).eta == day(6)
    assert timeline.quote(ahead=4, quantity=3).eta == day(6)
    assert timeline.quote(ahead=4, quantity=4).eta == day(21)


def test_quote_gives_what_the_walk_gives_the_same_line_once_queued():
    rule = EtaRule(today=TODAY, lead_time_days=12, handling_days=1)
    incoming = [Incoming(3, day(4), 1), Incoming(6, day(8), 2)]
    queue = [QueuedUnits(1, 2), QueuedUnits(2, 5)]
    timeline = Timeline(free=1, incoming=incoming, rule=rule)

    quoted = timeline.quote(ahead=7, quantity=2).eta
    walked = list(timeline.walk([*queue, QueuedUnits(3, 2)]))[-1].eta

    assert quoted == walked == day(9)


queues = st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=30)
deliveries = st.lists(
    st.builds(
        Incoming,
        quantity=st.integers(min_value=0, max_value=30),
        expected_date=st.integers(min_value=-10, max_value=60).map(day),
        source_id=st.integers(min_value=1, max_value=10_000),
    ),
    max_size=8,
)
# A product's supply and ETA rule, any of them.
supplies = {
    "free": st.integers(min_value=0, max_value=40),
    "incoming": deliveries,
    "lead": st.one_of(st.none(), st.integers(min_value=0, max_value=90)),
    "handling": st.integers(min_value=0, max_value=5),
    "release": st.one_of(st.none(), st.integers(min_value=-10, max_value=40).map(day)),
}


@given(
    queue=queues,
    **supplies,
)
def test_a_later_line_never_gets_an_earlier_eta(queue, free, incoming, lead, handling, release):
    result = etas(
        queue, free=free, incoming=incoming, lead=lead, handling=handling, release=release
    )

    known = [eta for eta in result if eta is not None]
    assert known == sorted(known)
    # Once an ETA is unknown, every line behind it is past all supply as well.
    first_unknown = next((i for i, eta in enumerate(result) if eta is None), len(result))
    assert all(eta is None for eta in result[first_unknown:])
    # Nothing ships before today plus handling, or before release.
    floor = max(TODAY + timedelta(days=handling), release or TODAY)
    assert all(eta >= floor for eta in known)


@given(queue=queues, free=st.integers(min_value=0, max_value=40), incoming=deliveries)
def test_the_queue_tail_quote_matches_the_walk(queue, free, incoming):
    rule = EtaRule(today=TODAY, lead_time_days=14, handling_days=1)
    timeline = Timeline(free=free, incoming=incoming, rule=rule)
    lines = [QueuedUnits(index + 1, units) for index, units in enumerate(queue)]

    walked = list(timeline.walk(lines))

    ahead = sum(queue[:-1])
    assert timeline.quote(ahead=ahead, quantity=queue[-1]).eta == walked[-1].eta


@given(
    queue=st.lists(st.integers(min_value=0, max_value=20), max_size=30),
    **supplies,
)
def test_the_walk_and_its_etas_alone_are_each_line_covered_in_turn(
    queue, free, incoming, lead, handling, release
):
    rule = EtaRule(today=TODAY, lead_time_days=lead, handling_days=handling, release_date=release)
    timeline = Timeline(free=free, incoming=incoming, rule=rule)
    lines = [QueuedUnits(index + 1, units) for index, units in enumerate(queue)]
    # One line at a time: where its last unit is covered, never earlier than a line ahead.
    expected, position, latest = [], 0, None
    for units in queue:
        position += units
        where = timeline.coverage(position)
        eta = rule.ship_date(where.arrival)
        if eta is not None and latest is not None:
            eta = max(eta, latest)
        latest = eta or latest
        expected.append((eta, where.basis, where.source_id))

    walked = [(e.eta, e.basis, e.source_id) for e in timeline.walk(lines)]

    assert walked == expected
    assert timeline.etas(queue) == [eta for eta, _, _ in expected]


@given(
    queue=st.lists(st.integers(min_value=1, max_value=20), max_size=30),
    **supplies,
)
def test_the_steps_give_each_line_the_eta_the_walk_gives_it(
    queue, free, incoming, lead, handling, release
):
    rule = EtaRule(today=TODAY, lead_time_days=lead, handling_days=handling, release_date=release)
    timeline = Timeline(free=free, incoming=incoming, rule=rule)
    steps = timeline.steps()

    def stepped(position: int):
        return next(eta for end, eta in steps if end is None or position <= end)

    positions = [sum(queue[: index + 1]) for index in range(len(queue))]
    assert [stepped(position) for position in positions] == timeline.etas(queue)
    assert steps[-1][0] is None
    assert all(a[1] != b[1] for a, b in pairwise(steps))


def test_steps_of_stock_then_two_deliveries_then_the_lead_time():
    rule = EtaRule(today=TODAY, lead_time_days=30, handling_days=1)
    timeline = Timeline(
        free=3, incoming=[Incoming(5, day(4), 1), Incoming(2, day(4), 2)], rule=rule
    )

    assert timeline.steps() == [(3, day(1)), (10, day(5)), (None, day(31))]
