"""The storefront: the catalogue and product pages, with the ETA engine's own quote."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def catalogue(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


def product_detail(request: HttpRequest, sku: str) -> HttpResponse:
    raise NotImplementedError


def stock_alert(request: HttpRequest, sku: str) -> HttpResponse:
    raise NotImplementedError
