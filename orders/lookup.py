"""`/orders/lookup/`: a customer who lost the status link asks for it again by email."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def order_lookup(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError
