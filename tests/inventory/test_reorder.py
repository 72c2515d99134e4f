"""The pure reorder rule: ABC classes, safety stock, reorder point, order-up-to level,
rounding to the supplier's terms, and the choice between suppliers (no database)."""

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inventory.reorder import (
    Fixed,
    Offer,
    Position,
    Why,
    abc_classes,
    choose_supplier,
    percentile,
    plan,
    round_to_terms,
    z_score,
)


def test_abc_classes_split_the_sales_value_80_15_5():
    # Total 1000: A takes the products making the first 80%, B the next 15%, C the rest.
    values = {1: 500.0, 2: 250.0, 3: 100.0, 4: 60.0, 5: 50.0, 6: 40.0, 7: 0.0}
    assert abc_classes(values) == {1: "A", 2: "A", 3: "A", 4: "B", 5: "B", 6: "C", 7: "C"}


def test_abc_classes_with_no_sales_are_all_c():
    assert abc_classes({1: 0.0, 2: 0.0}) == {1: "C", 2: "C"}
    assert abc_classes({}) == {}


def test_z_scores_of_the_default_service_levels():
    assert round(z_score(0.98), 3) == 2.054
    assert round(z_score(0.95), 3) == 1.645
    assert round(z_score(0.90), 3) == 1.282


def test_position_is_free_plus_on_order_plus_drafts_minus_backordered():
    assert Position(free=4, on_order=20, drafts=6, backordered=35).units == -5


# d = 10/day, sd_d = 4, L = 9 days, sd_L = 2, review 7 days, 95%.
EXAMPLE = {
    "daily_mean": 10,
    "daily_sd": 4,
    "lead_days": 9,
    "lead_sd": 2,
    "review_days": 7,
    "service_level": 0.95,
}


def test_reorder_figures_against_hand_computed_values():
    # d = 10/day, sd_d = 4, L = 9 days, sd_L = 2, review 7, 95%:
    # SS = 1.6449 * sqrt(9 * 16 + 100 * 4) = 1.6449 * sqrt(544) = 38.37 -> 39
    # ROP = 10 * 9 + 39 = 129; order-up-to = 10 * 16 + 39 = 199
    figures = plan(
        **EXAMPLE,
        position=100,
    )
    assert math.isclose(1.6449 * math.sqrt(544), 38.365, abs_tol=0.01)
    assert (figures.safety_stock, figures.reorder_point, figures.order_up_to) == (39, 129, 199)
    # position 100 <= 129: order 199 - 100 = 99
    assert figures.quantity == 99
    assert figures.fixed == ()
    assert "safety stock 39" in figures.explanation


def test_no_order_above_the_reorder_point():
    figures = plan(
        **EXAMPLE,
        position=130,
    )
    assert figures.quantity == 0


def test_order_at_the_reorder_point_exactly():
    figures = plan(
        daily_mean=10,
        daily_sd=0,
        lead_days=9,
        lead_sd=0,
        review_days=7,
        service_level=0.95,
        position=90,
    )
    assert (figures.safety_stock, figures.reorder_point, figures.order_up_to) == (0, 90, 160)
    assert figures.quantity == 70


SLOW = {
    "daily_mean": 0.03,
    "daily_sd": 0,
    "lead_days": 14,
    "lead_sd": 0,
    "review_days": 7,
    "service_level": 0.9,
}


def test_the_order_up_to_level_stays_above_the_reorder_point():
    # Slow demand: 0.03/day rounds up to 1 unit over the lead time and over lead + review.
    figures = plan(
        **SLOW,
        position=0,
        fixed=Fixed(safety_stock=29),
    )
    assert (figures.reorder_point, figures.order_up_to, figures.quantity) == (30, 31, 31)
    after = plan(
        **SLOW,
        position=31,
        fixed=Fixed(safety_stock=29),
    )
    assert after.quantity == 0


def test_a_negative_position_orders_the_backlog_too():
    figures = plan(
        daily_mean=2,
        daily_sd=0,
        lead_days=14,
        lead_sd=0,
        review_days=7,
        service_level=0.9,
        position=-40,
    )
    # order-up-to 42, position -40: 82 units
    assert figures.quantity == 82


def test_quantity_is_raised_to_the_minimum_then_to_whole_packs():
    assert round_to_terms(7, minimum=1, pack=12) == 12
    assert round_to_terms(13, minimum=1, pack=12) == 24
    assert round_to_terms(5, minimum=50, pack=1) == 50
    assert round_to_terms(55, minimum=50, pack=20) == 60
    assert round_to_terms(0, minimum=50, pack=20) == 0
    figures = plan(
        daily_mean=1,
        daily_sd=0,
        lead_days=5,
        lead_sd=0,
        review_days=5,
        service_level=0.9,
        position=0,
        minimum=24,
        pack=6,
    )
    assert figures.quantity == 24


def test_figures_fixed_by_hand_replace_the_computed_ones():
    figures = plan(
        **EXAMPLE,
        position=100,
        fixed=Fixed(safety_stock=5, reorder_point=110, order_up_to=150),
    )
    assert (figures.safety_stock, figures.reorder_point, figures.order_up_to) == (5, 110, 150)
    assert figures.quantity == 50
    assert figures.fixed == ("safety stock", "reorder point", "order-up-to level")


def test_a_fixed_service_level_sets_z():
    figures = plan(
        **{**EXAMPLE, "service_level": 0.90},
        position=0,
        fixed=Fixed(service_level=0.98),
    )
    assert figures.service_level == 0.98
    assert figures.safety_stock == math.ceil(z_score(0.98) * math.sqrt(544))


def test_the_safety_stock_is_computed_when_only_the_reorder_point_is_fixed():
    figures = plan(
        **EXAMPLE,
        position=100,
        fixed=Fixed(reorder_point=80),
    )
    assert (figures.safety_stock, figures.reorder_point) == (39, 80)
    assert figures.quantity == 0


def _offer(supplier_id, rank, cost, likely, **terms):
    return Offer(
        supplier_id=supplier_id,
        name=f"S{supplier_id}",
        rank=rank,
        unit_cost=None if cost is None else Decimal(cost),
        lead_days=likely,
        lead_sd=0,
        likely_days=likely,
        **terms,
    )


def test_the_preferred_supplier_wins_when_the_alternative_saves_too_little():
    preferred = _offer(1, 1, "100", 14)
    faster = _offer(2, 2, "130", 10)
    # 20 waiting units x 4 days x 5 = 400 < 30 x 20 = 600 extra
    choice = choose_supplier(
        [faster, preferred], quantity=20, backlog_units=20, waiting_cost=Decimal(5)
    )
    assert (choice.offer, choice.why, choice.quantity) == (preferred, Why.PREFERRED, 20)
    assert choice.reason == "Preferred supplier S1, likely in 14 days."


def test_a_faster_alternative_wins_when_the_waiting_outweighs_its_price():
    preferred = _offer(1, 1, "100", 14)
    faster = _offer(2, 2, "130", 10)
    # The order serves 20 of the 40 waiting: 20 x 4 days x 10 = 800 > 30 x 20 = 600 extra
    choice = choose_supplier(
        [preferred, faster], quantity=20, backlog_units=40, waiting_cost=Decimal(10)
    )
    assert (choice.offer, choice.why, choice.quantity) == (faster, Why.FASTER, 20)
    assert choice.reason == (
        "S2 likely arrives 4 days before S1: 20 waiting units x 4 days x 10 outweigh 600 extra"
        " cost."
    )


def test_a_tie_keeps_the_preferred_supplier():
    preferred = _offer(1, 1, "100", 14)
    faster = _offer(2, 2, "130", 10)
    # 20 units x 4 days x 7.5 = 600 == 30 x 20 = 600: not outweighed
    choice = choose_supplier(
        [preferred, faster], quantity=20, backlog_units=30, waiting_cost=Decimal("7.5")
    )
    assert choice.offer == preferred
    same = _offer(3, 2, "100", 14)
    assert (
        choose_supplier(
            [preferred, same], quantity=20, backlog_units=30, waiting_cost=Decimal(5)
        ).offer
        == preferred
    )


def test_a_faster_and_cheaper_alternative_wins_with_no_backlog_at_all():
    preferred = _offer(1, 1, "100", 14)
    better = _offer(2, 2, "90", 7)
    choice = choose_supplier(
        [preferred, better], quantity=10, backlog_units=0, waiting_cost=Decimal(5)
    )
    assert choice.offer == better
    assert choice.reason.endswith("at no extra cost.")


def test_a_slower_cheaper_alternative_does_not_win():
    preferred = _offer(1, 1, "100", 7)
    slower = _offer(2, 2, "50", 20)
    assert (
        choose_supplier(
            [preferred, slower], quantity=10, backlog_units=10, waiting_cost=Decimal(5)
        ).offer
        == preferred
    )


def test_the_alternative_is_costed_at_its_own_minimum_and_packs():
    preferred = _offer(1, 1, "100", 14)
    faster = _offer(2, 2, "100", 10, minimum=100)
    # Same unit cost, but 100 units instead of 10: 9,000 extra against 10 x 4 x 5 = 200
    choice = choose_supplier(
        [preferred, faster], quantity=10, backlog_units=10, waiting_cost=Decimal(5)
    )
    assert (choice.offer, choice.quantity) == (preferred, 10)


def test_the_only_supplier_is_chosen_and_said_so():
    only = _offer(1, 3, None, 9, pack=5)
    choice = choose_supplier([only], quantity=7, backlog_units=0, waiting_cost=Decimal(1))
    assert (choice.why, choice.quantity) == (Why.ONLY, 10)
    assert choice.reason == "Only S1 carries it, likely in 9 days."
    with pytest.raises(ValueError):
        choose_supplier([], quantity=1, backlog_units=0, waiting_cost=Decimal(1))


def test_percentile_interpolates():
    assert percentile([], 0.9) == 0.0
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9.0
    assert percentile([0.0, 10.0], 0.9) == 9.0


@given(
    daily_mean=st.floats(0, 500),
    daily_sd=st.floats(0, 200),
    lead_days=st.floats(0, 120),
    lead_sd=st.floats(0, 30),
    review_days=st.integers(0, 30),
    service_level=st.sampled_from([0.9, 0.95, 0.98]),
    position=st.integers(-5000, 5000),
    minimum=st.integers(1, 100),
    pack=st.integers(1, 50),
)
@settings(max_examples=300, deadline=None)
def test_what_one_review_orders_the_next_review_does_not_order_again(
    daily_mean, daily_sd, lead_days, lead_sd, review_days, service_level, position, minimum, pack
):
    terms = {
        "daily_mean": daily_mean,
        "daily_sd": daily_sd,
        "lead_days": lead_days,
        "lead_sd": lead_sd,
        "review_days": review_days,
        "service_level": service_level,
        "minimum": minimum,
        "pack": pack,
    }
    first = plan(position=position, **terms)
    assert first.quantity >= 0
    assert first.quantity % pack == 0
    assert first.order_up_to > first.reorder_point >= first.safety_stock
    if first.quantity:
        assert first.quantity >= minimum
        assert position + first.quantity > first.reorder_point
    assert plan(position=position + first.quantity, **terms).quantity == 0
