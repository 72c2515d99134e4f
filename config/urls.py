import sys

from django.contrib import admin
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template import loader
from django.urls import include, path, re_path
from django.views.defaults import bad_request, page_not_found, server_error

from config import api, health, metrics, schema, tokens
from inventory import api as inventory_api
from inventory import views as shop_views
from notifications import api as notification_api
from notifications import views as notification_views
from orders import api as orders_api
from orders import lookup as order_lookup
from orders import views as order_views

api_v1 = [
    path("auth/token", tokens.AuthTokenView.as_view(), name="auth-token"),
    path("products", inventory_api.ProductListView.as_view(), name="products"),
    path("products/<str:sku>", inventory_api.ProductView.as_view(), name="product"),
    path(
        "products/<str:sku>/availability",
        inventory_api.AvailabilityView.as_view(),
        name="product-availability",
    ),
    path(
        "products/<str:sku>/alerts",
        notification_api.StockAlertView.as_view(),
        name="product-alerts",
    ),
    path(
        "stock/adjustments",
        inventory_api.StockAdjustmentView.as_view(),
        name="stock-adjustments",
    ),
    path("suppliers", inventory_api.SupplierListView.as_view(), name="suppliers"),
    path(
        "suppliers/<int:supplier_id>/products",
        inventory_api.SupplierTermsView.as_view(),
        name="supplier-terms",
    ),
    path("purchase-orders", inventory_api.PurchaseOrderListView.as_view(), name="purchase-orders"),
    path(
        "purchase-orders/<int:purchase_order_id>",
        inventory_api.PurchaseOrderView.as_view(),
        name="purchase-order",
    ),
    path(
        "purchase-orders/<int:purchase_order_id>/lines/<int:line_id>",
        inventory_api.PurchaseOrderLineView.as_view(),
        name="purchase-order-line",
    ),
    path(
        "purchase-orders/<int:purchase_order_id>/receive",
        inventory_api.PurchaseOrderReceiveView.as_view(),
        name="purchase-order-receive",
    ),
    path(
        "products/<str:sku>/forecast",
        inventory_api.ProductForecastView.as_view(),
        name="product-forecast",
    ),
    path(
        "replenishment/suggestions",
        inventory_api.SuggestionsView.as_view(),
        name="replenishment-suggestions",
    ),
    path(
        "replenishment/drafts",
        inventory_api.DraftsView.as_view(),
        name="replenishment-drafts",
    ),
    path("reports/backlog", orders_api.BacklogReportView.as_view(), name="report-backlog"),
    path("orders", orders_api.OrderListView.as_view(), name="orders"),
    path("orders/<str:number>", orders_api.OrderView.as_view(), name="order"),
    path(
        "orders/<str:number>/lines/<int:line_id>/cancel",
        orders_api.OrderLineCancelView.as_view(),
        name="order-line-cancel",
    ),
    path(
        "orders/<str:number>/shipments",
        orders_api.ShipmentListView.as_view(),
        name="order-shipments",
    ),
    path("schema", schema.SchemaView.as_view(), name="schema"),
    path("docs", schema.DocsView.as_view(url_name="api:schema"), name="docs"),
]

order_pages = [
    path("", order_views.order_detail, name="order-status"),
    path("lines/<int:line_id>/cancel/", order_views.order_line_cancel, name="order-line-cancel"),
    path("shipping/", order_views.order_shipping, name="order-shipping"),
    path("language/", order_views.order_language, name="order-language"),
    path(
        "delays/<int:notification_id>/lines/<int:line_id>/",
        notification_views.delay_answer,
        name="delay-answer",
    ),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"))),
    # Anything else under /api/, a trailing slash included: the JSON 404, even with DEBUG on.
    re_path(r"^api/", api.no_endpoint),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", shop_views.catalogue, name="catalogue"),
    path("products/<str:sku>/", shop_views.product_detail, name="product"),
    path("products/<str:sku>/alert/", shop_views.stock_alert, name="product-alert"),
    path("cart/", order_views.cart, name="cart"),
    path("cart/add/", order_views.cart_add, name="cart-add"),
    path("checkout/", order_views.checkout, name="checkout"),
    path("orders/lookup/", order_lookup.order_lookup, name="order-lookup"),
    path("orders/<str:number>/<str:token>/", include(order_pages)),
]


def handler404(request, exception=None):
    """JSON under /api/, the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return api.not_found(request, exception)
    return page_not_found(request, exception)


def handler400(request, exception=None):
    if request.path.startswith("/api/"):
        return api.bad_request(request, exception)
    return bad_request(request, exception)


def handler500(request):
    """The database away (refused, cut off, restarting) is 503 with Retry-After: the request
    changed nothing (its transaction rolled back) and trying again soon will work. Anything
    else is a 500."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        if request.path.startswith("/api/"):
            return api.unavailable(request)
        # No context processors: they may need the database.
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
        response["Retry-After"] = str(api.RETRY_AFTER_SECONDS)
        return response
    if request.path.startswith("/api/"):
        return api.server_error(request)
    return server_error(request)
