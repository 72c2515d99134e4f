"""Back-in-stock alerts over the JSON API: a thin shell over `notifications.alerts`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import PublicThrottle, StrictEmailField, errors
from inventory.api import _product
from notifications import alerts
from orders.models import Order


class StockAlertWriteSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    locale = serializers.ChoiceField(choices=Order.Locale.values, default=Order.Locale.EN)


class StockAlertSerializer(serializers.Serializer):
    sku = serializers.CharField()
    email = serializers.EmailField()
    locale = serializers.ChoiceField(choices=Order.Locale.values)


class StockAlertView(APIView):
    permission_classes: list[Any] = []
    throttle_classes = [PublicThrottle]

    @extend_schema(
        request=StockAlertWriteSerializer,
        responses={202: StockAlertSerializer, **errors(400, 401, 404, 409, 429)},
        auth=[],
        tags=["products"],
        summary="Email me once when this sold-out product can be ordered again",
        description=(
            "Only for a `deny` product that is out of stock (409 `alert_not_needed` otherwise)."
            " Asking again while a request waits changes nothing; the answer is the same."
        ),
    )
    def post(self, request: Request, sku: str) -> Response:
        data = StockAlertWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = alerts.stock_alert_subscribe(product=_product(sku), **data.validated_data)
        # The request's own address, as given: whether it asked before stays private.
        return Response(
            {"sku": sku, "email": data.validated_data["email"].strip(), "locale": alert.locale},
            status=status.HTTP_202_ACCEPTED,
        )
