"""Customer pages of an order, reached only through its unguessable status link."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_safe

from notifications.emails import status_label
from orders.selectors import order_eta, order_for_customer, order_status


@require_safe
def order_detail(request: HttpRequest, number: str, token: str) -> HttpResponse:
    order = order_for_customer(number, token)
    lines = list(order.lines.all())
    with translation.override(order.locale):
        for line in lines:
            line.label = status_label(line)  # type: ignore[attr-defined]
        return render(
            request,
            "orders/status.html",
            {
                "order": order,
                "lines": lines,
                "status": order_status(lines),
                "eta": order_eta(lines),
            },
        )


def cart(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


def cart_add(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


def checkout(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


def order_line_cancel(request: HttpRequest, number: str, token: str, line_id: int) -> HttpResponse:
    raise NotImplementedError


def order_shipping(request: HttpRequest, number: str, token: str) -> HttpResponse:
    raise NotImplementedError


def order_language(request: HttpRequest, number: str, token: str) -> HttpResponse:
    raise NotImplementedError
