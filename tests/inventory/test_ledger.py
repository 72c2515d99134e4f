"""The stock ledger: append-only movements, in the database and in the model."""

import pytest
from django.db import DatabaseError, transaction

from inventory.models import StockMovement
from inventory.selectors import stock_drift
from inventory.stock import stock_receive


def test_ledger_rows_cannot_be_updated_in_the_database(hoodie, default_warehouse):
    # given
    movement = stock_receive(product=hoodie, quantity=5)

    # when
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        StockMovement.objects.filter(pk=movement.pk).update(quantity=50)

    # then
    assert StockMovement.objects.get(pk=movement.pk).quantity == 5
    assert stock_drift() == []


def test_ledger_rows_cannot_be_deleted_in_the_database(hoodie, default_warehouse):
    # given
    movement = stock_receive(product=hoodie, quantity=5)

    # when
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        StockMovement.objects.filter(pk=movement.pk).delete()

    # then
    assert list(StockMovement.objects.values_list("pk", "quantity")) == [(movement.pk, 5)]
    assert stock_drift() == []


def test_ledger_row_save_on_existing_row_raises(hoodie, default_warehouse):
    # given
    movement = stock_receive(product=hoodie, quantity=5)
    movement.quantity = 50

    # when
    with pytest.raises(ValueError, match="append-only"):
        movement.save()

    # then
    assert StockMovement.objects.get(pk=movement.pk).quantity == 5
