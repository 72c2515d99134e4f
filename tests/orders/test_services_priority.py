"""`order_priority_set`: a new priority moves the order in the queue; bad ones are refused."""

import pytest

from inventory.exceptions import ValidationFailed
from notifications.models import Notification
from orders.models import EtaChange, OrderEvent, OrderLine
from orders.services import order_priority_set
from tests.helpers import etas, in_days, place_line, purchase, refresh, refreshes_asked

pytestmark = pytest.mark.django_db
Cause = EtaChange.Cause


def test_raising_an_order_priority_moves_it_up_the_queue(
    hoodie, django_capture_on_commit_callbacks
):
    purchase(hoodie, 2, 5)
    first = place_line(hoodie, 2, "first")
    second = place_line(hoodie, 2, "second")

    with django_capture_on_commit_callbacks() as callbacks:
        order_priority_set(order_id=second.order_id, priority=5)
    refresh(hoodie, Cause.QUEUE_CHANGED)

    assert len(callbacks) == 1
    assert etas([first, second]) == [in_days(14), in_days(5)]
    event = OrderEvent.objects.get(kind=OrderEvent.Kind.PRIORITY_CHANGED)
    assert (event.order_id, event.message) == (second.order_id, "Queue priority 0 to 5")


@pytest.mark.parametrize("priority", [1001, -1001, "5", True, 2.5])
def test_an_out_of_range_priority_is_refused(hoodie, priority):
    line = place_line(hoodie, 1)

    with pytest.raises(ValidationFailed):
        order_priority_set(order_id=line.order_id, priority=priority)

    assert OrderLine.objects.get(pk=line.pk).order.priority == 0
    assert not OrderEvent.objects.filter(kind=OrderEvent.Kind.PRIORITY_CHANGED).exists()


def test_a_new_order_queues_ahead_of_a_line_moved_down_and_the_refresh_says_so(
    hoodie, django_capture_on_commit_callbacks
):
    # given: one hoodie arriving in 3 days for a customer staff moved down the queue
    purchase(hoodie, 1, 3)
    lowered = place_line(hoodie, 1, "lowered")
    order_priority_set(order_id=lowered.order_id, priority=-1)
    refresh(hoodie, Cause.QUEUE_CHANGED)
    assert etas([lowered]) == [in_days(3)]

    # when: an ordinary order comes in; it queues ahead of the lowered one
    with django_capture_on_commit_callbacks() as callbacks:
        newer = place_line(hoodie, 1, "newer")
    assert refreshes_asked(callbacks) == [(Cause.QUEUE_CHANGED, newer.order.number, [hoodie.pk])]
    refresh(hoodie, Cause.QUEUE_CHANGED)

    # then: the arriving hoodie is the newer order's, and the lowered customer is told
    assert etas([newer, lowered]) == [in_days(3), in_days(14)]
    delay = Notification.objects.get(order_id=lowered.order_id, kind=Notification.Kind.DELAY)
    assert delay.data["lines"][0]["id"] == lowered.pk


def test_an_ordinary_order_behind_ordinary_ones_asks_for_no_refresh(
    hoodie, django_capture_on_commit_callbacks
):
    purchase(hoodie, 1, 3)
    place_line(hoodie, 1, "first")

    with django_capture_on_commit_callbacks() as callbacks:
        place_line(hoodie, 1, "second")

    assert refreshes_asked(callbacks) == []
