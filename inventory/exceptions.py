"""Refusals the services raise: each has a stable `code` that the API and forms report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class BackorderError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})


class ValidationFailed(BackorderError):
    code = "validation_error"
    status = 400


class InsufficientStock(BackorderError):
    """On-hand would drop below what is allocated (or below zero)."""

    code = "insufficient_stock"
    status = 409


class AlreadyExists(BackorderError):
    """A unique name (SKU, supplier name) is taken."""

    code = "already_exists"
    status = 409


class IdempotencyConflict(BackorderError):
    """An Idempotency-Key was sent again with a different request."""

    code = "idempotency_conflict"
    status = 409


class OverReceipt(BackorderError):
    """More goods received than a purchase order has outstanding."""

    code = "over_receipt"
    status = 409


class NotCancellable(BackorderError):
    code = "not_cancellable"
    status = 409


class NotShippable(BackorderError):
    code = "not_shippable"
    status = 409


class InvalidTransition(BackorderError):
    code = "invalid_transition"
    status = 409


class OrderRefused(BackorderError):
    """Policy refused at least one line; nothing was written except the refused demand."""

    status = 422

    def __init__(self, refusals: Sequence[Any]) -> None:
        first = refusals[0]
        super().__init__(
            first.message,
            fields={
                f"lines[{r.line_index}]": {"code": r.code, "message": r.message} for r in refusals
            },
        )
        self.refusals = tuple(refusals)
        self.code = str(first.code)


class AlertNotNeeded(BackorderError):
    """A back-in-stock alert asked for a product that can be ordered now."""

    code = "alert_not_needed"
    status = 409
