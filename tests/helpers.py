"""Helpers shared by the tests: dates, and what a transaction asked for after commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from inventory.refresh import REFRESH_TASK


def today() -> date:
    return timezone.localdate()


def in_days(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)


def refreshes_asked(callbacks: Iterable[Any]) -> list[tuple[str, str, list[int]]]:
    """The product refreshes that captured on-commit callbacks ask for, in the order asked:
    (cause, detail, product ids)."""
    return [
        (callback.request.args[0], callback.request.args[1], sorted(callback.ids))
        for callback in callbacks
        if getattr(callback, "request", None) is not None and callback.request.task == REFRESH_TASK
    ]
