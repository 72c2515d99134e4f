"""Customer notices: written in the transaction that causes them, sent after it commits.

Services that change an order call the `*_notice` functions below inside their transaction.
Each writes `Notification` rows (the outbox) with a unique key naming the fact, so running
the same change twice can never owe the customer two emails. After commit, one task is asked
to deliver every row the transaction wrote; a beat sweep delivers whatever that task missed.
Delivery locks the pending rows of one order, sends them as one email and marks them sent in
the same transaction, so two deliveries of the same rows never both send.
"""

from __future__ import annotations

import logging
import random
import secrets
import smtplib
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from config.batching import collect_on_commit
from inventory import selectors
from inventory.exceptions import AlertNotNeeded, ValidationFailed
from inventory.models import Product
from notifications.models import DelayAnswer, Notification, StockAlert
from orders.lifecycle import recorded_actor
from orders.models import Order, OrderEvent, OrderLine

logger = logging.getLogger(__name__)

Kind = Notification.Kind

# Errors worth another attempt: the server or the network, not the message.
TRANSIENT_ERRORS = (smtplib.SMTPException, OSError)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _outbox_add(rows: Sequence[Notification]) -> list[int]:
    """Write outbox rows in the caller's transaction; deliver them once it commits.

    Keys name the fact (the order, event, ETA change, shipment or alert told about), so the
    unique index refuses a second row for the same fact.
    """
    if not rows:
        return []
    ids = [row.pk for row in Notification.objects.bulk_create(rows, batch_size=2000)]
    _deliver_after_commit(ids)
    return ids


def _deliver_after_commit(ids: list[int]) -> None:
    """Queue `ids` for one delivery task per committed transaction.

    A row of a savepoint rolled back is simply not found by the task.
    """

    def add(bag: dict[int, bool]) -> None:
        bag.update(dict.fromkeys(ids, True))

    collect_on_commit("deliver-notifications", add, _flush)


def _flush(bag: dict[int, bool]) -> None:
    queued = sorted(bag)
    batch = getattr(_batch, "ids", None)
    if batch is not None:
        batch.update(queued)
    else:
        _send_delivery(queued)


_batch = threading.local()


@contextmanager
def delivery_batch() -> Iterator[None]:
    """Deliver the notices of every transaction committed inside the block with one task at
    its end: a run that refreshes several products owes each customer one email, not one
    per product. Rows are in the outbox from their own commit on; if the block never ends
    (the worker dies), the sweep sends them.
    """
    if getattr(_batch, "ids", None) is not None:
        yield
        return
    _batch.ids = set()
    try:
        yield
    finally:
        ids = sorted(_batch.ids)
        _batch.ids = None
        if ids:
            _send_delivery(ids)


def _send_delivery(ids: list[int]) -> None:
    """One task per batch of ids. With the broker down the first failure ends it: every
    further attempt would wait out the same outage, and the sweep sends the rows later."""
    from notifications.tasks import deliver_notifications

    batch = settings.BACKORDER_EMAIL_BATCH_SIZE
    for start in range(0, len(ids), batch):
        try:
            deliver_notifications.apply_async(
                (ids[start : start + batch],), countdown=settings.BACKORDER_EMAIL_GATHER_SECONDS
            )
        except Exception:
            logger.exception(
                "Could not queue delivery of %s notification(s); the sweep will send them",
                len(ids) - start,
            )
            return


def _order_row(order: Order, kind: str, key: str, data: dict[str, Any]) -> Notification:
    return _bulk_row(order.pk, (order.email, order.locale), kind, key, data)


def _recipients_of(order_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Each order's (email, locale): all a notice needs of it, read in one query."""
    return {
        pk: (email, locale)
        for pk, email, locale in Order.objects.filter(pk__in=list(order_ids)).values_list(
            "pk", "email", "locale"
        )
    }


def _bulk_row(
    order_id: int, to: tuple[str, str], kind: str, key: str, data: dict[str, Any]
) -> Notification:
    return Notification(
        key=f"{kind}:{key}",
        kind=kind,
        order_id=order_id,
        to=to[0],
        locale=to[1],
        data=data,
    )


# What is owed -------------------------------------------------------------------------------


def confirmation_notice(*, order: Order, lines: Sequence[OrderLine]) -> None:
    """The order was placed: every line with its status and ETA. Caller sets each line's
    `notified_eta` to the ETA this email tells."""
    _outbox_add(
        [
            _order_row(
                order,
                Kind.CONFIRMATION,
                str(order.pk),
                {"lines": [{"id": line.pk, "eta": _iso(line.eta)} for line in lines]},
            )
        ]
    )


@dataclass(frozen=True)
class Filled:
    """Units of a waiting line allocated by a reallocation run (`event_id` records it)."""

    order_id: int
    line_id: int
    quantity: int
    event_id: int


def allocated_notice(*, fills: Iterable[Filled]) -> None:
    """Backordered units were allocated: one notice per order."""
    per_order: dict[int, list[Filled]] = defaultdict(list)
    for fill in fills:
        per_order[fill.order_id].append(fill)
    recipients = _recipients_of(per_order)
    _outbox_add(
        [
            _bulk_row(
                order_id,
                recipients[order_id],
                Kind.ALLOCATED,
                f"{order_id}:{min(f.event_id for f in order_fills)}",
                {"lines": [{"id": f.line_id, "quantity": f.quantity} for f in order_fills]},
            )
            for order_id, order_fills in sorted(per_order.items())
        ]
    )


@dataclass(frozen=True)
class EtaMove:
    """A waiting line's ETA moving away from the one its customer was last told."""

    order_id: int
    line_id: int
    told: date | None
    eta: date | None
    change_id: int


def eta_kind(told: date | None, eta: date | None) -> str | None:
    """Which notice a move from the told ETA to `eta` owes: a delay for any later date or a
    date no longer known; good news for a date now known or at least the configured number
    of days earlier; nothing for a smaller improvement."""
    if told == eta:
        return None
    if eta is None:
        return Kind.DELAY
    if told is None:
        return Kind.EARLIER
    if eta > told:
        return Kind.DELAY
    if (told - eta).days >= settings.BACKORDER_EARLIER_NOTICE_DAYS:
        return Kind.EARLIER
    return None


def eta_notices(*, moves: Iterable[EtaMove], cause: str = "") -> list[EtaMove]:
    """Owe delay and good-news notices for `moves`: one per order and kind.

    Returns the moves told, whose lines the caller must mark `notified_eta` = `eta`.
    """
    per_order: dict[tuple[int, str], list[EtaMove]] = defaultdict(list)
    for move in moves:
        kind = eta_kind(move.told, move.eta)
        if kind is not None:
            per_order[(move.order_id, kind)].append(move)
    if not per_order:
        return []
    recipients = _recipients_of({order_id for order_id, _ in per_order})
    _outbox_add(
        [
            _bulk_row(
                order_id,
                recipients[order_id],
                kind,
                f"{order_id}:{min(m.change_id for m in order_moves)}",
                {
                    "cause": cause,
                    "lines": [
                        {"id": m.line_id, "previous_eta": _iso(m.told), "eta": _iso(m.eta)}
                        for m in order_moves
                    ],
                },
            )
            for (order_id, kind), order_moves in sorted(per_order.items())
        ]
    )
    return [move for order_moves in per_order.values() for move in order_moves]


def cancelled_notice(
    *, line: OrderLine, quantity: int, reason: str, by_customer: bool, event_id: int
) -> None:
    _outbox_add(
        [
            _order_row(
                line.order,
                Kind.CANCELLED,
                f"{line.order_id}:{event_id}",
                {
                    "by_customer": by_customer,
                    "reason": reason,
                    "lines": [{"id": line.pk, "quantity": quantity}],
                },
            )
        ]
    )


def shipped_notice(*, order: Order, shipment_id: int, tracking: str, lines: dict[int, int]) -> None:
    """`lines` maps order line id to units shipped."""
    _outbox_add(
        [
            _order_row(
                order,
                Kind.SHIPPED,
                f"{order.pk}:{shipment_id}",
                {
                    "tracking": tracking,
                    "lines": [{"id": pk, "quantity": units} for pk, units in sorted(lines.items())],
                },
            )
        ]
    )


def shipping_notice(*, order: Order, event_id: int, by_customer: bool) -> None:
    """The order's delivery choice changed (`order.ship_complete` is the new one)."""
    _outbox_add(
        [
            _order_row(
                order,
                Kind.SHIPPING,
                f"{order.pk}:{event_id}",
                {"ship_complete": order.ship_complete, "by_customer": by_customer, "lines": []},
            )
        ]
    )


def kept_notice(*, order: Order, line: OrderLine, event_id: int) -> None:
    """The customer answered a delay notice: they keep waiting for `line`."""
    _outbox_add(
        [_order_row(order, Kind.KEPT, f"{order.pk}:{event_id}", {"lines": [{"id": line.pk}]})]
    )


def status_link_notice(*, order: Order) -> None:
    """Someone asked for the order's status link with its number and email address."""
    _outbox_add(
        [
            _order_row(
                order,
                Kind.STATUS_LINK,
                f"{order.pk}:{secrets.token_hex(8)}",
                {"lines": []},
            )
        ]
    )


# Back-in-stock alerts -----------------------------------------------------------------------


def stock_alerts_release(*, product: Product) -> int:
    """Tell everyone waiting for a `deny` product that it can be ordered again.

    Caller must hold the product lock and call this after stock became free. Returns how
    many customers are told.
    """
    if (
        product.backorder_policy != Product.BackorderPolicy.DENY
        or selectors.free_units(product.pk) <= 0
    ):
        return 0
    alerts = list(
        StockAlert.objects.filter(product=product, notified_at__isnull=True).order_by(
            "created_at", "pk"
        )
    )
    if not alerts:
        return 0
    now = timezone.now()
    StockAlert.objects.filter(pk__in=[a.pk for a in alerts]).update(notified_at=now)
    _outbox_add(
        [
            Notification(
                key=f"{Kind.BACK_IN_STOCK}:{alert.pk}",
                kind=Kind.BACK_IN_STOCK,
                alert=alert,
                to=alert.email,
                locale=alert.locale,
                data={"sku": product.sku},
            )
            for alert in alerts
        ]
    )
    return len(alerts)


# Delivery -----------------------------------------------------------------------------------


@dataclass
class Delivery:
    sent: int = 0
    emails: int = 0
    failed: int = 0
    retry_in: float | None = None


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: between half and all of base * 2^(attempts-1)."""
    ceiling = min(
        settings.BACKORDER_EMAIL_RETRY_MAX_SECONDS,
        settings.BACKORDER_EMAIL_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0),
    )
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not a secret)


def _permanent(error: Exception) -> bool:
    """A refusal retrying cannot cure: the recipient or the message rejected with 5xx."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return False
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


def _recipients(ids: Sequence[int]) -> list[dict[str, int]]:
    """The orders and alerts with pending rows among `ids`, in a stable order."""
    pairs = (
        Notification.objects.filter(pk__in=ids, status=Notification.Status.PENDING)
        .values_list("order_id", "alert_id")
        .distinct()
        .order_by("order_id", "alert_id")
    )
    return [
        {"order_id": order_id} if order_id is not None else {"alert_id": alert_id}
        for order_id, alert_id in pairs
    ]


def notifications_deliver(*, ids: Sequence[int], now: datetime | None = None) -> Delivery:
    """Send the due pending notifications among `ids`, with every other due pending row of
    the same orders: one email per order. One SMTP connection serves the whole batch.

    Each email is sent under the lock of its rows and they are marked sent in the same
    transaction, so concurrent or repeated deliveries never send a row twice. A transient
    SMTP or network error schedules another attempt with backoff (`retry_in`); a permanent
    refusal, or running out of attempts, marks the rows failed with the error kept.
    """
    from notifications.emails import build_email

    now = now or timezone.now()
    report = Delivery()
    backend = get_connection(fail_silently=False)
    is_open = False
    try:
        for recipient in _recipients(ids):
            with transaction.atomic():
                rows = list(
                    Notification.objects.select_for_update(skip_locked=True)
                    .filter(
                        status=Notification.Status.PENDING, next_attempt_at__lte=now, **recipient
                    )
                    .order_by("pk")
                )
                if not rows:
                    continue
                try:
                    message = build_email(rows)
                except Exception as error:
                    # A message that cannot be rendered never will be: staff must look.
                    logger.exception("Cannot render notification(s) %s", [r.pk for r in rows])
                    _give_up(rows, f"{type(error).__name__}: {error}", attempts=rows[0].attempts)
                    report.failed += len(rows)
                    continue
                try:
                    if not is_open:
                        backend.open()
                        is_open = True
                    backend.send_messages([message])
                except TRANSIENT_ERRORS as error:
                    backend.close()
                    is_open = False
                    retry = _attempt_failed(rows, error, now=now)
                    report.failed += sum(row.status == Notification.Status.FAILED for row in rows)
                    if retry is not None:
                        # The server or network is down: the rest of the batch waits too.
                        report.retry_in = retry
                        break
                    continue
                Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
                    status=Notification.Status.SENT,
                    sent_at=timezone.now(),
                    attempts=F("attempts") + 1,
                    message_id=message.extra_headers["Message-ID"],
                    last_error="",
                )
                report.sent += len(rows)
                report.emails += 1
    finally:
        if is_open:
            backend.close()
    return report


def _attempt_failed(rows: list[Notification], error: Exception, *, now: datetime) -> float | None:
    """Record a failed attempt on `rows`; return seconds until the next one, or None if the
    rows failed for good."""
    attempts = max(row.attempts for row in rows) + 1
    text = f"{type(error).__name__}: {error}"[:2000]
    if _permanent(error) or attempts >= settings.BACKORDER_EMAIL_MAX_ATTEMPTS:
        _give_up(rows, text, attempts=attempts)
        return None
    wait = backoff_seconds(attempts)
    Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
        attempts=attempts, last_error=text, next_attempt_at=now + timedelta(seconds=wait)
    )
    logger.info("Notification(s) %s: attempt %s failed (%s)", [r.pk for r in rows], attempts, text)
    return wait


def _give_up(rows: list[Notification], error: str, *, attempts: int) -> None:
    for row in rows:
        row.status = Notification.Status.FAILED
    Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
        status=Notification.Status.FAILED, attempts=attempts, last_error=error[:2000]
    )
    logger.warning(
        "Gave up on notification(s) %s after %s attempt(s): %s",
        [row.pk for row in rows],
        attempts,
        error,
    )


def notifications_due(*, older_than: timedelta, now: datetime | None = None) -> list[int]:
    """Pending rows due for an attempt and written more than `older_than` ago: those the
    after-commit task should have sent by now."""
    now = now or timezone.now()
    return list(
        Notification.objects.filter(
            status=Notification.Status.PENDING,
            next_attempt_at__lte=now,
            created_at__lte=now - older_than,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@transaction.atomic
def notifications_resend(*, ids: Sequence[int]) -> int:
    """Put failed notifications back in the outbox for a fresh round of attempts."""
    resent = list(
        Notification.objects.select_for_update()
        .filter(pk__in=ids, status=Notification.Status.FAILED)
        .values_list("pk", flat=True)
    )
    Notification.objects.filter(pk__in=resent).update(
        status=Notification.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    _deliver_after_commit(resent)
    return len(resent)


# Answers to delay notices -------------------------------------------------------------------


def delay_answer(
    *, notification: Notification, line: OrderLine, answer: str, actor: Any = None
) -> DelayAnswer:
    """Record the customer's answer to a delay notice for one line.

    "cancel" cancels every backordered unit of the line through `order_line_cancel` (which
    takes the product lock and tells the customer by email); "keep" records consent to wait.
    An answer may move from keep to cancel, never back.
    """
    from orders.services import order_line_cancel

    if answer not in DelayAnswer.Answer.values:
        raise ValidationFailed("Answer keep or cancel.", fields={"answer": "invalid"})
    with transaction.atomic():
        previous = (
            DelayAnswer.objects.select_for_update()
            .filter(notification=notification, line=line)
            .first()
        )
        if previous is not None and (
            previous.answer == DelayAnswer.Answer.CANCEL or answer == previous.answer
        ):
            return previous
        quantity = 0
        if answer == DelayAnswer.Answer.KEEP:
            event = OrderEvent.objects.create(
                order_id=line.order_id,
                line=line,
                kind=OrderEvent.Kind.KEPT_WAITING,
                actor=recorded_actor(actor),
            )
            kept_notice(order=line.order, line=line, event_id=event.pk)
        if answer == DelayAnswer.Answer.CANCEL:
            _kept_notices_drop(line)
            cancelled = order_line_cancel(
                line_id=line.pk,
                by_customer=True,
                reason="Cancelled by the customer after a delay notice",
                actor=actor,
            )
            quantity = cancelled.cancelled - line.cancelled
        recorded, _ = DelayAnswer.objects.update_or_create(
            notification=notification,
            line=line,
            defaults={"answer": answer, "quantity": quantity, "created_at": timezone.now()},
        )
        return recorded


def _kept_notices_drop(line: OrderLine) -> None:
    """A "thank you for waiting" not yet sent is void once the customer cancels instead.
    Rows a delivery holds are being sent already and are left alone."""
    pending = Notification.objects.select_for_update(skip_locked=True).filter(
        order_id=line.order_id, kind=Kind.KEPT, status=Notification.Status.PENDING
    )
    void = [row.pk for row in pending if {"id": line.pk} in row.data.get("lines", [])]
    Notification.objects.filter(pk__in=void).delete()


def delay_lines(notification: Notification) -> list[int]:
    """The order lines a delay notice was about."""
    if notification.kind != Kind.DELAY:
        return []
    return [entry["id"] for entry in notification.data.get("lines", [])]


def stock_alert_subscribe(*, product: Product, email: object, locale: object) -> StockAlert:
    """Ask to be told when a sold-out `deny` product can be ordered again.

    Offered only while the product is refused for lack of stock; asking again while a request
    waits returns that request.
    """
    from inventory.services import check_email, check_locale

    email = check_email(email)
    locale = check_locale(locale)
    if (
        product.backorder_policy != Product.BackorderPolicy.DENY
        or selectors.free_units(product.pk) > 0
    ):
        raise AlertNotNeeded("This product can be ordered now: no need to wait for it.")
    with transaction.atomic():
        alert = StockAlert.objects.filter(
            Q(product=product) & Q(email__iexact=email) & Q(notified_at__isnull=True)
        ).first()
        if alert is not None:
            return alert
        try:
            with transaction.atomic():
                return StockAlert.objects.create(product=product, email=email, locale=locale)
        except IntegrityError:
            # A concurrent request for the same address won.
            return StockAlert.objects.get(product=product, email=email, notified_at__isnull=True)
