from inventory.models import (
    Allocation,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    Stock,
    StockMovement,
)
from orders.models import Order, OrderEvent, OrderLine, RefusedDemand, Shipment, ShipmentLine


def snapshot() -> dict:
    """Row counts and every counter: what a refused change must leave untouched."""
    return {
        "orders": Order.objects.count(),
        "lines": list(
            OrderLine.objects.order_by("pk").values_list(
                "pk", "status", "allocated", "backordered", "shipped", "cancelled"
            )
        ),
        "events": OrderEvent.objects.count(),
        "movements": StockMovement.objects.count(),
        "allocations": list(
            Allocation.objects.order_by("pk").values_list("pk", "stock_id", "quantity")
        ),
        "stocks": list(Stock.objects.order_by("pk").values_list("pk", "on_hand", "allocated")),
        "shipments": Shipment.objects.count(),
        "shipment_lines": ShipmentLine.objects.count(),
        "refused_demand": RefusedDemand.objects.count(),
    }


def purchasing_state() -> dict:
    """`snapshot()` and every purchase order's status, line counters and dates, and receipts."""
    return {
        "purchase_orders": list(PurchaseOrder.objects.order_by("pk").values_list("pk", "status")),
        "purchase_lines": list(
            PurchaseOrderLine.objects.order_by("pk").values_list(
                "pk", "quantity", "received", "cancelled", "expected_date", "first_expected_date"
            )
        ),
        "receipts": PurchaseReceipt.objects.count(),
        **snapshot(),
    }
