"""The JSON API for orders (contract §3): placement, reading, cancelling and shipping.

Customers reach one order with its token (`?token=`); staff with their API token and the
Django permissions each view names.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import (
    ErrorSerializer,
    PublicThrottle,
    StaffPermission,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
    StrictIntegerField,
    body_fingerprint,
    errors,
    is_staff,
    require_staff,
)
from inventory.checks import MAX_ORDER_LINES, MAX_QUANTITY
from orders import reports, selectors, services
from orders.models import NUMBER_SHAPE, Order, OrderLine

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (a UUID): a retry with the same key and body returns the same order"
        " instead of placing another; the same key with another body is a 409."
    ),
)
REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    str,
    OpenApiParameter.HEADER,
    response=[201],
    enum=["true", "false"],
    description="With an Idempotency-Key: `true` when this is the order an earlier request placed.",
)
CUSTOMER_TOKEN = OpenApiParameter(
    "token",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="The order's customer token (from `status_url`); staff use their API token.",
)
# Staff send their API token; a customer sends only the order's token in the query.
STAFF_OR_CUSTOMER: list[dict[str, list[str]]] = [{"tokenAuth": []}, {}]

# Serializers: the shape of input and output only ---------------------------------------------


class OrderLineWriteSerializer(serializers.Serializer):
    sku = StrictCharField(max_length=64)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)


class ShippingAddressSerializer(serializers.Serializer):
    address = StrictCharField(max_length=500, help_text="Street lines, separated by newlines.")
    city = StrictCharField(max_length=100)
    postal_code = StrictCharField(max_length=20)
    country = StrictCharField(max_length=100)
    phone = StrictCharField(max_length=32, required=False, allow_blank=True, default="")


class OrderWriteSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    name = StrictCharField(max_length=200)
    locale = serializers.ChoiceField(choices=Order.Locale.values, default=Order.Locale.EN)
    ship_complete = StrictBooleanField(default=False)
    shipping_address = ShippingAddressSerializer(
        required=False, help_text="Where the parcel goes; optional."
    )
    lines = OrderLineWriteSerializer(
        many=True, allow_empty=False, min_length=1, max_length=MAX_ORDER_LINES
    )  # type: ignore[call-arg]


class OrderLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    quantity = serializers.IntegerField()
    allocated = serializers.IntegerField()
    backordered = serializers.IntegerField()
    shipped = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    status = serializers.ChoiceField(choices=OrderLine.Status.values)
    eta = serializers.DateField(
        allow_null=True, help_text="When the last outstanding unit is expected to ship."
    )
    unit_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="The price of one unit when it was ordered."
    )


def _money(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, help_text=help_text)


class OrderTotalsSerializer(serializers.Serializer):
    shipped = _money("The value of the units shipped.")
    to_ship = _money("The value of the units still to ship (allocated and waiting).")
    waiting = _money("The part of `to_ship` backordered or pre-ordered.")
    cancelled = _money("The value of the units cancelled (not part of `total`).")


class OrderSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=selectors.OrderStatus.ALL)
    status_url = serializers.URLField(help_text="The customer's order status page.")
    created_at = serializers.DateTimeField(help_text="The order's place in backorder queues.")
    ship_complete = serializers.BooleanField()
    locale = serializers.ChoiceField(choices=Order.Locale.values)
    email = serializers.EmailField()
    name = serializers.CharField()
    eta = serializers.DateField(
        allow_null=True, help_text="When the last open line ships; null if unknown or none."
    )
    shipping_address = ShippingAddressSerializer(allow_null=True)
    total = _money("What the order costs: quantity times unit price of every unit not cancelled.")
    totals = OrderTotalsSerializer()
    lines = OrderLineSerializer(many=True)


class CancelWriteSerializer(serializers.Serializer):
    quantity = StrictIntegerField(
        min_value=1,
        max_value=MAX_QUANTITY,
        required=False,
        help_text="Default: all that can be cancelled.",
    )
    reason = StrictCharField(max_length=255, required=False, allow_blank=True)
    entered_in_error = StrictBooleanField(
        required=False,
        default=False,
        help_text="Staff only: the units were entered in error and never were demand.",
    )


class ShipmentLineWriteSerializer(serializers.Serializer):
    line_id = StrictIntegerField(min_value=1)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)


class ShipmentWriteSerializer(serializers.Serializer):
    lines = ShipmentLineWriteSerializer(many=True, allow_empty=False, min_length=1, max_length=500)  # type: ignore[call-arg]
    carrier = StrictCharField(
        max_length=50, required=False, allow_blank=True, help_text="JNE, J&T, SiCepat..."
    )
    tracking = StrictCharField(max_length=100, required=False, allow_blank=True)


class ShipmentLineSerializer(serializers.Serializer):
    line_id = serializers.IntegerField(source="order_line_id")
    quantity = serializers.IntegerField()


class ShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    carrier = serializers.CharField(allow_blank=True)
    tracking = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    lines = ShipmentLineSerializer(many=True)
    order = OrderSerializer()


# Reads ----------------------------------------------------------------------------------------


def _order_data(order: Order) -> dict[str, Any]:
    """What `OrderSerializer` renders, from an order fetched with `orders_with_lines()`."""
    lines = list(order.lines.all())
    totals = selectors.order_totals(lines)
    return {
        "number": order.number,
        "status": selectors.order_status(lines),
        "status_url": selectors.order_status_url(order),
        "created_at": order.created_at,
        "ship_complete": order.ship_complete,
        "locale": order.locale,
        "email": order.email,
        "name": order.name,
        "eta": selectors.order_eta(lines),
        "shipping_address": {
            "address": order.address,
            "city": order.city,
            "postal_code": order.postal_code,
            "country": order.country,
            "phone": order.phone,
        }
        if order.address
        else None,
        "total": totals.total,
        "totals": totals,
        "lines": lines,
    }


def order_body(order: Order) -> dict[str, Any]:
    return dict(OrderSerializer(_order_data(order)).data)


def _fresh(order: Order) -> Order:
    """The order as a service left it, with its lines: two queries however many lines."""
    return selectors.orders_with_lines().get(pk=order.pk)


def _order_by_number(number: str, *, with_lines: bool = False) -> Order | None:
    orders = selectors.orders_with_lines() if with_lines else Order.objects.all()
    return orders.filter(number=number).first() if NUMBER_SHAPE.fullmatch(number) else None


def _order_for(
    request: Request, number: str, *, staff_permission: str, with_lines: bool = False
) -> tuple[Order, bool]:
    """The order the caller may act on, and whether the caller is staff.

    Staff need `staff_permission`; anyone else needs the order's token and goes through the
    customers' one access gate, `selectors.order_for_customer`: a wrong token answers 404,
    exactly as an unknown order does and in the same time, so neither can be probed.
    """
    token = request.query_params.get("token")
    if token is not None and not is_staff(request):
        try:
            return selectors.order_for_customer(number, token), False
        except Http404:
            raise exceptions.NotFound("No such order.") from None
    require_staff(request, staff_permission)
    order = _order_by_number(number, with_lines=with_lines)
    if order is None:
        raise exceptions.NotFound("No such order.")
    return order, True


# Views ----------------------------------------------------------------------------------------


class OrderListView(APIView):
    permission_classes: list[Any] = []
    throttle_classes = [PublicThrottle]

    @extend_schema(
        request=OrderWriteSerializer,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={
            201: OrderSerializer,
            **errors(400, 401, 409, 429),
            422: OpenApiResponse(
                ErrorSerializer,
                description=(
                    "Policy refused a line: `out_of_stock`, `backorder_limit`, `max_per_order`,"
                    " `not_released`. `fields` names each refused line."
                ),
            ),
        },
        auth=[],
        tags=["orders"],
        summary="Place an order",
        description=(
            "What is in stock is allocated and the rest backordered (if the product allows),"
            " each line with its ETA; or the whole order is refused with 422."
        ),
    )
    def post(self, request: Request) -> Response:
        data = OrderWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        order_kwargs = {
            "email": values["email"],
            "name": values["name"],
            "locale": values["locale"],
            "ship_complete": values["ship_complete"],
            "lines": [services.LineRequest(**line) for line in values["lines"]],
            "shipping": services.ShippingAddress(**values["shipping_address"])
            if "shipping_address" in values
            else None,
            "actor": request.user,
        }
        key = request.headers.get("Idempotency-Key")
        headers = {}
        if key is None:
            order, created = services.order_place(**order_kwargs), True
        else:
            order, created = services.order_place_once(
                idempotency_key=key, fingerprint=body_fingerprint(request.data), **order_kwargs
            )
            headers["Idempotent-Replayed"] = "false" if created else "true"
        # The order comes with its lines in hand: new, as placed; replayed, as it is now.
        return Response(order_body(order), status=status.HTTP_201_CREATED, headers=headers)


class OrderView(APIView):
    permission_classes = [StaffPermission]

    @extend_schema(
        parameters=[CUSTOMER_TOKEN],
        auth=STAFF_OR_CUSTOMER,  # type: ignore[arg-type]
        responses={200: OrderSerializer, **errors(401, 403, 404)},
        tags=["orders"],
        summary="An order, with each line's status and ETA",
    )
    def get(self, request: Request, number: str) -> Response:
        order, _ = _order_for(
            request, number, staff_permission="orders.view_order", with_lines=True
        )
        return Response(order_body(order))


class OrderLineCancelView(APIView):
    permission_classes = [StaffPermission]

    @extend_schema(
        request=CancelWriteSerializer,
        parameters=[CUSTOMER_TOKEN],
        auth=STAFF_OR_CUSTOMER,  # type: ignore[arg-type]
        responses={200: OrderSerializer, **errors(400, 401, 403, 404, 409)},
        tags=["orders"],
        summary="Cancel units of a line",
        description=(
            "Customers may cancel only units not yet allocated or shipped; staff may also"
            " cancel allocated units, which go back to stock."
        ),
    )
    def post(self, request: Request, number: str, line_id: int) -> Response:
        order, staff = _order_for(request, number, staff_permission="orders.change_order")
        if not order.lines.filter(pk=line_id).exists():
            raise exceptions.NotFound("No such line on this order.")
        data = CancelWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.order_line_cancel(
            line_id=line_id,
            quantity=data.validated_data.get("quantity"),
            reason=data.validated_data.get("reason", ""),
            by_customer=not staff,
            in_error=data.validated_data["entered_in_error"],
            actor=request.user,
        )
        return Response(order_body(_fresh(order)))


class ShipmentListView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"POST": ["orders.add_shipment"]}

    @extend_schema(
        request=ShipmentWriteSerializer,
        responses={201: ShipmentSerializer, **errors(400, 401, 403, 404, 409)},
        tags=["orders"],
        summary="Ship allocated units",
    )
    def post(self, request: Request, number: str) -> Response:
        order = _order_by_number(number)
        if order is None:
            raise exceptions.NotFound("No such order.")
        data = ShipmentWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        shipment = services.shipment_create(
            order=order,
            lines=[(line["line_id"], line["quantity"]) for line in values["lines"]],
            tracking=values.get("tracking", ""),
            carrier=values.get("carrier", ""),
            actor=request.user,
        )
        body = {
            "id": shipment.pk,
            "carrier": shipment.carrier,
            "tracking": shipment.tracking,
            "created_at": shipment.created_at,
            "lines": list(shipment.lines.all()),
            "order": _order_data(_fresh(order)),
        }
        return Response(ShipmentSerializer(body).data, status=status.HTTP_201_CREATED)


# Reports --------------------------------------------------------------------------------------


class BacklogRowSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    backordered_units = serializers.IntegerField(help_text="Units waiting (and pre-ordered).")
    backordered_lines = serializers.IntegerField()
    value_waiting = _money("Waiting units times their unit price.")
    oldest_waiting_days = serializers.IntegerField()
    next_supply_date = serializers.DateField(allow_null=True)
    next_supply_units = serializers.IntegerField()
    shortfall_units = serializers.IntegerField(
        help_text="What stays backordered after all scheduled purchase-order supply."
    )
    last_eta = serializers.DateField(
        allow_null=True, help_text="When the last line of the queue is expected to ship."
    )


class BacklogSerializer(serializers.Serializer):
    results = BacklogRowSerializer(many=True)


class BacklogReportView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"GET": ["orders.view_orderline"]}

    @extend_schema(
        responses={200: BacklogSerializer, **errors(401, 403)},
        tags=["reports"],
        summary="The backlog by product",
        description="One row per product with backorders, largest value waiting first.",
    )
    def get(self, request: Request) -> Response:
        return Response(BacklogSerializer({"results": reports.backlog()}).data)
