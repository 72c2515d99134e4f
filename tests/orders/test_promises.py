"""`orders.promises`: which notice a move away from the date a customer was told owes."""

from __future__ import annotations

from datetime import date

import pytest

from notifications.models import Notification
from orders.promises import eta_kind

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
