"""`config.batching`: the work a transaction asks for, sent once after it commits.

What is sent is read back from this run's Celery queue (no worker takes it); a broker
failure is a private Redis the test stops.
"""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.db import transaction

from config.batching import Request, after_commit, gathered, send
from config.celery import app
from tests.outage import finished_within_hang_limit, frozen
from tests.worker import PrivateRedis, queued

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_queue")]

# Task names nothing registers: a message for one waits in the queue until read.
ALPHA = Request("tests.alpha")
BETA = Request("tests.beta", args=("po_created", "PO-1"), chunk=2)


def test_one_transaction_sends_each_request_once_after_commit_sorted_and_in_chunks(
    django_capture_on_commit_callbacks,
):
    # given: three calls in one transaction, two of them for the same request
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        after_commit(BETA, [5, 1])
        after_commit(ALPHA, [9])
        after_commit(BETA, [3, 1])

    # then: nothing is sent before the commit; each call left a callback naming its ask
    assert queued() == []
    assert [(callback.request, sorted(callback.ids)) for callback in callbacks] == [
        (BETA, [1, 5]),
        (ALPHA, [9]),
        (BETA, [1, 3]),
    ]

    # when the transaction's callbacks run
    for callback in callbacks:
        callback()

    # then: the first sent the whole bag, by task name, ids sorted, BETA in chunks of 2
    assert queued() == [
        ("tests.alpha", [[9]]),
        ("tests.beta", [[1, 3], "po_created", "PO-1"]),
        ("tests.beta", [[5], "po_created", "PO-1"]),
    ]


def test_a_rolled_back_transaction_sends_nothing(django_capture_on_commit_callbacks):
    # when
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        after_commit(ALPHA, [1, 2])
        raise RuntimeError("rolled back")

    # then
    assert callbacks == []
    assert queued() == []


def test_a_rolled_back_savepoint_keeps_the_bag_the_transaction_shares(
    django_capture_on_commit_callbacks,
):
    # when: a savepoint inside the transaction adds an id, then rolls back
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        after_commit(ALPHA, [1])
        with pytest.raises(RuntimeError), transaction.atomic():
            after_commit(ALPHA, [2])
            raise RuntimeError("savepoint rolled back")

    # then: only the outer callback is left, and it sends the shared bag, id 2 included
    assert [(callback.request, sorted(callback.ids)) for callback in callbacks] == [(ALPHA, [1])]
    assert queued() == [("tests.alpha", [[1, 2]])]


def test_gathered_holds_what_commits_inside_it_and_sends_it_once_at_the_end(
    django_capture_on_commit_callbacks,
):
    # when: two transactions commit inside the block, one inside a nested block
    with gathered():
        with django_capture_on_commit_callbacks(execute=True):
            after_commit(ALPHA, [2])
        with gathered(), django_capture_on_commit_callbacks(execute=True):
            after_commit(ALPHA, [1])
            after_commit(BETA, [4])
        held = queued()

    # then: nothing went out until the outer block ended, then one message per request
    assert held == []
    assert queued() == [
        ("tests.alpha", [[1, 2]]),
        ("tests.beta", [[4], "po_created", "PO-1"]),
    ]


def test_gathered_with_nothing_committed_sends_nothing(django_capture_on_commit_callbacks):
    # when
    with gathered(), django_capture_on_commit_callbacks(execute=True):
        after_commit(ALPHA, [])

    # then
    assert queued() == []


def test_a_broker_failure_stops_at_the_first_request_and_logs_its_failure_text(
    private_broker: PrivateRedis, caplog: pytest.LogCaptureFixture
):
    # given: a stopped broker and two requests, the first in chunks
    first = Request("tests.alpha", chunk=2, failure="No {task} for {count} id(s): {ids}")
    second = Request("tests.beta", failure="No {task} either")
    private_broker.kill()

    # when
    with caplog.at_level(logging.ERROR, logger="config.batching"):
        send({second: {7}, first: {3, 1, 2}})

    # then: the first request's first chunk failed, and nothing more was tried
    assert [r.getMessage() for r in caplog.records if r.name == "config.batching"] == [
        "No tests.alpha for 3 id(s): [1, 2, 3]"
    ]


def _keeper(kept: list[tuple[list[int], tuple[str, ...]]]):
    def keep(ids: list[int], args: tuple[str, ...]) -> None:
        kept.append((ids, args))

    return keep


def test_a_broker_failure_hands_what_was_not_sent_to_each_requests_keep(
    private_broker: PrivateRedis,
):
    # given: two requests that keep what is not sent, and one that leaves it to a sweep
    kept: list[tuple[list[int], tuple[str, ...]]] = []
    first = Request("tests.alpha", chunk=2, keep=_keeper(kept))
    second = Request("tests.beta", args=("po_created", "PO-1"), keep=_keeper(kept))
    swept = Request("tests.gamma")
    private_broker.kill()

    # when
    send({second: {7}, first: {3, 1, 2}, swept: {5}})

    # then: every id of every request with a keep, from the failed chunk on, was kept
    assert kept == [([1, 2, 3], ()), ([7], ("po_created", "PO-1"))]


def test_a_keep_that_fails_is_logged_and_the_next_request_is_still_kept(
    private_broker: PrivateRedis, caplog: pytest.LogCaptureFixture
):
    # given
    kept: list[tuple[list[int], tuple[str, ...]]] = []

    def broken(ids: list[int], args: tuple[str, ...]) -> None:
        raise RuntimeError("database gone too")

    first = Request("tests.alpha", keep=broken, failure="No {task}")
    second = Request("tests.beta", keep=_keeper(kept))
    private_broker.kill()

    # when
    with caplog.at_level(logging.ERROR, logger="config.batching"):
        send({first: {1}, second: {2}})

    # then
    assert [r.getMessage() for r in caplog.records if r.name == "config.batching"] == [
        "No tests.alpha",
        "Could not keep tests.alpha for 1 id(s): [1]",
    ]
    assert kept == [([2], ())]


def test_a_frozen_broker_fails_the_send_instead_of_hanging_and_keeps_the_ids(
    private_broker: PrivateRedis,
):
    # given: a broker that accepts connections but never answers
    kept: list[tuple[list[int], tuple[str, ...]]] = []
    request = Request("tests.alpha", keep=_keeper(kept))

    # when
    with frozen(private_broker):
        finished_within_hang_limit(lambda: send({request: {4, 2}}))

    # then
    assert kept == [([2, 4], ())]


def test_what_is_sent_asks_for_no_result(django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        after_commit(ALPHA, [1])

    # then: the message tells the worker to store nothing, and nobody subscribed to it
    with app.connection_for_write() as connection:
        message = connection.default_channel.basic_get(
            settings.CELERY_TASK_DEFAULT_QUEUE, no_ack=True
        )
    assert message is not None
    assert (message.headers["task"], message.headers["ignore_result"]) == ("tests.alpha", True)
