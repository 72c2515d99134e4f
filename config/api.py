"""What every endpoint of the JSON API shares: parsing, the error body, access and throttles.

Endpoints live with their apps (`inventory.api`, `orders.api`); each is a thin shell that
parses input with a serializer, calls one service and renders the result. Business rules stay
in the services, which raise `BackorderError`s that this module turns into the contract's
error body: `{"error": {"code": ..., "message": ..., "fields": {...}}}`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
import uuid
from typing import Any

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from config.cache import GuardedCache, window_hit
from inventory.exceptions import BackorderError

MAX_BODY_BYTES = 1_000_000


# Errors -------------------------------------------------------------------------------------


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: `out_of_stock`, ...")
    message = serializers.CharField(help_text="For people.")

    def get_fields(self) -> dict[str, serializers.Field]:
        # A field named "fields" would shadow the serializer's own `fields`: add it here.
        fields = super().get_fields()
        fields["fields"] = serializers.DictField(
            child=serializers.JSONField(), help_text="What was wrong with which field."
        )
        return fields


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The schema's error responses for `statuses`, all with the contract's error body.

    Public endpoints list 401 too: a request carrying a wrong staff token is refused there.
    """
    return {code: OpenApiResponse(ErrorSerializer) for code in statuses}


def _flatten(detail: Any, prefix: str = "") -> dict[str, str]:
    """DRF's nested error detail as {"lines[0].quantity": "message"}."""
    if isinstance(detail, dict):
        flat: dict[str, str] = {}
        for key, value in detail.items():
            if isinstance(key, int):  # A list's errors, by index.
                flat.update(_flatten(value, f"{prefix}[{key}]"))
                continue
            name = "" if key == "non_field_errors" else str(key)
            path = f"{prefix}.{name}" if prefix and name else prefix or name
            flat.update(_flatten(value, path))
        return flat
    if isinstance(detail, list) and detail and all(isinstance(d, dict | list) for d in detail):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(_flatten(value, f"{prefix}[{index}]"))
        return flat
    if isinstance(detail, list):
        return {prefix or "body": " ".join(str(message) for message in detail)}
    return {prefix or "body": str(detail)}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, BackorderError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # A real fault: Django answers 500 (JSON under /api/) and logs it.
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(math.ceil(exc.wait))  # type: ignore[attr-defined]
    response = Response(status=exc.status_code, headers=headers)
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(
            "validation_error", "Some fields are missing or wrong.", _flatten(exc.detail)
        )
    else:
        detail = exc.detail
        code = detail.code if isinstance(detail, exceptions.ErrorDetail) else exc.default_code
        response.data = error_body(str(code), str(detail))
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """404 for a path under /api/ that matches no endpoint."""
    return JsonResponse(error_body("not_found", "No such endpoint."), status=404)


@csrf_exempt
def no_endpoint(request: HttpRequest) -> JsonResponse:
    """The view of every path under /api/ that names no endpoint, whatever the method: the JSON
    404 even with DEBUG on (Django's own 404 is then an HTML page) and even with a trailing
    slash (which CommonMiddleware would otherwise answer)."""
    return not_found(request)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django refused the request before any endpoint saw it (a body too large to read, an
    unknown Host)."""
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(
            error_body(PayloadTooLarge.default_code, str(PayloadTooLarge.default_detail)),
            status=PayloadTooLarge.status_code,
        )
    return JsonResponse(error_body("bad_request", "The request is malformed."), status=400)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Something went wrong on our side."), status=500)


# Seconds a client is asked to wait when the database is away (`config.urls.handler500`).
RETRY_AFTER_SECONDS = 10
# Whether the request took effect is unknown (the server may have committed it in the
# instant before it went away): the client should retry, safely.
UNAVAILABLE_MESSAGE = (
    "The shop cannot answer right now. Try again shortly: with the same Idempotency-Key an"
    " order is never placed twice."
)


def unavailable(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(
        error_body(
            "unavailable",
            UNAVAILABLE_MESSAGE,
        ),
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


# Parsing ------------------------------------------------------------------------------------


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"The request body is larger than {MAX_BODY_BYTES} bytes."
    default_code = "payload_too_large"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; one naming a key twice is refused: which value would count is anyone's
    guess (`{"quantity": 1, "quantity": 999}`)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise exceptions.ParseError(
                f"Malformed JSON: the key {json.dumps(key)[:80]} appears twice in one object."
            )
        data[key] = value
    return data


def _check_strings(data: Any) -> None:
    """Refuse strings the database cannot hold (NUL, lone surrogates), keys included."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                raise exceptions.ParseError("Text may not contain NUL characters.")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise exceptions.ParseError("Text must be valid Unicode.") from None


class JSONParser(parsers.BaseParser):
    """Strict JSON with a size limit; anything else is a 400 or 413, never a 500.

    Not a subclass of DRF's `JSONParser`: for those DRF reads the whole body through
    `request.body`, which Django refuses above `DATA_UPLOAD_MAX_MEMORY_SIZE` with an HTML 400.
    This one reads at most `MAX_BODY_BYTES` + 1 bytes from the stream, whatever the declared
    length (DRF hands a parser no stream for a body without a Content-Length).
    """

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        try:
            data = json.loads(
                raw.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_object
            )
        except (ValueError, RecursionError) as error:
            raise exceptions.ParseError(f"Malformed JSON: {error}") from None
        _check_strings(data)
        return data


def body_fingerprint(data: Any) -> str:
    """The same JSON body, however its keys are ordered or spaced, gives the same digest."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: refuses strings, floats and booleans instead of coercing them."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string: refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictEmailField(serializers.EmailField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


MONEY_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": MONEY_PATTERN},
            {"type": "number", "minimum": 0, "maximum": 9999999999.99},
        ],
        "example": "350000.00",
    }
)
class MoneyField(serializers.DecimalField):
    """An amount of at most 12 digits with 2 decimals: "350000.00", or the JSON number."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=12, decimal_places=2, min_value=0, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        if isinstance(data, str) and not re.fullmatch(MONEY_PATTERN, data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false: refuses "yes", 1 and the like."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


# Access -------------------------------------------------------------------------------------


def is_staff(request: Request) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class StaffPermission(BasePermission):
    """Active staff holding the Django permissions the view lists for the request's method.

    Views name them in `staff_permissions = {"POST": ["inventory.add_product"]}`; a method not
    listed there is open to everyone (the view's own `get_permissions` decides).
    """

    message = "This needs a staff user's token with the right permissions."

    def has_permission(self, request: Request, view: Any) -> bool:
        needed = getattr(view, "staff_permissions", {}).get(request.method)
        if needed is None:
            return True
        return is_staff(request) and request.user.has_perms(needed)


def require_staff(request: Request, *permissions: str) -> None:
    """Inside a view: refuse unless the caller is staff holding `permissions`."""
    if not request.user or not request.user.is_authenticated:
        raise exceptions.NotAuthenticated()
    if not is_staff(request) or not request.user.has_perms(permissions):
        raise exceptions.PermissionDenied(StaffPermission.message)


throttle_logger = logging.getLogger("config.api.throttles")


class ThrottleCounts(GuardedCache):
    """Where the throttles count: the shared `throttle` cache or, while it cannot be reached,
    this process's memory (`config.cache.GuardedCache`: a hung Redis costs one request per
    process every 30 s, and one warning).

    Counting per process rather than letting everything through: the public endpoints place
    orders, and losing Redis should not also lift the brake on a flood of them; until it
    returns each process allows the rate on its own.
    """

    def __init__(self, alias: str) -> None:
        # Named afresh: LocMemCache instances of one name share their counts.
        super().__init__(
            alias,
            stand_in=LocMemCache(f"{alias}-{uuid.uuid4().hex}", {"max_entries": 100_000}),
            logger=throttle_logger,
            falls_back="API throttles count in this process",
        )


class RateThrottle(SimpleRateThrottle):
    """Per client address, rates from `BACKORDER_API_RATES` read at request time.

    Fixed windows of the rate's period, on the clock (each minute for "60/min"): the rate's
    number of requests pass in each, and `Retry-After` says when the window ends. One
    counter, moved in one round trip (`config.cache.window_hit`), where DRF's sliding window
    reads and writes back the list of every request's time: a flood costs the cache a counter,
    not a growing list. Counts live in the `throttle` cache (Redis when `REDIS_URL` is set),
    so every web process shares them; while it cannot be reached, in each process
    (`ThrottleCounts`), so a Redis outage never turns a request into a 500. Staff callers are
    not throttled.
    """

    cache = None  # type: ignore[assignment]
    counts = ThrottleCounts("throttle")

    def __init__(self) -> None:
        self.cache = self.counts
        super().__init__()

    def get_rate(self) -> str | None:
        return settings.BACKORDER_API_RATES.get(self.scope or "")

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        allowed, seconds = self.parse_rate(self.rate)
        if allowed is None or seconds is None:
            return True
        window = int(time.time() // seconds)
        self.window_ends = (window + 1) * seconds
        # Kept one period past the window's end: a clock a little behind still finds it.
        hits = self.counts.apply(lambda cache: window_hit(cache, f"{key}:{window}", 2 * seconds))
        return bool(hits <= allowed)

    def wait(self) -> float | None:
        return max(1.0, self.window_ends - time.time())

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if is_staff(request):
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PublicThrottle(RateThrottle):
    scope = "public"


class LoginThrottle(RateThrottle):
    scope = "login"


def schema_nonempty_lines(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Schema post-processing: request bodies' `lines` need at least one item, as enforced."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        lines = component.get("properties", {}).get("lines")
        if name.endswith("Request") and lines and lines.get("type") == "array":
            lines["minItems"] = 1
    return result
