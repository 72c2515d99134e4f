"""Customer pages: the cart, checkout, and each order's status page with its self-service.

An order's pages are reached only through its unguessable status link
(`order_for_customer`); every change goes through the same services staff use, as a POST
with CSRF protection, and is confirmed on the page and by email.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from inventory.checks import storable_text
from inventory.exceptions import BackorderError, NotCancellable, OrderRefused
from inventory.models import Product
from inventory.selectors import availability_quotes
from inventory.views import customer_locale, product_page, product_path
from orders import selectors, services
from orders.cart import Cart, CartRow, CartView, cart_view, refusal_message
from orders.forms import (
    CancelForm,
    CartLineForm,
    CheckoutForm,
    LanguageForm,
    QuantityForm,
    ShippingChoiceForm,
)
from orders.models import Order, OrderLine

# The cart and checkout -----------------------------------------------------------------------


def _cart_page(
    request: HttpRequest,
    cart: Cart,
    *,
    template: str = "orders/cart.html",
    status: int = 200,
    view: CartView | None = None,
    refused_form: CartLineForm | None = None,
    **context: Any,
) -> HttpResponse:
    """The cart or checkout page; `refused_form` is a quantity the cart refused, shown with
    its error on its own line."""
    view = view or cart_view(cart)
    refused_sku = refused_form.data.get("sku") if refused_form is not None else None
    rows = [
        {
            "row": row,
            "url": product_path(row.product.sku),
            "form": refused_form
            if row.product.sku == refused_sku
            else CartLineForm(
                initial={"sku": row.product.sku, "quantity": row.quantity},
                max_per_order=row.product.max_per_order,
            ),
            "refusal": refusal_message(row),
        }
        for row in view.rows
    ]
    if view.missing:
        messages.warning(
            request, _("Some items are no longer sold and have been taken out of your cart.")
        )
    return render(
        request,
        template,
        {"cart": view, "rows": rows, "ready_date": view.ready_date, **context},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def cart(request: HttpRequest) -> HttpResponse:
    """The cart, quoted now. A POST sets one line's quantity (0 removes it)."""
    basket = Cart(request.session)
    if request.method == "POST":
        sku = request.POST.get("sku", "")
        product = (
            Product.objects.filter(sku=sku).first()
            if storable_text(sku) and sku in basket.items
            else None
        )
        if product is None:
            return _cart_page(
                request, basket, status=400, error=_("That item is not in your cart.")
            )
        form = CartLineForm(request.POST, max_per_order=product.max_per_order)
        if not form.is_valid():
            return _cart_page(request, basket, status=400, refused_form=form)
        quantity = form.cleaned_data["quantity"]
        basket.set(sku, quantity)
        if quantity == 0:
            messages.success(request, _("Removed from your cart."))
        else:
            messages.success(request, _("Quantity updated."))
        return redirect("cart")
    return _cart_page(request, basket)


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    """The product page's form: add the quantity typed, if the shop can take the new total
    (otherwise the product page explains why, and the cart is left as it was); or, with its
    "check" button, show when that quantity would ship, adding nothing."""
    sku = request.POST.get("sku", "")
    product = Product.objects.filter(sku=sku).first() if storable_text(sku) else None
    if product is None:
        messages.error(request, _("That product is no longer sold."))
        return redirect("catalogue")
    form = QuantityForm(request.POST, max_per_order=product.max_per_order)
    if not form.is_valid():
        return product_page(request, product, form=form, status=400)
    if "check" in request.POST:
        return redirect(f"{product_path(product.sku)}?quantity={form.cleaned_data['quantity']}")
    basket = Cart(request.session)
    if not basket.can_add(product.sku):
        return product_page(
            request,
            product,
            form=form,
            error=_("Your cart is full: place this order first, or remove something."),
            status=422,
        )
    total = basket.quantity(product.sku) + form.cleaned_data["quantity"]
    [quote] = availability_quotes(wanted=[(product, total)])
    if quote.status == "unavailable":
        _refusal_record(request, product, form.cleaned_data["quantity"], quote.code)
        reason = refusal_message(CartRow(product, total, quote))
        if basket.quantity(product.sku):
            reason = (
                ngettext(
                    "You already have %(count)d in your cart. ",
                    "You already have %(count)d in your cart. ",
                    basket.quantity(product.sku),
                )
                % {"count": basket.quantity(product.sku)}
                + reason
            )
        return product_page(
            request,
            product,
            quantity=form.cleaned_data["quantity"],
            form=form,
            error=reason,
            status=422,
        )
    basket.set(product.sku, total)
    messages.success(
        request,
        _("Added %(count)d of %(product)s to your cart.")
        % {"count": form.cleaned_data["quantity"], "product": product.name},
    )
    return redirect("cart")


def _refusal_record(request: HttpRequest, product: Product, quantity: int, code: str) -> None:
    """A refused "add to cart" is demand lost: recorded once per visitor, product and day, so
    that trying again (or reloading) does not count the same customer twice."""
    key = f"refused:{product.sku}:{timezone.localdate().isoformat()}"
    if request.session.get(key):
        return
    services.demand_refused(product=product, quantity=quantity, reason=code or "unavailable")
    request.session[key] = True


def _checkout_fingerprint(basket: Cart, data: dict[str, Any]) -> str:
    payload = {"cart": basket.items, **{k: str(v) for k, v in data.items() if k != "shown"}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    """Details, delivery choice, and what ships when, before anything is ordered.

    Placing the order checks that what the shopper was shown still holds; if stock moved in
    the meantime the page shows the new picture instead of placing an order on old facts. The
    form's one-off key makes a double submit place one order.
    """
    basket = Cart(request.session)
    if not basket.items:
        messages.info(request, _("Your cart is empty."))
        return redirect("cart")
    view = cart_view(basket)
    if request.method == "GET":
        form = CheckoutForm(
            initial={"checkout_key": secrets.token_urlsafe(24), "shown": view.fingerprint()}
        )
        return _cart_page(request, basket, template="orders/checkout.html", view=view, form=form)

    form = CheckoutForm(request.POST)
    if not form.is_valid():
        return _cart_page(
            request, basket, template="orders/checkout.html", view=view, form=form, status=400
        )
    data = form.cleaned_data
    fresh = view.fingerprint()

    def again(message: str, status: int) -> HttpResponse:
        refreshed = request.POST.copy()
        refreshed["shown"] = fresh
        return _cart_page(
            request,
            basket,
            template="orders/checkout.html",
            view=None if status == 422 else view,
            form=CheckoutForm(refreshed),
            error=message,
            status=status,
        )

    if view.refused:
        return again(_("Some items cannot be ordered as they are: see below."), 422)
    if data["shown"] != fresh:
        return again(
            _(
                "Stock or dates changed while you were checking out. Please look at the dates"
                " below again; nothing has been ordered yet."
            ),
            409,
        )
    ship_complete = data["ship_complete"] if view.offers_choice else False
    try:
        order, _created = services.order_place_once(
            idempotency_key=f"checkout:{data['checkout_key']}",
            fingerprint=_checkout_fingerprint(basket, data),
            email=data["email"],
            name=data["name"],
            locale=customer_locale(),
            ship_complete=ship_complete,
            shipping=services.ShippingAddress(
                address=data["address"],
                city=data["city"],
                postal_code=data["postal_code"],
                country=data["country"],
                phone=data["phone"],
            ),
            lines=[services.LineRequest(row.product.sku, row.quantity) for row in view.rows],
        )
    except OrderRefused:
        return again(_("Some items cannot be ordered as they are: see below."), 422)
    except BackorderError as refused:
        return again(refused.message, refused.status)
    basket.clear()
    with translation.override(order.locale):
        messages.success(
            request,
            _(
                "Thank you! Order %(number)s is placed. We have emailed the confirmation to"
                " %(email)s."
            )
            % {"number": order.number, "email": order.email},
        )
    return redirect(order.get_absolute_url())


# The order status page -----------------------------------------------------------------------


def customer_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The order's pages: found only by number and token, in the order's language, never
    cached or indexed."""

    @wraps(view)
    def page(request: HttpRequest, number: str, token: str, **kwargs: Any) -> HttpResponse:
        order = selectors.order_for_customer(number, token)
        with translation.override(order.locale):
            response = view(request, order, **kwargs)
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return never_cache(page)


@require_safe
@customer_page
def order_detail(request: HttpRequest, order: Order) -> HttpResponse:
    return _status_page(request, order)


def _status_page(
    request: HttpRequest, order: Order, *, status: int = 200, **context: Any
) -> HttpResponse:
    page = selectors.order_page(order)
    lines = [view.line for view in page.lines]
    return render(
        request,
        "orders/status.html",
        {
            "order": order,
            "page": page,
            # Why some units have no cancel form: only while some have one and others not.
            "cancel_note": any(line.backordered for line in lines)
            and any(line.allocated or line.shipped for line in lines),
            "shipping_form": ShippingChoiceForm(
                initial={"ship_complete": "1" if order.ship_complete else "0"}
            ),
            "language_form": LanguageForm(initial={"locale": order.locale}),
            **context,
        },
        status=status,
    )


def _done(request: HttpRequest, order: Order, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect(order.get_absolute_url())


@require_POST
@customer_page
def order_line_cancel(request: HttpRequest, order: Order, line_id: int) -> HttpResponse:
    """Cancel backordered or pre-ordered units of a line (never allocated or shipped ones)."""
    line = next((line for line in order.lines.all() if line.pk == line_id), None)
    if line is None:
        return _status_page(request, order, status=404, error=_("That item is not in this order."))
    form = CancelForm(request.POST)
    if form.has_error("quantity", "max_value"):
        return _not_cancellable(request, order, line)
    if not form.is_valid():
        return _status_page(
            request,
            order,
            status=400,
            error=form.errors["quantity"][0],
            error_line=line.pk,
        )
    quantity = form.cleaned_data["quantity"]
    try:
        services.order_line_cancel(line_id=line.pk, quantity=quantity, by_customer=True)
    except NotCancellable:
        return _not_cancellable(request, order, line)
    except BackorderError as refused:
        return _status_page(request, order, status=refused.status, error=refused.message)
    return _done(
        request,
        order,
        ngettext(
            "Cancelled %(count)d of %(product)s. We have emailed you a confirmation.",
            "Cancelled %(count)d of %(product)s. We have emailed you a confirmation.",
            quantity,
        )
        % {"count": quantity, "product": line.product.name},
    )


def _not_cancellable(request: HttpRequest, order: Order, line: OrderLine) -> HttpResponse:
    """More units asked than the customer may cancel: say how many they may, as it stands now.

    The service decides under the lock; customers may cancel only units still waiting for stock
    (backordered or pre-ordered), never units in stock for them, shipped or cancelled.
    """
    left = OrderLine.objects.filter(pk=line.pk).values_list("backordered", flat=True).get()
    if left:
        error = ngettext(
            "You can cancel at most %(count)d of %(product)s: only units still waiting for"
            " stock can be cancelled here.",
            "You can cancel at most %(count)d of %(product)s: only units still waiting for"
            " stock can be cancelled here.",
            left,
        ) % {"count": left, "product": line.product.name}
    else:
        error = _(
            "Nothing of %(product)s can be cancelled here: only units still waiting for stock"
            " can be, and none of it is waiting."
        ) % {"product": line.product.name}
    return _status_page(
        request, order, status=NotCancellable.status, error=error, error_line=line.pk
    )


@require_POST
@customer_page
def order_shipping(request: HttpRequest, order: Order) -> HttpResponse:
    """Switch between shipping what is ready now and shipping everything together."""
    form = ShippingChoiceForm(request.POST)
    if not form.is_valid():
        return _status_page(request, order, status=400, error=_("Choose how we should ship."))
    try:
        services.order_ship_complete_set(
            order_id=order.pk, ship_complete=form.cleaned_data["ship_complete"], by_customer=True
        )
    except BackorderError as refused:
        message = refused.message
        if refused.fields.get("ship_complete") == "already shipping":
            message = _("Part of this order has shipped, so how it ships can no longer change.")
        return _status_page(request, order, status=refused.status, error=message)
    if form.cleaned_data["ship_complete"]:
        message = _("Done: we will ship everything together. We have emailed you a confirmation.")
    else:
        message = _(
            "Done: we will ship each item as soon as it is ready. We have emailed you a"
            " confirmation."
        )
    return _done(request, order, message)


@require_POST
@customer_page
def order_language(request: HttpRequest, order: Order) -> HttpResponse:
    """The language of this order's pages and emails, and of the rest of this visit."""
    form = LanguageForm(request.POST)
    if not form.is_valid():
        return _status_page(request, order, status=400, error=_("Choose English or Indonesian."))
    order = services.order_locale_set(order_id=order.pk, locale=form.cleaned_data["locale"])
    with translation.override(order.locale):
        messages.success(request, _("This order's pages and emails are now in English."))
    response = redirect(order.get_absolute_url())
    # The rest of the visit speaks it too, as the header's switcher (`set_language`) does.
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        order.locale,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response
