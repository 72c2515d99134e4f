"""`/orders/lookup/`: a customer who lost the status link asks for it again by email.

The page answers the same whether or not the order number and email address match an order:
the view never reads the orders. It only counts the request against two hourly limits and
asks a worker (`orders.tasks.send_status_link`) to look the pair up and, if it matches, email
the link to the order's own address. So the status, the body and the work done before
answering do not depend on the pair, and the page cannot be used to learn who ordered what.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.crypto import salted_hmac
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods
from rest_framework.throttling import BaseThrottle

from orders.forms import LookupForm
from orders.tasks import send_status_link

logger = logging.getLogger(__name__)

# Both limits count requests per clock hour: a window's counters expire with it.
WINDOW_SECONDS = 60 * 60


def client_address(request: HttpRequest) -> str:
    """The client's address as the API throttles read it: `REMOTE_ADDR`, or the entry of
    `X-Forwarded-For` that `REST_FRAMEWORK["NUM_PROXIES"]` trusted proxies put there."""
    # DRF reads only `request.META`, which a plain Django request has too.
    return BaseThrottle().get_ident(request) or ""  # type: ignore[arg-type]


def _count(scope: str, value: str, window: int, expires_in: int) -> int:
    """Add one to the counter of `value` in this window and return the new count.

    Keys hold an HMAC of the value, never the address itself. `add` then `incr` is atomic
    in Redis, so concurrent requests from every web process are all counted.
    """
    cache = caches["default"]
    digest = salted_hmac("orders.lookup", value).hexdigest()
    key = f"order-lookup:{scope}:{window}:{digest}"
    cache.add(key, 0, timeout=expires_in)
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls: this is the window's first request
        cache.add(key, 0, timeout=expires_in)
        return cache.incr(key)


def lookup_throttle(*, client: str, email: str) -> int | None:
    """Count one lookup against both limits; None if it is within them, else the seconds
    until they reset (the end of the clock hour).

    Per client address at most `BACKORDER_LOOKUP_IP_RATE` lookups an hour, and per email
    address (lower-case) at most `BACKORDER_LOOKUP_EMAIL_RATE`, whatever the order number
    and whether or not it exists, so being refused tells nothing about an order. Refused
    requests count too; a request refused for its address does not count for its email.
    With the cache unreachable the lookup is let through (and logged): the limits cannot be
    told, and where the cache is the broker's Redis no email can be queued either.
    """
    window, elapsed = divmod(int(time.time()), WINDOW_SECONDS)
    left = WINDOW_SECONDS - elapsed
    try:
        if _count("ip", client, window, left) > settings.BACKORDER_LOOKUP_IP_RATE:
            return left
        if _count("email", email, window, left) > settings.BACKORDER_LOOKUP_EMAIL_RATE:
            return left
    except Exception:
        logger.exception("Could not count an order lookup; it goes through unlimited")
    return None


def lookup_request(number: str, email: str) -> None:
    """Ask a worker to email order `number` its status link if it was placed with `email`.

    Never raises: with the broker unreachable the request is logged and dropped, and the
    customer sees the usual answer (they can ask again).
    """
    try:
        send_status_link.delay(number, email)
    except Exception:
        logger.exception("Could not queue a status link request")


def _page(
    request: HttpRequest,
    form: LookupForm | None,
    *,
    status: int = 200,
    limited: str = "",
) -> HttpResponse:
    return render(
        request,
        "orders/lookup.html",
        {"form": form, "sent": form is None, "limited": limited},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def order_lookup(request: HttpRequest) -> HttpResponse:
    """GET: the form. POST: 400 with the form's errors (nothing counted or sent); 429 with
    `Retry-After` over a limit (nothing sent); else 200 and the same answer for every pair,
    never echoing what was typed."""
    if request.method == "GET":
        return _page(request, LookupForm())
    form = LookupForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    number, email = form.cleaned_data["number"], form.cleaned_data["email"]
    wait = lookup_throttle(client=client_address(request), email=email)
    if wait is not None:
        minutes = math.ceil(wait / 60)
        message = ngettext(
            "Too many requests: please try again in %(minutes)s minute.",
            "Too many requests: please try again in %(minutes)s minutes.",
            minutes,
        ) % {"minutes": minutes}
        response = _page(request, form, status=429, limited=message)
        response["Retry-After"] = str(wait)
        return response
    lookup_request(number, email)
    return _page(request, None)
