"""The JSON API for products, stock, suppliers, purchase orders and replenishment
(contract §3 and §8).

Each view parses its input, calls one service and renders the result; rules live in the
services and refusals come back as the contract's error body (see `config.api`).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import (
    MoneyField,
    PublicThrottle,
    StaffPermission,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
    StrictIntegerField,
    errors,
)
from config.roles import RECEIVE_PERMISSION
from inventory import catalogue, purchasing, replenishment, selectors
from inventory.checks import MAX_LEAD_TIME_DAYS, MAX_QUANTITY, SKU_PATTERN, storable_text
from inventory.exceptions import ValidationFailed
from inventory.forecast import demand_shape
from inventory.models import (
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
)
from inventory.stock import stock_adjust

# Serializers: the shape of input and output only ---------------------------------------------


def _count(**kwargs: Any) -> StrictIntegerField:
    return StrictIntegerField(min_value=0, max_value=MAX_QUANTITY, **kwargs)


@extend_schema_field(
    {"type": "string", "pattern": SKU_PATTERN, "maxLength": 64, "example": "HOODIE-SE"}
)
class SkuField(StrictCharField):
    """A new product's SKU: any string, trimmed. The catalogue service judges it
    (`checks.check_sku`), so every refusal, of a blank or a long one too, names the rule."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if isinstance(data, str) and not data.strip():
            return ""
        return super().run_validation(data)


class ProductWriteSerializer(serializers.Serializer):
    sku = SkuField()
    name = StrictCharField(max_length=200)
    price = MoneyField()
    backorder_policy = serializers.ChoiceField(
        choices=Product.BackorderPolicy.values, default=Product.BackorderPolicy.BACKORDER
    )
    lead_time_days = StrictIntegerField(
        min_value=0, max_value=MAX_LEAD_TIME_DAYS, allow_null=True, required=False
    )
    backorder_limit = _count(allow_null=True, required=False, help_text="Null: no cap.")
    max_per_order = StrictIntegerField(
        min_value=1, max_value=MAX_QUANTITY, allow_null=True, required=False
    )
    release_date = serializers.DateField(allow_null=True, required=False)


class ProductUpdateSerializer(ProductWriteSerializer):
    """Any of the fields; the SKU never changes."""

    sku = None  # type: ignore[assignment]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        fields["backorder_policy"].default = serializers.empty
        return fields


class WarehouseStockSerializer(serializers.Serializer):
    warehouse = serializers.CharField(help_text="Warehouse code.")
    on_hand = serializers.IntegerField()
    allocated = serializers.IntegerField()
    free = serializers.IntegerField()


class StockFiguresSerializer(serializers.Serializer):
    on_hand = serializers.IntegerField()
    allocated = serializers.IntegerField()
    free = serializers.IntegerField(help_text="On hand and not allocated.")
    backordered = serializers.IntegerField(help_text="Units waiting in the backorder queue.")
    incoming = serializers.IntegerField(help_text="Units on open purchase orders.")
    next_delivery = serializers.DateField(allow_null=True)
    lead_time_days = serializers.IntegerField(
        allow_null=True, help_text="The lead time ETAs use past all scheduled supply."
    )
    warehouses = WarehouseStockSerializer(many=True)


class ProductSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    backorder_policy = serializers.ChoiceField(choices=Product.BackorderPolicy.values)
    lead_time_days = serializers.IntegerField(allow_null=True)
    backorder_limit = serializers.IntegerField(allow_null=True)
    max_per_order = serializers.IntegerField(allow_null=True)
    release_date = serializers.DateField(allow_null=True)
    stock = StockFiguresSerializer()


class AvailabilitySerializer(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=["in_stock", "partial", "backorder", "preorder", "unavailable"]
    )
    available = serializers.IntegerField(
        allow_null=True,
        help_text=(
            "Most units one order could have now, within the product's caps and the shop's"
            " limit per line (so never null since that limit exists; kept nullable)."
        ),
    )
    free = serializers.IntegerField(
        min_value=0,
        help_text=(
            "Units in stock now and promised to no one: on hand, less what is allocated, less"
            " what waiting backorders and pre-orders hold."
        ),
    )
    from_stock = serializers.IntegerField()
    backordered = serializers.IntegerField()
    eta = serializers.DateField(allow_null=True)
    code = serializers.CharField(help_text="Why it is unavailable (`out_of_stock`...), or empty.")
    message = serializers.CharField(allow_blank=True)


class AvailabilityQuerySerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)


class AdjustmentWriteSerializer(serializers.Serializer):
    sku = StrictCharField(max_length=64)
    warehouse = StrictCharField(
        max_length=32, required=False, allow_null=True, help_text="Default warehouse if absent."
    )
    quantity = StrictIntegerField(
        min_value=-MAX_QUANTITY, max_value=MAX_QUANTITY, help_text="Signed: negative removes."
    )
    reason = StrictCharField(max_length=255)


class AdjustmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    warehouse = serializers.CharField()
    quantity = serializers.IntegerField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    on_hand = serializers.IntegerField(help_text="The warehouse's stock after the change.")
    allocated = serializers.IntegerField()


class SupplierWriteSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    email = StrictEmailField(max_length=254, required=False, allow_blank=True)
    lead_time_days = StrictIntegerField(min_value=0, max_value=MAX_LEAD_TIME_DAYS)


class SupplierSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    lead_time_days = serializers.IntegerField()
    is_active = serializers.BooleanField()


class SupplierTermsWriteSerializer(serializers.Serializer):
    sku = StrictCharField(max_length=64)
    unit_cost = MoneyField(required=False, allow_null=True, help_text="What one unit costs.")
    lead_time_days = StrictIntegerField(
        min_value=0,
        max_value=MAX_LEAD_TIME_DAYS,
        required=False,
        allow_null=True,
        help_text="Null or absent: the supplier's own lead time.",
    )
    minimum_order_quantity = StrictIntegerField(
        min_value=1, max_value=MAX_QUANTITY, required=False, default=1
    )
    pack_size = StrictIntegerField(
        min_value=1,
        max_value=MAX_QUANTITY,
        required=False,
        default=1,
        help_text="Sold in multiples of this many units.",
    )
    preferred = StrictBooleanField(
        required=False, default=False, help_text="Make this the product's first supplier."
    )


class SupplierTermsSerializer(serializers.Serializer):
    supplier = serializers.IntegerField(source="supplier_id")
    sku = serializers.CharField(source="product.sku")
    unit_cost = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    lead_time_days = serializers.IntegerField(
        allow_null=True, help_text="Null: the supplier's own lead time."
    )
    minimum_order_quantity = serializers.IntegerField()
    pack_size = serializers.IntegerField()
    preferred = serializers.BooleanField(help_text="The product's first supplier (rank 1).")
    rank = serializers.IntegerField(help_text="1 is preferred, then 2, 3...")


class PurchaseLineWriteSerializer(serializers.Serializer):
    sku = StrictCharField(max_length=64)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)
    expected_date = serializers.DateField()
    unit_cost = MoneyField(required=False, allow_null=True)


class PurchaseOrderWriteSerializer(serializers.Serializer):
    supplier = StrictIntegerField(min_value=1, help_text="The supplier's `id`.")
    warehouse = StrictCharField(
        max_length=32, required=False, allow_null=True, help_text="Default warehouse if absent."
    )
    reference = StrictCharField(max_length=100, required=False, allow_blank=True)
    notes = StrictCharField(max_length=2000, required=False, allow_blank=True)
    lines = PurchaseLineWriteSerializer(many=True, allow_empty=False, min_length=1, max_length=500)  # type: ignore[call-arg]


class PurchaseLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField(source="product.sku")
    quantity = serializers.IntegerField()
    received = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    outstanding = serializers.IntegerField()
    expected_date = serializers.DateField()
    first_expected_date = serializers.DateField(help_text="The date the supplier first promised.")
    unit_cost = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)


class PurchaseOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=PurchaseOrder.Status.values)
    supplier = serializers.IntegerField(source="supplier_id")
    warehouse = serializers.CharField(source="warehouse.code")
    reference = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    ordered_at = serializers.DateTimeField(allow_null=True)
    lines = PurchaseLineSerializer(many=True)


class LineRescheduleSerializer(serializers.Serializer):
    expected_date = serializers.DateField()


class ReceiptLineWriteSerializer(serializers.Serializer):
    sku = StrictCharField(max_length=64, required=False)
    line_id = StrictIntegerField(min_value=1, required=False)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)


class ReceiptWriteSerializer(serializers.Serializer):
    lines = ReceiptLineWriteSerializer(many=True, allow_empty=False, min_length=1, max_length=500)  # type: ignore[call-arg]
    received_on = serializers.DateField(required=False, help_text="Default: today.")
    reference = StrictCharField(max_length=100, required=False, allow_blank=True)


# Reads ----------------------------------------------------------------------------------------


def _product(sku: str) -> Product:
    product = Product.objects.filter(sku=sku).first() if storable_text(sku) else None
    if product is None:
        raise NotFound("No product with this SKU.")
    return product


def _product_with_stocks(sku: str) -> tuple[Product, list[selectors.StockRow]]:
    found = selectors.product_with_stocks(sku)
    if found is None:
        raise NotFound("No product with this SKU.")
    return found


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


_CENTS = Decimal("0.01")


def _product_body(
    product: Product, stocks: list[selectors.StockRow] | None = None
) -> dict[str, Any]:
    """`ProductSerializer`'s body, built directly: the two public reads are hot."""
    figures = selectors.stock_figures(product, stocks=stocks)
    return {
        "sku": product.sku,
        "name": product.name,
        "price": f"{product.price.quantize(_CENTS):f}",
        "backorder_policy": product.backorder_policy,
        "lead_time_days": product.lead_time_days,
        "backorder_limit": product.backorder_limit,
        "max_per_order": product.max_per_order,
        "release_date": _day(product.release_date),
        "stock": {
            "on_hand": figures.on_hand,
            "allocated": figures.allocated,
            "free": figures.free,
            "backordered": figures.backordered,
            "incoming": figures.incoming,
            "next_delivery": _day(figures.next_delivery),
            "lead_time_days": figures.lead_time_days,
            "warehouses": [
                {
                    "warehouse": row.warehouse,
                    "on_hand": row.on_hand,
                    "allocated": row.allocated,
                    "free": row.free,
                }
                for row in figures.warehouses
            ],
        },
    }


def _purchase_order_body(purchase_order_id: int) -> dict[str, Any]:
    purchase_order = (
        PurchaseOrder.objects.select_related("warehouse")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=PurchaseOrderLine.objects.select_related("product").order_by("pk"),
            )
        )
        .filter(pk=purchase_order_id)
        .first()
    )
    if purchase_order is None:
        raise NotFound("No such purchase order.")
    return dict(PurchaseOrderSerializer(purchase_order).data)


# Views ----------------------------------------------------------------------------------------


class ProductListView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"POST": ["inventory.add_product"]}

    @extend_schema(
        request=ProductWriteSerializer,
        responses={201: ProductSerializer, **errors(400, 401, 403, 409)},
        tags=["products"],
        summary="Add a product",
    )
    def post(self, request: Request) -> Response:
        data = ProductWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product = catalogue.product_create(**data.validated_data, actor=request.user)
        return Response(_product_body(product), status=status.HTTP_201_CREATED)


class ProductView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"PATCH": ["inventory.change_product"]}

    @extend_schema(
        responses={200: ProductSerializer, **errors(401, 404)},
        auth=[],
        tags=["products"],
        summary="A product with its stock figures",
    )
    def get(self, request: Request, sku: str) -> Response:
        return Response(_product_body(*_product_with_stocks(sku)))

    @extend_schema(
        request=ProductUpdateSerializer,
        responses={200: ProductSerializer, **errors(400, 401, 403, 404)},
        tags=["products"],
        summary="Change a product",
    )
    def patch(self, request: Request, sku: str) -> Response:
        product = _product(sku)
        if isinstance(request.data, dict) and request.data.get("sku", sku) != sku:
            raise ValidationFailed("A product's SKU cannot change.", fields={"sku": "read-only"})
        data = ProductUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        product = catalogue.product_update(
            product_id=product.pk, changes=dict(data.validated_data), actor=request.user
        )
        return Response(_product_body(product))


class AvailabilityView(APIView):
    permission_classes: list[Any] = []
    throttle_classes = [PublicThrottle]

    @extend_schema(
        parameters=[AvailabilityQuerySerializer],
        responses={200: AvailabilitySerializer, **errors(400, 401, 404, 429)},
        auth=[],
        tags=["products"],
        summary="How an order of N units placed now would be served, and when it would ship",
    )
    def get(self, request: Request, sku: str) -> Response:
        given = request.query_params.getlist("quantity")
        if len(given) > 1:
            raise ValidationFailed("Give the quantity once.", fields={"quantity": "repeated"})
        query = AvailabilityQuerySerializer(data={"quantity": given[0]} if given else {})
        query.is_valid(raise_exception=True)
        product, stocks = _product_with_stocks(sku)
        [quote] = selectors.availability_quotes(
            wanted=[(product, query.validated_data["quantity"])], stocks={product.pk: stocks}
        )
        # `AvailabilitySerializer`'s body, built directly: this read is hot.
        return Response(
            {
                "sku": product.sku,
                "quantity": quote.quantity,
                "status": quote.status,
                "available": quote.available,
                "free": quote.free,
                "from_stock": quote.from_stock,
                "backordered": quote.backordered,
                "eta": _day(quote.eta),
                "code": quote.code,
                "message": quote.message,
            }
        )


class StockAdjustmentView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"POST": ["inventory.change_stock"]}

    @extend_schema(
        request=AdjustmentWriteSerializer,
        responses={201: AdjustmentSerializer, **errors(400, 401, 403, 409)},
        tags=["stock"],
        summary="Correct on-hand stock by a signed quantity",
    )
    def post(self, request: Request) -> Response:
        data = AdjustmentWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        product = selectors.products_by_sku([values["sku"]], field="sku")[values["sku"]]
        movement = stock_adjust(
            product=product,
            warehouse=selectors.warehouse_by_code(values.get("warehouse")),
            quantity=values["quantity"],
            reason=values["reason"],
            actor=request.user,
        )
        stock = movement.stock
        stock.refresh_from_db(fields=["on_hand", "allocated"])
        body = {
            "id": movement.pk,
            "sku": product.sku,
            "warehouse": stock.warehouse.code,
            "quantity": movement.quantity,
            "reason": movement.reason,
            "created_at": movement.created_at,
            "on_hand": stock.on_hand,
            "allocated": stock.allocated,
        }
        return Response(AdjustmentSerializer(body).data, status=status.HTTP_201_CREATED)


class SupplierListView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"POST": ["inventory.add_supplier"]}

    @extend_schema(
        request=SupplierWriteSerializer,
        responses={201: SupplierSerializer, **errors(400, 401, 403, 409)},
        tags=["purchasing"],
        summary="Add a supplier",
    )
    def post(self, request: Request) -> Response:
        data = SupplierWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        supplier = catalogue.supplier_create(**data.validated_data, actor=request.user)
        return Response(SupplierSerializer(supplier).data, status=status.HTTP_201_CREATED)


class SupplierTermsView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {
        "POST": ["inventory.add_supplierproduct", "inventory.change_supplierproduct"]
    }

    @extend_schema(
        request=SupplierTermsWriteSerializer,
        responses={
            201: SupplierTermsSerializer,
            200: SupplierTermsSerializer,
            **errors(400, 401, 403, 404),
        },
        tags=["purchasing"],
        summary="Set a supplier's terms for a product",
        description="201 when new; a second call for the same SKU replaces them (200).",
    )
    def post(self, request: Request, supplier_id: int) -> Response:
        if not Supplier.objects.filter(pk=supplier_id).exists():
            raise NotFound("No such supplier.")
        data = SupplierTermsWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        terms, created = catalogue.supplier_terms_set(
            supplier_id=supplier_id, **data.validated_data, actor=request.user
        )
        body = SupplierTermsSerializer(
            {
                "supplier_id": terms.supplier_id,
                "product": {"sku": data.validated_data["sku"]},
                "unit_cost": terms.unit_cost,
                "lead_time_days": terms.lead_time_days,
                "minimum_order_quantity": terms.minimum_order_quantity,
                "pack_size": terms.pack_size,
                "preferred": terms.rank == 1,
                "rank": terms.rank,
            }
        ).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class PurchaseOrderListView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"POST": ["inventory.add_purchaseorder"]}

    @extend_schema(
        request=PurchaseOrderWriteSerializer,
        responses={201: PurchaseOrderSerializer, **errors(400, 401, 403)},
        tags=["purchasing"],
        summary="Place a purchase order with a supplier",
    )
    def post(self, request: Request) -> Response:
        data = PurchaseOrderWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        supplier = Supplier.objects.filter(pk=values["supplier"]).first()
        if supplier is None:
            raise ValidationFailed("Unknown supplier.", fields={"supplier": "unknown supplier"})
        purchase_order = purchasing.purchase_order_create(
            supplier=supplier,
            warehouse=selectors.warehouse_by_code(values.get("warehouse")),
            reference=values.get("reference", ""),
            notes=values.get("notes", ""),
            lines=[purchasing.PurchaseLineRequest(**line) for line in values["lines"]],
            actor=request.user,
        )
        return Response(_purchase_order_body(purchase_order.pk), status=status.HTTP_201_CREATED)


class PurchaseOrderView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"GET": ["inventory.view_purchaseorder"]}

    @extend_schema(
        responses={200: PurchaseOrderSerializer, **errors(401, 403, 404)},
        tags=["purchasing"],
        summary="A purchase order",
    )
    def get(self, request: Request, purchase_order_id: int) -> Response:
        return Response(_purchase_order_body(purchase_order_id))


class PurchaseOrderLineView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"PATCH": ["inventory.change_purchaseorder"]}

    @extend_schema(
        request=LineRescheduleSerializer,
        responses={200: PurchaseOrderSerializer, **errors(400, 401, 403, 404, 409)},
        tags=["purchasing"],
        summary="Move a line's expected delivery date",
    )
    def patch(self, request: Request, purchase_order_id: int, line_id: int) -> Response:
        if not PurchaseOrderLine.objects.filter(
            pk=line_id, purchase_order_id=purchase_order_id
        ).exists():
            raise NotFound("No such purchase order line.")
        data = LineRescheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        purchasing.purchase_order_line_reschedule(
            line_id=line_id, expected_date=data.validated_data["expected_date"], actor=request.user
        )
        return Response(_purchase_order_body(purchase_order_id))


class PurchaseOrderReceiveView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"POST": [RECEIVE_PERMISSION]}

    @extend_schema(
        request=ReceiptWriteSerializer,
        responses={200: PurchaseOrderSerializer, **errors(400, 401, 403, 404, 409)},
        tags=["purchasing"],
        summary="Book goods received against a purchase order",
        description="Partial receipts are fine; receiving more than is outstanding is a 409.",
    )
    def post(self, request: Request, purchase_order_id: int) -> Response:
        if not PurchaseOrder.objects.filter(pk=purchase_order_id).exists():
            raise NotFound("No such purchase order.")
        data = ReceiptWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        purchasing.purchase_order_receive(
            purchase_order_id=purchase_order_id,
            lines=[purchasing.ReceiptRequest(**line) for line in values["lines"]],
            received_on=values.get("received_on"),
            reference=values.get("reference", ""),
            actor=request.user,
        )
        return Response(_purchase_order_body(purchase_order_id))


# Replenishment (contract §8) -----------------------------------------------------------------

MAX_FORECAST_DAYS = 365


class ForecastQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_FORECAST_DAYS, default=28)


class ForecastDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    expected = serializers.FloatField()
    low = serializers.FloatField()
    high = serializers.FloatField()


class ForecastTotalSerializer(serializers.Serializer):
    expected = serializers.FloatField()
    low = serializers.FloatField()
    high = serializers.FloatField()


class ForecastSerializer(serializers.Serializer):
    sku = serializers.CharField()
    method = serializers.CharField(help_text="ets, croston, sba, tsb or mean.")
    shape = serializers.CharField(
        help_text="smooth, erratic, intermittent, lumpy or short (too little history)."
    )
    daily = ForecastDaySerializer(many=True)
    total = ForecastTotalSerializer(help_text="The horizon's sum: low/high bound 80%.")


class SuggestionSerializer(serializers.Serializer):
    sku = serializers.CharField()
    supplier = serializers.IntegerField(help_text="The supplier's id.")
    quantity = serializers.IntegerField()
    arrives = serializers.DateField(help_text="Likely arrival if ordered today (P90).")
    reorder_point = serializers.IntegerField()
    safety_stock = serializers.IntegerField()
    position = serializers.IntegerField(help_text="Free + on order + drafts - backordered units.")
    order_up_to = serializers.IntegerField()
    covers = serializers.IntegerField(help_text="Backordered units no stock or supply covers yet.")
    reason = serializers.CharField()


class SuggestionsSerializer(serializers.Serializer):
    results = SuggestionSerializer(many=True)


class DraftsWriteSerializer(serializers.Serializer):
    skus = serializers.ListField(
        child=StrictCharField(max_length=64), required=False, max_length=1000, allow_empty=True
    )


class DraftLineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField()


class DraftSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    supplier = serializers.IntegerField()
    lines = DraftLineSerializer(many=True)


class DraftsSerializer(serializers.Serializer):
    purchase_orders = DraftSerializer(many=True)


def _rounded(value: float) -> float:
    return round(float(value), 2)


class ProductForecastView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"GET": ["inventory.view_product"]}

    @extend_schema(
        parameters=[ForecastQuerySerializer],
        responses={200: ForecastSerializer, **errors(400, 401, 403, 404)},
        tags=["replenishment"],
        summary="A product's demand forecast",
        description=(
            "Expected units per day from tomorrow for `days` days (1-365, default 28), with"
            " an 80% prediction interval, and the horizon's total."
        ),
    )
    def get(self, request: Request, sku: str) -> Response:
        query = ForecastQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        days = query.validated_data["days"]
        product = _product(sku)
        made, history = replenishment.product_forecast(product, days=days)
        today = timezone.localdate()
        daily = [
            {
                "date": today + timedelta(days=n),
                "expected": _rounded(made.expected[n - 1]),
                "low": _rounded(made.low[n - 1]),
                "high": _rounded(made.high[n - 1]),
            }
            for n in range(1, days + 1)
        ]
        expected, low, high = made.over(days)
        body = {
            "sku": product.sku,
            "method": str(made.method),
            "shape": str(demand_shape(history).shape),
            "daily": daily,
            "total": {"expected": _rounded(expected), "low": _rounded(low), "high": _rounded(high)},
        }
        return Response(ForecastSerializer(body).data)


def _suggestion_body(plan: replenishment.ProductPlan) -> dict[str, Any]:
    assert plan.choice is not None
    return {
        "sku": plan.product.sku,
        "supplier": plan.choice.offer.supplier_id,
        "quantity": plan.quantity,
        "arrives": plan.arrives,
        "reorder_point": plan.plan.reorder_point,
        "safety_stock": plan.plan.safety_stock,
        "position": plan.position.units,
        "order_up_to": plan.plan.order_up_to,
        "covers": plan.covers,
        "reason": plan.reason,
    }


class SuggestionsView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"GET": ["inventory.view_purchaseorder"]}

    @extend_schema(
        responses={200: SuggestionsSerializer, **errors(401, 403)},
        tags=["replenishment"],
        summary="What to reorder now, from whom",
        description=(
            "Every product whose inventory position is at or below its reorder point, with"
            " the supplier chosen and why; most backorders to cover first."
        ),
    )
    def get(self, request: Request) -> Response:
        results = [_suggestion_body(plan) for plan in replenishment.suggestions()]
        return Response(SuggestionsSerializer({"results": results}).data)


class DraftsView(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"POST": ["inventory.add_purchaseorder", "inventory.add_purchaseorderline"]}

    @extend_schema(
        request=DraftsWriteSerializer,
        responses={200: DraftsSerializer, **errors(400, 401, 403)},
        tags=["replenishment"],
        summary="Turn suggestions into draft purchase orders",
        description=(
            "One draft per supplier for the suggestions of `skus` (all when absent). A need"
            " a draft or open purchase order already covers is not drafted again."
        ),
    )
    def post(self, request: Request) -> Response:
        data = DraftsWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        skus = data.validated_data.get("skus")
        if skus is not None:
            known = set(Product.objects.filter(sku__in=skus).values_list("sku", flat=True))
            unknown = {
                f"skus[{index}]": "unknown SKU"
                for index, sku in enumerate(skus)
                if sku not in known
            }
            if unknown:
                raise ValidationFailed("Unknown product.", fields=unknown)
        drafted = replenishment.drafts_create(skus=skus, actor=request.user)
        body = {
            "purchase_orders": [
                {
                    "id": item.purchase_order.pk,
                    "supplier": item.purchase_order.supplier_id,
                    "lines": [{"sku": sku, "quantity": units} for sku, units in item.lines],
                }
                for item in drafted
            ]
        }
        return Response(DraftsSerializer(body).data)
