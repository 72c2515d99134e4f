"""`order_priority_set`: a new priority moves the order in the queue; bad ones are refused."""

import pytest

from inventory.exceptions import ValidationFailed
from orders.models import EtaChange, OrderEvent, OrderLine
from orders.services import order_priority_set
from tests.helpers import etas, in_days, place_line, purchase, refresh

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
