"""`verify_stock`: the management command reporting stock drift."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from inventory.models import Product, Stock
from inventory.stock import stock_receive
from tests.helpers import place_line


def test_verify_stock_succeeds_when_nothing_drifted(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    place_line(hoodie, 2)
    out, err = StringIO(), StringIO()

    # when
    call_command("verify_stock", stdout=out, stderr=err)

    # then
    assert out.getvalue() == (
        "Stock ledger (2 movements, chains intact), counters and allocations agree.\n"
    )
    assert err.getvalue() == ""


def test_verify_stock_fails_with_code_1_on_drift(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    Stock.objects.filter(product=hoodie).update(on_hand=7)
    out, err = StringIO(), StringIO()

    # when
    with pytest.raises(CommandError) as failed:
        call_command("verify_stock", stdout=out, stderr=err)

    # then
    assert failed.value.returncode == 1
    assert str(failed.value) == "0 broken chain(s), 1 stock figure(s) drifted."
    assert err.getvalue() == "stock HOODIE-SE@main on_hand vs ledger: expected 5, found 7\n"
    assert out.getvalue() == ""


def test_verify_stock_reports_a_waiting_units_counter_out_of_step(hoodie, default_warehouse):
    # given 3 units waiting, and a counter that says 5
    place_line(hoodie, 3)
    Product.objects.filter(pk=hoodie.pk).update(waiting_units=5)
    err = StringIO()

    # when
    with pytest.raises(CommandError) as failed:
        call_command("verify_stock", stdout=StringIO(), stderr=err)

    # then
    assert str(failed.value) == "0 broken chain(s), 1 stock figure(s) drifted."
    assert err.getvalue() == "product HOODIE-SE waiting_units vs lines: expected 3, found 5\n"
