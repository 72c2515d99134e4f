"""`orders.promises`: which notice a move away from the date a customer was told owes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection

from config import sql
from notifications.models import Notification
from orders.promises import eta_kind, eta_kind_sql

TOLD = date(2030, 5, 17)
Kind = Notification.Kind


@pytest.mark.parametrize(
    ("told", "eta", "kind"),
    [
        (TOLD, TOLD, None),
        (None, None, None),
        (TOLD, date(2030, 5, 18), Kind.DELAY),
        (TOLD, None, Kind.DELAY),
        (None, TOLD, Kind.EARLIER),
        (TOLD, date(2030, 5, 15), Kind.EARLIER),
        (TOLD, date(2030, 4, 1), Kind.EARLIER),
        (TOLD, date(2030, 5, 16), None),
    ],
)
def test_eta_kind(told, eta, kind):
    assert eta_kind(told, eta) == kind


def test_how_much_earlier_is_good_news_is_a_setting(settings):
    settings.BACKORDER_EARLIER_NOTICE_DAYS = 5

    assert eta_kind(TOLD, date(2030, 5, 13)) is None
    assert eta_kind(TOLD, date(2030, 5, 12)) == Kind.EARLIER


@pytest.mark.django_db
@pytest.mark.parametrize("earlier_days", [0, 2, 5])
def test_the_sql_rule_owes_what_eta_kind_owes(settings, earlier_days):
    settings.BACKORDER_EARLIER_NOTICE_DAYS = earlier_days
    days = [None, *(TOLD + timedelta(days=offset) for offset in range(-7, 4))]
    pairs = [(told, eta) for told in (None, TOLD) for eta in days]
    rows, params = sql.rows_union(
        ("n", "told", "eta"),
        [(n, sql.date_param(told), sql.date_param(eta)) for n, (told, eta) in enumerate(pairs)],
    )
    day = "CAST({} AS date)" if connection.vendor == "postgresql" else "{}"

    kind = eta_kind_sql(day.format("told"), day.format("eta"))
    owed = dict(sql.fetch(f"SELECT n, {kind} FROM ({rows}) p ORDER BY n", params))  # noqa: S608

    assert [owed[n] for n in range(len(pairs))] == [eta_kind(told, eta) for told, eta in pairs]
