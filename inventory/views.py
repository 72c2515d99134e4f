"""The storefront: the catalogue and product pages, with the ETA engine's own quote."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from inventory.checks import max_line_quantity, storable_text
from inventory.exceptions import AlertNotNeeded
from inventory.models import Product
from inventory.selectors import availability_quotes
from notifications.alerts import stock_alert_subscribe
from orders.cart import Cart, CartRow, ready_date, refusal_message
from orders.forms import AlertForm, QuantityForm, line_limit_message

# The products this browser asked to hear about: their pages say so instead of asking again.
ALERTS_SESSION_KEY = "stock_alerts"


def product_path(sku: str, view: str = "product") -> str:
    """The path of a product's page (or of its `product-alert` form). Every SKU is one path
    segment a browser keeps as it is (`inventory.checks.SKU_RULE`)."""
    return reverse(view, args=[sku])


def _product(sku: str) -> Product:
    product = Product.objects.filter(sku=sku).first() if storable_text(sku) else None
    if product is None:
        raise Http404("No such product.")
    return product


def customer_locale() -> str:
    """The page's language as an order locale."""
    return "id" if (get_language() or "").startswith("id") else "en"


def alert_offered(product: Product, status: str, code: str) -> bool:
    """Whether "tell me when it's back" makes sense: a sold-out product that refuses orders."""
    return (
        status == "unavailable"
        and code == "out_of_stock"
        and product.backorder_policy == Product.BackorderPolicy.DENY
    )


@require_safe
def catalogue(request: HttpRequest) -> HttpResponse:
    """Every product with its availability for one unit: a fixed number of queries a page."""
    paginator = Paginator(
        Product.objects.order_by("name", "pk"), settings.BACKORDER_CATALOGUE_PAGE_SIZE
    )
    page = paginator.get_page(request.GET.get("page"))
    products = list(page.object_list)
    quotes = availability_quotes(wanted=[(product, 1) for product in products])
    items = [
        {
            "product": product,
            "url": product_path(product.sku),
            "quote": quote,
            "alert": alert_offered(product, quote.status, quote.code),
        }
        for product, quote in zip(products, quotes, strict=True)
    ]
    return render(request, "inventory/catalogue.html", {"page": page, "items": items})


def product_page(
    request: HttpRequest,
    product: Product,
    *,
    quantity: int = 1,
    form: QuantityForm | None = None,
    alert_form: AlertForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    cart = Cart(request.session)
    in_cart = cart.quantity(product.sku)
    # The badge always speaks of one unit, as in the catalogue; both quotes from one read.
    quote, one = availability_quotes(wanted=[(product, quantity), (product, 1)])
    return render(
        request,
        "inventory/product.html",
        {
            "product": product,
            "product_url": product_path(product.sku),
            "alert_url": product_path(product.sku, "product-alert"),
            "limit": line_limit_message(max_line_quantity(product.max_per_order))
            if product.max_per_order
            else "",
            "quote": quote,
            "badge": one,
            "form": form
            or QuantityForm(initial={"quantity": quantity}, max_per_order=product.max_per_order),
            "alert": alert_offered(product, one.status, one.code),
            "alert_form": alert_form or AlertForm(),
            "in_cart": in_cart,
            "error": error,
            "refusal": refusal_message(CartRow(product, quantity, quote)),
            "alert_signed_up": product.sku in request.session.get(ALERTS_SESSION_KEY, []),
            "ready_date": ready_date(),
        },
        status=status,
    )


@require_safe
def product_detail(request: HttpRequest, sku: str) -> HttpResponse:
    """The product, its badge, and the quote for the quantity asked (`?quantity=`)."""
    product = _product(sku)
    if "quantity" in request.GET:
        form = QuantityForm(request.GET, max_per_order=product.max_per_order)
        if not form.is_valid():
            return product_page(request, product, form=form, status=400)
        return product_page(request, product, quantity=form.cleaned_data["quantity"], form=form)
    return product_page(request, product)


@require_POST
def stock_alert(request: HttpRequest, sku: str) -> HttpResponse:
    """Sign up for the back-in-stock email of a sold-out product."""
    product = _product(sku)
    form = AlertForm(request.POST)
    if not form.is_valid():
        return product_page(request, product, alert_form=form, status=400)
    try:
        stock_alert_subscribe(
            product=product, email=form.cleaned_data["email"], locale=customer_locale()
        )
    except AlertNotNeeded:
        messages.info(request, _("Good news: this product can be ordered now."))
    else:
        signed_up = request.session.get(ALERTS_SESSION_KEY, [])
        if product.sku not in signed_up:
            request.session[ALERTS_SESSION_KEY] = [*signed_up, product.sku][-50:]
        messages.success(
            request,
            _("Thank you. We will email %(email)s once %(product)s is back in stock.")
            % {"email": form.cleaned_data["email"], "product": product.name},
        )
    return redirect(product_path(product.sku))
