"""Structured logs: every line carries what it is about (the request, the task, the order,
the products), so an operator can follow one order from its request through every task it
caused.

- `log_context(**fields)` (or `log_bind`) adds fields to every log line written inside it;
  `RequestContext` middleware binds a `request_id` (the client's `X-Request-ID` when it is a
  sane one, else a new one, returned in the response's `X-Request-ID`);
- every Celery task published carries the correlation fields of its publisher
  (`request_id`, `order`) in a message header, and runs with them bound, plus its own
  `task_id` and `task`: a confirmation email's delivery logs the request that placed it;
- `ContextFilter` copies the fields onto each record; `JsonFormatter` (python-json-logger)
  writes one JSON object per line in production (`BACKORDER_LOG_FORMAT=json`), the text
  formatter appends them as `key=value` for people.

A leaf module: any layer may bind fields.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from celery import signals
from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

# The fields of the request or task running in this context; None outside any (a shell, a
# command), where `log_bind` binds nothing, so no field outlives the work it was about.
_fields: ContextVar[dict[str, Any] | None] = ContextVar("log_fields", default=None)

# What a task inherits from whoever sent it.
CORRELATION = ("request_id", "order")
HEADER = "backorder_log"
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
request_logger = logging.getLogger("backorder.request")


def log_fields() -> dict[str, Any]:
    return dict(_fields.get() or {})


def log_bind(**fields: Any) -> None:
    """Add `fields` to every later log line of the request or task running (outside one,
    nothing)."""
    bound = _fields.get()
    if bound is not None:
        _fields.set({**bound, **fields})


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """A scope of its own: `fields`, and whatever `log_bind` adds inside, for the block."""
    token = _fields.set({**(_fields.get() or {}), **fields})
    try:
        yield
    finally:
        _fields.reset(token)


class ContextFilter(logging.Filter):
    """Puts the bound fields on each record (a field the call passed itself wins) and, for
    the text format, all of them as `record.context`."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _fields.get() or {}
        for key, value in fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        record.context = " ".join(f"{k}={v}" for k, v in fields.items())
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, the bound fields and any
    `extra`, and the traceback when there is one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        # The text format's summary of the fields, which JSON has as fields of its own.
        log_data.pop("context", None)


class RequestContext:
    """Middleware: binds the request's id, method and path for the request's log lines,
    returns the id in `X-Request-ID`, and logs one line per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        asked = request.headers.get("X-Request-ID", "")
        request_id = asked if REQUEST_ID.fullmatch(asked) else uuid.uuid4().hex
        started = time.perf_counter()
        with log_context(request_id=request_id):
            response = self.get_response(request)
            request_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        response["X-Request-ID"] = request_id
        return response


def _task_published(headers: dict[str, Any] | None = None, **_kwargs: Any) -> None:
    inherited = {k: v for k, v in (_fields.get() or {}).items() if k in CORRELATION}
    if headers is not None and inherited:
        headers[HEADER] = inherited


def _task_started(task_id: str = "", task: Any = None, **_kwargs: Any) -> None:
    # A task runs alone in its process or thread: its fields replace whatever was bound.
    inherited = getattr(task.request, HEADER, None) or {}
    _fields.set(
        {
            **{k: v for k, v in inherited.items() if k in CORRELATION},
            "task_id": task_id,
            "task": task.name,
        }
    )


def _task_finished(**_kwargs: Any) -> None:
    _fields.set(None)


def connect() -> None:
    """Hook Celery's publish and run signals (`OperationsConfig.ready`)."""
    signals.before_task_publish.connect(_task_published, weak=False, dispatch_uid="log-publish")
    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="log-task-start")
    signals.task_postrun.connect(_task_finished, weak=False, dispatch_uid="log-task-end")
