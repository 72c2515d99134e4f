"""The pure allocation rule: plan_order, fill_backorders, release_allocations (no database)."""

from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inventory.allocation import (
    LineFill,
    LinePlan,
    OrderPlan,
    Policy,
    ProductRules,
    QueuedLine,
    Refusal,
    RefusalCode,
    RequestedLine,
    Supply,
    fill_backorders,
    plan_order,
    release_allocations,
    unpromised_units,
)

TODAY = date(2025, 6, 1)
TOMORROW = TODAY + timedelta(days=1)
YESTERDAY = TODAY - timedelta(days=1)

HOODIE = 1
MUG = 2
TEE = 3
CAP = 4


def rules_for(*rules: ProductRules) -> dict[int, ProductRules]:
    return {rule.product_id: rule for rule in rules}


def backorderable(product_id: int = HOODIE, **kwargs) -> ProductRules:
    return ProductRules(product_id=product_id, policy=Policy.BACKORDER, **kwargs)


def deny(product_id: int = HOODIE, **kwargs) -> ProductRules:
    return ProductRules(product_id=product_id, policy=Policy.DENY, **kwargs)


def preorder(product_id: int = HOODIE, **kwargs) -> ProductRules:
    return ProductRules(product_id=product_id, policy=Policy.PREORDER, **kwargs)


def line_plan(
    quantity: int,
    allocations: tuple[tuple[int, int], ...] = (),
    backordered: int = 0,
    *,
    product_id: int = HOODIE,
    preordered: bool = False,
) -> LinePlan:
    return LinePlan(
        product_id=product_id,
        quantity=quantity,
        allocations=allocations,
        backordered=backordered,
        preordered=preordered,
    )


# --- plan_order: free stock and warehouse order -------------------------------------------


def test_free_stock_comes_from_the_highest_priority_warehouse_first():
    # given two warehouses with enough stock each
    supply = [Supply(10, HOODIE, priority=1, free=5), Supply(11, HOODIE, priority=9, free=5)]

    # when
    plan = plan_order([RequestedLine(HOODIE, 3)], rules_for(backorderable()), supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(3, ((11, 3),)),))
    assert plan.accepted


def test_warehouses_of_equal_priority_are_used_by_stock_id():
    # given
    supply = [Supply(21, HOODIE, priority=5, free=4), Supply(20, HOODIE, priority=5, free=4)]

    # when
    plan = plan_order([RequestedLine(HOODIE, 3)], rules_for(backorderable()), supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(3, ((20, 3),)),))


def test_a_line_is_split_across_warehouses_in_priority_order():
    # given
    supply = [
        Supply(10, HOODIE, priority=1, free=5),
        Supply(11, HOODIE, priority=9, free=2),
        Supply(12, HOODIE, priority=5, free=3),
    ]

    # when
    plan = plan_order([RequestedLine(HOODIE, 7)], rules_for(deny()), supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(7, ((11, 2), (12, 3), (10, 2))),))
    assert plan.lines[0].allocated == 7


def test_warehouses_without_free_units_are_skipped():
    # given
    supply = [
        Supply(10, HOODIE, priority=9, free=0),
        Supply(11, HOODIE, priority=8, free=-2),
        Supply(12, HOODIE, priority=1, free=2),
    ]

    # when
    plan = plan_order([RequestedLine(HOODIE, 2)], rules_for(deny()), supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(2, ((12, 2),)),))


def test_stock_of_another_product_is_never_used():
    # given the mug has plenty of stock, the hoodie one unit
    supply = [Supply(30, MUG, priority=9, free=50), Supply(10, HOODIE, priority=1, free=1)]
    rules = rules_for(backorderable(HOODIE), backorderable(MUG))

    # when
    plan = plan_order([RequestedLine(HOODIE, 3)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(3, ((10, 1),), 2),))


def test_lines_of_the_same_product_share_its_free_stock_in_line_order():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=4)]
    lines = [RequestedLine(HOODIE, 3), RequestedLine(HOODIE, 3)]

    # when
    plan = plan_order(lines, rules_for(backorderable()), supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(3, ((10, 3),)), line_plan(3, ((10, 1),), 2)))


def test_an_empty_order_is_an_empty_accepted_plan():
    # when
    plan = plan_order([], rules_for(deny()), [Supply(10, HOODIE, 1, 5)], TODAY)

    # then
    assert plan == OrderPlan()
    assert plan.accepted


# --- plan_order: backorder and deny policies ----------------------------------------------


def test_backorder_policy_backorders_the_remainder():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=2)]

    # when
    plan = plan_order([RequestedLine(HOODIE, 5)], rules_for(backorderable()), supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(5, ((10, 2),), 3),))
    assert plan.accepted


def test_backorder_policy_backorders_everything_without_stock():
    # when
    plan = plan_order([RequestedLine(HOODIE, 4)], rules_for(backorderable()), [], TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(4, (), 4),))


def test_deny_policy_refuses_a_line_short_of_stock():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=2)]

    # when
    plan = plan_order([RequestedLine(HOODIE, 3)], rules_for(deny()), supply, TODAY)

    # then
    assert plan == OrderPlan(
        refusals=(Refusal(0, HOODIE, RefusalCode.OUT_OF_STOCK, "Out of stock."),)
    )
    assert plan.lines == ()
    assert not plan.accepted


def test_deny_policy_accepts_a_line_the_stock_covers():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=1), Supply(11, HOODIE, priority=2, free=2)]

    # when
    plan = plan_order([RequestedLine(HOODIE, 3)], rules_for(deny()), supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(3, ((11, 2), (10, 1))),))
    assert plan.accepted


# --- plan_order: existing backorders come first -------------------------------------------


def test_existing_backorders_claim_free_stock_before_a_new_order():
    # given 3 units already backordered and 5 free, from the best warehouse first
    supply = [Supply(10, HOODIE, priority=1, free=3), Supply(11, HOODIE, priority=9, free=2)]
    rules = rules_for(backorderable(backordered=3))

    # when
    plan = plan_order([RequestedLine(HOODIE, 4)], rules, supply, TODAY)

    # then the new order gets only the 2 units left over and waits behind them for the rest
    assert plan == OrderPlan(lines=(line_plan(4, ((10, 2),), 2),))


def test_a_new_order_gets_no_stock_while_older_backorders_need_all_of_it():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=4)]
    rules = rules_for(backorderable(backordered=10))

    # when
    plan = plan_order([RequestedLine(HOODIE, 2)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(2, (), 2),))


def test_a_deny_order_is_refused_when_older_backorders_claim_the_stock():
    # given 4 free units, 3 of them owed to older backorders
    supply = [Supply(10, HOODIE, priority=1, free=4)]
    rules = rules_for(deny(backordered=3))

    # when
    plan = plan_order([RequestedLine(HOODIE, 2)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(
        refusals=(Refusal(0, HOODIE, RefusalCode.OUT_OF_STOCK, "Out of stock."),)
    )


# --- unpromised_units: free stock no one is promised --------------------------------------


def test_unpromised_units_are_free_stock_over_all_warehouses_of_the_product():
    supply = [
        Supply(10, HOODIE, priority=1, free=3),
        Supply(11, HOODIE, priority=9, free=2),
        Supply(12, MUG, priority=5, free=40),
    ]

    assert unpromised_units(backorderable(), supply) == 5


def test_waiting_backorders_and_preorders_hold_their_units_first():
    supply = [Supply(10, HOODIE, priority=1, free=3), Supply(11, HOODIE, priority=9, free=2)]

    assert [unpromised_units(preorder(backordered=b), supply) for b in (0, 2, 5)] == [5, 3, 0]


def test_unpromised_units_are_never_negative():
    supply = [Supply(10, HOODIE, priority=1, free=1), Supply(11, HOODIE, priority=2, free=-2)]

    assert unpromised_units(deny(backordered=4), supply) == 0
    assert unpromised_units(deny(), supply) == 1
    assert unpromised_units(deny(), []) == 0


# --- plan_order: backorder_limit ----------------------------------------------------------


def test_backorder_limit_accepts_a_shortfall_exactly_at_the_cap():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=2)]
    rules = rules_for(backorderable(backorder_limit=3))

    # when
    plan = plan_order([RequestedLine(HOODIE, 5)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(5, ((10, 2),), 3),))


def test_backorder_limit_refuses_one_unit_over_the_cap():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=2)]
    rules = rules_for(backorderable(backorder_limit=3))

    # when
    plan = plan_order([RequestedLine(HOODIE, 6)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(
        refusals=(
            Refusal(0, HOODIE, RefusalCode.BACKORDER_LIMIT, "Only 3 more can be backordered."),
        )
    )


def test_backorder_limit_of_zero_accepts_an_order_the_stock_covers():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=2)]
    rules = rules_for(backorderable(backorder_limit=0))

    # when
    plan = plan_order([RequestedLine(HOODIE, 2)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(2, ((10, 2),)),))


def test_backorder_limit_counts_existing_backorders_up_to_the_cap():
    # given 3 of 5 already backordered, no stock
    rules = rules_for(backorderable(backorder_limit=5, backordered=3))

    # when
    plan = plan_order([RequestedLine(HOODIE, 2)], rules, [], TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(2, (), 2),))


def test_backorder_limit_counts_existing_backorders_one_over_the_cap():
    # given 3 of 5 already backordered, no stock
    rules = rules_for(backorderable(backorder_limit=5, backordered=3))

    # when
    plan = plan_order([RequestedLine(HOODIE, 3)], rules, [], TODAY)

    # then
    assert plan == OrderPlan(
        refusals=(
            Refusal(0, HOODIE, RefusalCode.BACKORDER_LIMIT, "Only 2 more can be backordered."),
        )
    )


def test_backorder_limit_already_exceeded_offers_no_room():
    # given more backordered than the (since lowered) cap
    rules = rules_for(backorderable(backorder_limit=5, backordered=7))

    # when
    plan = plan_order([RequestedLine(HOODIE, 1)], rules, [], TODAY)

    # then
    assert plan == OrderPlan(
        refusals=(
            Refusal(0, HOODIE, RefusalCode.BACKORDER_LIMIT, "Only 0 more can be backordered."),
        )
    )


def test_backorder_limit_already_exceeded_does_not_refuse_an_order_the_stock_covers():
    # given one unit backordered over a cap of 0, 3 free units of which 1 is owed to it
    supply = [Supply(10, HOODIE, priority=1, free=3)]
    rules = rules_for(backorderable(backorder_limit=0, backordered=1))

    # when
    plan = plan_order([RequestedLine(HOODIE, 2)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(2, ((10, 2),)),))


def test_backorder_limit_counts_two_lines_of_the_same_product_together_at_the_cap():
    # given
    rules = rules_for(backorderable(backorder_limit=4))
    lines = [RequestedLine(HOODIE, 2), RequestedLine(HOODIE, 2)]

    # when
    plan = plan_order(lines, rules, [], TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(2, (), 2), line_plan(2, (), 2)))


def test_backorder_limit_counts_two_lines_of_the_same_product_together_over_the_cap():
    # given
    rules = rules_for(backorderable(backorder_limit=4))
    lines = [RequestedLine(HOODIE, 2), RequestedLine(HOODIE, 3)]

    # when
    plan = plan_order(lines, rules, [], TODAY)

    # then the second line is the one that breaks the cap
    assert plan == OrderPlan(
        refusals=(
            Refusal(1, HOODIE, RefusalCode.BACKORDER_LIMIT, "Only 2 more can be backordered."),
        )
    )


def test_backorder_limit_of_one_product_ignores_other_products():
    # given
    rules = rules_for(backorderable(HOODIE, backorder_limit=2), backorderable(MUG))
    lines = [RequestedLine(MUG, 5), RequestedLine(HOODIE, 2)]

    # when
    plan = plan_order(lines, rules, [], TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(5, (), 5, product_id=MUG), line_plan(2, (), 2)))


# --- plan_order: max_per_order ------------------------------------------------------------


def test_max_per_order_accepts_the_limit_summed_across_lines():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=10)]
    rules = rules_for(backorderable(max_per_order=5))
    lines = [RequestedLine(HOODIE, 2), RequestedLine(HOODIE, 3)]

    # when
    plan = plan_order(lines, rules, supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(2, ((10, 2),)), line_plan(3, ((10, 3),))))


def test_max_per_order_refuses_every_line_when_the_sum_is_over():
    # given each line alone is under the limit, with plenty of stock
    supply = [Supply(10, HOODIE, priority=1, free=10), Supply(30, MUG, priority=1, free=10)]
    rules = rules_for(backorderable(HOODIE, max_per_order=5), backorderable(MUG))
    lines = [RequestedLine(HOODIE, 2), RequestedLine(MUG, 1), RequestedLine(HOODIE, 4)]

    # when
    plan = plan_order(lines, rules, supply, TODAY)

    # then
    assert plan == OrderPlan(
        refusals=(
            Refusal(0, HOODIE, RefusalCode.MAX_PER_ORDER, "At most 5 per order."),
            Refusal(2, HOODIE, RefusalCode.MAX_PER_ORDER, "At most 5 per order."),
        )
    )


def test_max_per_order_refuses_a_single_line_one_over():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=10)]
    rules = rules_for(backorderable(max_per_order=5))

    # when
    plan = plan_order([RequestedLine(HOODIE, 6)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(
        refusals=(Refusal(0, HOODIE, RefusalCode.MAX_PER_ORDER, "At most 5 per order."),)
    )


def test_max_per_order_of_one_product_ignores_other_products():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=10), Supply(30, MUG, priority=1, free=10)]
    rules = rules_for(deny(HOODIE, max_per_order=2), deny(MUG))
    lines = [RequestedLine(HOODIE, 2), RequestedLine(MUG, 5)]

    # when
    plan = plan_order(lines, rules, supply, TODAY)

    # then
    assert plan == OrderPlan(
        lines=(line_plan(2, ((10, 2),)), line_plan(5, ((30, 5),), product_id=MUG))
    )


# --- plan_order: release dates and pre-orders ---------------------------------------------


@pytest.mark.parametrize("policy", [Policy.BACKORDER, Policy.DENY])
def test_a_product_not_yet_released_is_refused(policy):
    # given stock is already in the warehouse
    supply = [Supply(10, HOODIE, priority=1, free=10)]
    rules = rules_for(ProductRules(HOODIE, policy, release_date=TOMORROW))

    # when
    plan = plan_order([RequestedLine(HOODIE, 1)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(
        refusals=(Refusal(0, HOODIE, RefusalCode.NOT_RELEASED, "Not on sale before 2025-06-02."),)
    )


@pytest.mark.parametrize("policy", [Policy.BACKORDER, Policy.DENY])
def test_a_product_is_sold_on_its_release_day(policy):
    # given
    supply = [Supply(10, HOODIE, priority=1, free=10)]
    rules = rules_for(ProductRules(HOODIE, policy, release_date=TODAY))

    # when
    plan = plan_order([RequestedLine(HOODIE, 3)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(3, ((10, 3),)),))


def test_a_preorder_product_before_release_takes_preorders_only_even_with_stock():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=5)]
    rules = rules_for(preorder(release_date=TOMORROW))

    # when
    plan = plan_order([RequestedLine(HOODIE, 3)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(3, (), 3, preordered=True),))
    assert plan.lines[0].allocated == 0


def test_a_preorder_at_the_cap_is_accepted():
    # given 2 of 4 already pre-ordered
    rules = rules_for(preorder(release_date=TOMORROW, backorder_limit=4, backordered=2))

    # when
    plan = plan_order([RequestedLine(HOODIE, 2)], rules, [], TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(2, (), 2, preordered=True),))


def test_a_preorder_over_the_cap_is_refused_even_with_stock():
    # given 2 of 4 already pre-ordered, stock in the warehouse
    supply = [Supply(10, HOODIE, priority=1, free=50)]
    rules = rules_for(preorder(release_date=TOMORROW, backorder_limit=4, backordered=2))

    # when
    plan = plan_order([RequestedLine(HOODIE, 3)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(
        refusals=(
            Refusal(0, HOODIE, RefusalCode.BACKORDER_LIMIT, "Only 2 more can be pre-ordered."),
        )
    )


@pytest.mark.parametrize("release_date", [TODAY, YESTERDAY, None])
def test_a_preorder_product_once_released_behaves_like_backorder(release_date):
    # given
    supply = [Supply(10, HOODIE, priority=1, free=2)]
    rules = rules_for(preorder(release_date=release_date, backorder_limit=3))

    # when
    plan = plan_order([RequestedLine(HOODIE, 5)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(lines=(line_plan(5, ((10, 2),), 3),))


def test_a_preorder_product_once_released_honours_the_backorder_cap():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=2)]
    rules = rules_for(preorder(release_date=YESTERDAY, backorder_limit=3))

    # when
    plan = plan_order([RequestedLine(HOODIE, 6)], rules, supply, TODAY)

    # then
    assert plan == OrderPlan(
        refusals=(
            Refusal(0, HOODIE, RefusalCode.BACKORDER_LIMIT, "Only 3 more can be backordered."),
        )
    )


# --- plan_order: refusals refuse the whole order ------------------------------------------


def test_a_single_refused_line_refuses_the_whole_order():
    # given the hoodie line alone would be fine
    supply = [Supply(10, HOODIE, priority=1, free=5), Supply(30, MUG, priority=1, free=1)]
    rules = rules_for(backorderable(HOODIE), deny(MUG))
    lines = [RequestedLine(HOODIE, 2), RequestedLine(MUG, 2)]

    # when
    plan = plan_order(lines, rules, supply, TODAY)

    # then
    assert plan == OrderPlan(refusals=(Refusal(1, MUG, RefusalCode.OUT_OF_STOCK, "Out of stock."),))
    assert plan.lines == ()
    assert not plan.accepted


def test_every_refused_line_is_listed_with_its_index():
    # given
    supply = [
        Supply(10, HOODIE, priority=1, free=5),
        Supply(30, MUG, priority=1, free=1),
        Supply(40, TEE, priority=1, free=9),
        Supply(50, CAP, priority=1, free=9),
    ]
    rules = rules_for(
        backorderable(HOODIE),
        deny(MUG),
        backorderable(TEE, release_date=TOMORROW),
        backorderable(CAP, max_per_order=1),
    )
    lines = [
        RequestedLine(HOODIE, 2),
        RequestedLine(MUG, 2),
        RequestedLine(TEE, 1),
        RequestedLine(HOODIE, 1),
        RequestedLine(CAP, 2),
    ]

    # when
    plan = plan_order(lines, rules, supply, TODAY)

    # then
    assert plan == OrderPlan(
        refusals=(
            Refusal(1, MUG, RefusalCode.OUT_OF_STOCK, "Out of stock."),
            Refusal(2, TEE, RefusalCode.NOT_RELEASED, "Not on sale before 2025-06-02."),
            Refusal(4, CAP, RefusalCode.MAX_PER_ORDER, "At most 1 per order."),
        )
    )


@pytest.mark.parametrize("quantity", [0, -1])
def test_a_line_without_a_positive_quantity_is_an_error(quantity):
    # given
    supply = [Supply(10, HOODIE, priority=1, free=5)]

    # when / then
    with pytest.raises(ValueError, match="must be positive"):
        plan_order([RequestedLine(HOODIE, quantity)], rules_for(backorderable()), supply, TODAY)


def test_a_bad_quantity_after_good_lines_is_still_an_error():
    # given
    supply = [Supply(10, HOODIE, priority=1, free=5)]
    lines = [RequestedLine(HOODIE, 2), RequestedLine(HOODIE, 0)]

    # when / then
    with pytest.raises(ValueError, match="must be positive"):
        plan_order(lines, rules_for(backorderable()), supply, TODAY)


# --- fill_backorders ----------------------------------------------------------------------


def test_queue_order_is_priority_then_order_time_then_line_id():
    # given
    early, late = datetime(2025, 6, 1, 9), datetime(2025, 6, 1, 10)
    queue = [
        QueuedLine(5, 1, priority=0, created_at=early),
        QueuedLine(4, 1, priority=0, created_at=late),
        QueuedLine(3, 1, priority=1, created_at=late),
        QueuedLine(2, 1, priority=0, created_at=early),
    ]

    # when
    ordered = sorted(queue, key=lambda line: line.queue_key)

    # then
    assert [line.line_id for line in ordered] == [3, 2, 5, 4]


def test_fill_gives_the_head_of_the_queue_all_it_waits_for_first():
    # given
    queue = [QueuedLine(1, 3), QueuedLine(2, 2)]
    supply = [Supply(10, HOODIE, priority=1, free=4)]

    # when
    fills = fill_backorders(queue, supply)

    # then
    assert fills == [LineFill(1, ((10, 3),)), LineFill(2, ((10, 1),))]


def test_fill_partially_fills_the_head_and_gives_the_rest_nothing():
    # given
    queue = [QueuedLine(1, 5), QueuedLine(2, 2)]
    supply = [Supply(10, HOODIE, priority=1, free=3)]

    # when
    fills = fill_backorders(queue, supply)

    # then
    assert fills == [LineFill(1, ((10, 3),))]


def test_fill_gives_a_small_later_line_nothing_while_an_earlier_line_waits():
    # given the second line would fit entirely in what the first one gets
    queue = [QueuedLine(1, 2), QueuedLine(2, 5), QueuedLine(3, 1)]
    supply = [Supply(10, HOODIE, priority=1, free=4)]

    # when
    fills = fill_backorders(queue, supply)

    # then
    assert fills == [LineFill(1, ((10, 2),)), LineFill(2, ((10, 2),))]


def test_fill_takes_from_several_warehouses_in_priority_order():
    # given
    queue = [QueuedLine(1, 3), QueuedLine(2, 2)]
    supply = [
        Supply(10, HOODIE, priority=1, free=2),
        Supply(11, HOODIE, priority=9, free=2),
        Supply(12, HOODIE, priority=5, free=2),
    ]

    # when
    fills = fill_backorders(queue, supply)

    # then
    assert fills == [LineFill(1, ((11, 2), (12, 1))), LineFill(2, ((12, 1), (10, 1)))]
    assert [fill.allocated for fill in fills] == [3, 2]


def test_fill_without_supply_fills_nothing():
    # given
    queue = [QueuedLine(1, 3)]

    # when / then
    assert fill_backorders(queue, []) == []
    assert fill_backorders(queue, [Supply(10, HOODIE, priority=1, free=0)]) == []


def test_fill_with_an_empty_queue_fills_nothing():
    # when
    fills = fill_backorders([], [Supply(10, HOODIE, priority=1, free=5)])

    # then
    assert fills == []


def test_fill_with_more_supply_than_the_queue_fills_every_line():
    # given
    queue = [QueuedLine(1, 2), QueuedLine(2, 1)]
    supply = [Supply(10, HOODIE, priority=1, free=10)]

    # when
    fills = fill_backorders(queue, supply)

    # then
    assert fills == [LineFill(1, ((10, 2),)), LineFill(2, ((10, 1),))]


def test_fill_follows_the_given_order_not_line_ids():
    # given a queue already in queue order, line ids out of order
    queue = [QueuedLine(7, 2), QueuedLine(3, 2)]
    supply = [Supply(10, HOODIE, priority=1, free=3)]

    # when
    fills = fill_backorders(queue, supply)

    # then
    assert fills == [LineFill(7, ((10, 2),)), LineFill(3, ((10, 1),))]


# --- release_allocations ------------------------------------------------------------------


def test_release_gives_back_the_lowest_priority_warehouse_first():
    # given (stock id, warehouse priority, units)
    allocations = [(10, 9, 3), (11, 1, 2)]

    # when
    released = release_allocations(allocations, 3)

    # then
    assert released == [(11, 2), (10, 1)]


def test_release_within_one_warehouse_takes_only_what_is_asked():
    # when
    released = release_allocations([(10, 9, 3), (11, 1, 5)], 2)

    # then
    assert released == [(11, 2)]


def test_release_of_everything_empties_every_allocation():
    # when
    released = release_allocations([(10, 9, 3), (11, 1, 5), (12, 5, 1)], 9)

    # then
    assert released == [(11, 5), (12, 1), (10, 3)]


def test_release_between_equal_priorities_mirrors_allocation_order():
    # given allocation takes the lower stock id first among equal priorities
    allocations = [(10, 5, 2), (11, 5, 2)]

    # when
    released = release_allocations(allocations, 3)

    # then the higher stock id is given back first
    assert released == [(11, 2), (10, 1)]


def test_release_of_nothing_releases_nothing():
    # when / then
    assert release_allocations([(10, 9, 3)], 0) == []


def test_release_of_more_than_allocated_is_an_error():
    # when / then
    with pytest.raises(ValueError, match="more units than are allocated"):
        release_allocations([(10, 9, 3), (11, 1, 2)], 6)


# --- properties ---------------------------------------------------------------------------

PRODUCTS = (HOODIE, MUG, TEE)


def warehouse_order(supply: list[Supply]) -> list[Supply]:
    return sorted(supply, key=lambda s: (-s.priority, s.stock_id))


@st.composite
def supplies(draw, product_ids=PRODUCTS) -> list[Supply]:
    rows = draw(
        st.lists(
            st.tuples(st.sampled_from(product_ids), st.integers(0, 4), st.integers(0, 12)),
            max_size=8,
        )
    )
    return [
        Supply(stock_id=100 + i, product_id=product_id, priority=priority, free=free)
        for i, (product_id, priority, free) in enumerate(rows)
    ]


def product_rules(product_id: int) -> st.SearchStrategy[ProductRules]:
    return st.builds(
        ProductRules,
        product_id=st.just(product_id),
        policy=st.sampled_from(Policy),
        backorder_limit=st.none() | st.integers(0, 20),
        max_per_order=st.none() | st.integers(1, 16),
        release_date=st.none() | st.integers(-2, 2).map(lambda days: TODAY + timedelta(days)),
        backordered=st.integers(0, 6),
    )


all_rules = st.tuples(*(product_rules(pid) for pid in PRODUCTS)).map(lambda r: rules_for(*r))
baskets = st.lists(
    st.builds(RequestedLine, product_id=st.sampled_from(PRODUCTS), quantity=st.integers(1, 8)),
    min_size=1,
    max_size=5,
)
queues = st.lists(st.integers(1, 8), max_size=8).map(
    lambda units: [QueuedLine(line_id=i + 1, backordered=u) for i, u in enumerate(units)]
)


def on_sale(rules: ProductRules) -> bool:
    return rules.release_date is None or rules.release_date <= TODAY


def preordering(rules: ProductRules) -> bool:
    return rules.policy is Policy.PREORDER and rules.release_date is not None and not on_sale(rules)


def breaks_a_rule(rules: ProductRules, ordered: int, free: int) -> bool:
    """Whether ordering `ordered` units of a product in one order must be refused."""
    if rules.max_per_order is not None and ordered > rules.max_per_order:
        return True
    if not on_sale(rules) and rules.policy is not Policy.PREORDER:
        return True
    available = 0 if preordering(rules) else max(free - rules.backordered, 0)
    shortfall = max(ordered - available, 0)
    if shortfall and rules.policy is Policy.DENY:
        return True
    # the cap only matters for what this order would add to the backorders
    return (
        shortfall > 0
        and rules.backorder_limit is not None
        and rules.backordered + shortfall > rules.backorder_limit
    )


@settings(deadline=None)
@given(rules=all_rules, supply=supplies(), lines=baskets)
def test_property_plan_is_accepted_exactly_when_no_product_breaks_a_rule(rules, supply, lines):
    # given
    ordered = Counter()
    for line in lines:
        ordered[line.product_id] += line.quantity
    free = Counter()
    for s in supply:
        free[s.product_id] += max(s.free, 0)
    breaking = {
        pid for pid, units in ordered.items() if breaks_a_rule(rules[pid], units, free[pid])
    }

    # when
    plan = plan_order(lines, rules, supply, TODAY)

    # then
    assert plan.accepted == (not breaking)
    if not plan.accepted:
        assert plan.lines == ()
        indexes = [refusal.line_index for refusal in plan.refusals]
        assert indexes == sorted(set(indexes))
        for refusal in plan.refusals:
            assert refusal.product_id == lines[refusal.line_index].product_id
        assert {refusal.product_id for refusal in plan.refusals} == breaking


@settings(deadline=None)
@given(rules=all_rules, supply=supplies(), lines=baskets)
def test_property_an_accepted_plan_honours_every_rule(rules, supply, lines):
    # when
    plan = plan_order(lines, rules, supply, TODAY)

    # then
    if not plan.accepted:
        return
    assert len(plan.lines) == len(lines)
    free = {s.stock_id: s for s in supply}
    taken_per_stock = Counter()
    allocated = Counter()
    backordered = Counter()
    ordered = Counter()
    for line, planned in zip(lines, plan.lines, strict=True):
        product = rules[line.product_id]
        assert (planned.product_id, planned.quantity) == (line.product_id, line.quantity)
        assert planned.allocated + planned.backordered == line.quantity
        assert planned.backordered >= 0
        if planned.backordered:
            assert product.policy is not Policy.DENY
        assert planned.preordered == preordering(product)
        if planned.preordered:
            assert planned.allocations == ()
        for stock_id, units in planned.allocations:
            assert units > 0
            assert free[stock_id].product_id == line.product_id
            taken_per_stock[stock_id] += units
        allocated[line.product_id] += planned.allocated
        backordered[line.product_id] += planned.backordered
        ordered[line.product_id] += line.quantity
    for stock_id, units in taken_per_stock.items():
        assert units <= free[stock_id].free
    for product_id, units in ordered.items():
        product = rules[product_id]
        if product.backorder_limit is not None and backordered[product_id]:
            assert product.backordered + backordered[product_id] <= product.backorder_limit
        if product.max_per_order is not None:
            assert units <= product.max_per_order
        product_free = sum(max(s.free, 0) for s in supply if s.product_id == product_id)
        available = 0 if preordering(product) else max(product_free - product.backordered, 0)
        assert allocated[product_id] == min(units, available)


@settings(deadline=None)
@given(rules=all_rules, supply=supplies(), lines=baskets)
def test_property_a_new_order_takes_from_stock_at_most_the_unpromised_units(rules, supply, lines):
    plan = plan_order(lines, rules, supply, TODAY)

    for product_id, product in rules.items():
        unpromised = unpromised_units(product, supply)
        product_free = sum(max(s.free, 0) for s in supply if s.product_id == product_id)
        assert unpromised == max(product_free - product.backordered, 0)
        taken = sum(p.allocated for p in plan.lines if p.product_id == product_id)
        assert taken <= unpromised


@settings(deadline=None)
@given(queue=queues, supply=supplies(product_ids=(HOODIE,)))
def test_property_fill_backorders_strictly_in_queue_order(queue, supply):
    # when
    fills = fill_backorders(queue, supply)

    # then
    asked = {line.line_id: line.backordered for line in queue}
    got = {fill.line_id: fill.allocated for fill in fills}
    free = {s.stock_id: s.free for s in supply}
    # fills come in queue order, each line once, each with something
    positions = [[line.line_id for line in queue].index(fill.line_id) for fill in fills]
    assert positions == sorted(set(positions))
    assert all(fill.allocated > 0 for fill in fills)
    # no line gets more than it asked, no warehouse gives more than it has
    assert all(got[line_id] <= asked[line_id] for line_id in got)
    given_per_stock = Counter()
    for fill in fills:
        for stock_id, units in fill.allocations:
            assert units > 0
            given_per_stock[stock_id] += units
    assert all(units <= free[stock_id] for stock_id, units in given_per_stock.items())
    # everything that can be filled is
    total_free = sum(max(units, 0) for units in free.values())
    assert sum(got.values()) == min(total_free, sum(asked.values()))
    # oldest first: once a line is short, no later line gets anything
    for i, line in enumerate(queue):
        if got.get(line.line_id, 0) < line.backordered:
            assert all(later.line_id not in got for later in queue[i + 1 :])
    # a warehouse gives units only once every warehouse ahead of it is empty
    ahead: list[Supply] = []
    for s in warehouse_order(supply):
        if given_per_stock[s.stock_id]:
            assert all(given_per_stock[a.stock_id] == max(a.free, 0) for a in ahead)
        ahead.append(s)


allocation_rows = st.lists(
    st.tuples(st.integers(0, 4), st.integers(1, 8)), min_size=1, max_size=5
).map(lambda rows: [(200 + i, priority, units) for i, (priority, units) in enumerate(rows)])


@settings(deadline=None)
@given(allocations=allocation_rows, data=st.data())
def test_property_release_gives_back_lowest_priority_first(allocations, data):
    # given
    total = sum(units for _, _, units in allocations)
    quantity = data.draw(st.integers(0, total))

    # when
    released = release_allocations(allocations, quantity)

    # then
    by_stock = {stock_id: (priority, units) for stock_id, priority, units in allocations}
    assert sum(units for _, units in released) == quantity
    assert len({stock_id for stock_id, _ in released}) == len(released)
    for stock_id, units in released:
        assert 0 < units <= by_stock[stock_id][1]
    released_units = dict(released)
    for stock_id, (priority, _) in by_stock.items():
        if released_units.get(stock_id):
            for other_id, (other_priority, other_units) in by_stock.items():
                if other_priority < priority:
                    assert released_units.get(other_id) == other_units


@settings(deadline=None)
@given(allocations=allocation_rows, extra=st.integers(1, 5))
def test_property_release_of_more_than_allocated_is_an_error(allocations, extra):
    # given
    total = sum(units for _, _, units in allocations)

    # when / then
    with pytest.raises(ValueError):
        release_allocations(allocations, total + extra)
