"""Turn pending notifications into one email: plain text and HTML, in the customer's language."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import punycode
from django.utils.translation import gettext as _

from notifications.models import Notification
from orders.models import Order, OrderLine
from orders.selectors import order_status_url, order_totals

Kind = Notification.Kind

# Sections in the order a customer should read them.
SECTION_ORDER = [
    Kind.STATUS_LINK,
    Kind.CONFIRMATION,
    Kind.SHIPPED,
    Kind.ALLOCATED,
    Kind.DELAY,
    Kind.EARLIER,
    Kind.CANCELLED,
    Kind.KEPT,
    Kind.SHIPPING,
]
# Sections that list every line of the order, not only the lines their facts name.
WHOLE_ORDER = (Kind.CONFIRMATION, Kind.SHIPPING, Kind.STATUS_LINK)

_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def header_text(value: str, max_length: int = 200) -> str:
    """Text safe for a header: no CR, LF or other control characters, one line."""
    return " ".join(_UNSAFE.sub(" ", value).split())[:max_length]


def tidy_text(text: str) -> str:
    """Template output as a plain-text body: no trailing spaces, at most one blank line."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def _subjects() -> dict[str, str]:
    return {
        Kind.CONFIRMATION: _("Order %(number)s confirmed: when it ships"),
        Kind.DELAY: _("Order %(number)s: new ship date"),
        Kind.EARLIER: _("Good news: order %(number)s ships sooner"),
        Kind.ALLOCATED: _("Order %(number)s is ready to ship"),
        Kind.SHIPPED: _("Order %(number)s has shipped"),
        Kind.CANCELLED: _("Order %(number)s: items cancelled"),
        Kind.KEPT: _("Order %(number)s: thank you for waiting"),
        Kind.SHIPPING: _("Order %(number)s: delivery choice changed"),
        Kind.STATUS_LINK: _("Your link to order %(number)s"),
    }


def _titles() -> dict[str, str]:
    return {
        Kind.CONFIRMATION: _("Thank you for your order"),
        Kind.DELAY: _("Delay notice"),
        Kind.EARLIER: _("Good news: sooner than we said"),
        Kind.ALLOCATED: _("Ready to ship"),
        Kind.SHIPPED: _("On its way"),
        Kind.CANCELLED: _("Cancelled"),
        Kind.KEPT: _("Thank you for waiting"),
        Kind.SHIPPING: _("How we ship your order"),
        Kind.STATUS_LINK: _("Your order status link"),
    }


def status_label(line: OrderLine) -> str:
    """The line's status in the customer's words, with the split of a partly filled line."""
    if line.status in (OrderLine.Status.BACKORDERED, OrderLine.Status.PREORDERED) and (
        line.allocated
    ):
        split = {"ready": line.allocated, "waiting": line.backordered}
        if line.order.ship_complete:
            return _("%(ready)s in stock, %(waiting)s backordered") % split
        ships = timezone.localdate() + timedelta(days=settings.BACKORDER_HANDLING_DAYS)
        return _("%(ready)s in stock, ships %(date)s; %(waiting)s backordered") % {
            **split,
            "date": ships.isoformat(),
        }
    labels = {
        OrderLine.Status.ALLOCATED: _("In stock, ready to ship"),
        OrderLine.Status.BACKORDERED: _("Backordered"),
        OrderLine.Status.PREORDERED: _("Pre-ordered"),
        OrderLine.Status.SHIPPED: _("Shipped"),
        OrderLine.Status.CANCELLED: _("Cancelled"),
    }
    return labels.get(OrderLine.Status(line.status), line.status)


@dataclass
class Entry:
    """One line of the order in one section of the email."""

    line: OrderLine
    quantity: int
    status: str
    previous_eta: str | None = None
    carrier: str = ""
    tracking: str = ""
    reason: str = ""
    cancel_url: str = ""
    still_on_order: int = 0
    """For a cancellation: the line's units not cancelled and not yet shipped."""

    @property
    def eta(self) -> date | None:
        return self.line.eta

    @property
    def eta_label(self) -> str:
        if self.line.status == OrderLine.Status.SHIPPED:
            return _("Shipped on")
        if self.line.status == OrderLine.Status.CANCELLED:
            return _("Ship date")
        return _("Estimated ship date")

    @property
    def eta_text(self) -> str:
        """The date as YYYY-MM-DD, or what stands in for it."""
        if self.line.eta is not None:
            return self.line.eta.isoformat()
        if self.line.status == OrderLine.Status.CANCELLED:
            return _("none, cancelled")
        return _("not known yet")


@dataclass
class Section:
    kind: str
    title: str
    entries: list[Entry] = field(default_factory=list)
    by_customer: bool = False
    tracking: str = ""
    ship_complete: bool = False


def _message_id(rows: list[Notification], domain: str) -> str:
    """The same rows always make the same Message-ID, so a resend can be recognised."""
    digest = hashlib.sha256(",".join(row.key for row in rows).encode()).hexdigest()[:24]
    return f"<{digest}.{rows[0].pk}@{domain}>"


def ascii_address(address: str) -> str:
    """`address` with its domain in IDNA form (`ani@xn--exmple-cua.com`), as mail headers and
    SMTP without SMTPUTF8 need it. Input validation admits non-ASCII only in the domain."""
    local, at, domain = address.rpartition("@")
    return f"{local}{at}{punycode(domain)}" if at else address


def _domain() -> str:
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return address.rpartition("@")[2] or urlsplit(settings.SITE_URL).hostname or "localhost"


def build_email(rows: list[Notification]) -> EmailMultiAlternatives:
    """One email telling everything in `rows`, which share one order (or one alert); a row
    to a supplier or to staff is an email by itself."""
    first = rows[0]
    attachments: list[tuple[str, str, str]] = []
    with translation.override(first.locale):
        thread = ""
        if first.order_id is not None:
            subject, context, thread = _order_email(rows)
            template = "notifications/email/order"
        elif first.alert_id is not None:
            subject, context = _alert_email(first)
            template = "notifications/email/back_in_stock"
        elif first.kind == Kind.PURCHASE_ORDER:
            subject, context = _purchase_order_email(first)
            template = "notifications/email/purchase_order"
            attachments.append(
                (f"{first.data['number']}.csv", purchase_order_csv(first.data), "text/csv")
            )
        else:
            subject, context = _staff_email(first)
            template = "notifications/email/staff"
        text = tidy_text(render_to_string(f"{template}.txt", context))
        html = render_to_string(f"{template}.html", context)
    domain = _domain()
    headers = {
        "Message-ID": _message_id(rows, domain),
        "Auto-Submitted": "auto-generated",
        "Content-Language": first.locale,
    }
    if thread:
        # Every email about one order threads together in the customer's mail client.
        headers["References"] = headers["In-Reply-To"] = f"<{thread}@{domain}>"
    name = header_text(context.get("name", ""), 100)
    message = EmailMultiAlternatives(
        subject=header_text(subject, 250),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[formataddr((name, ascii_address(first.to))) if name else ascii_address(first.to)],
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    for attachment in attachments:
        message.attach(*attachment)
    return message


def _order_email(rows: list[Notification]) -> tuple[str, dict[str, Any], str]:
    order = Order.objects.get(pk=rows[0].order_id or 0)
    lines = {line.pk: line for line in order.lines.select_related("product").order_by("pk")}
    status_url = order_status_url(order)
    titles = _titles()
    sections: list[Section] = []
    for kind in SECTION_ORDER:
        kind_rows = [row for row in rows if row.kind == kind]
        if not kind_rows:
            continue
        section = Section(kind=kind, title=titles[kind])
        if kind in WHOLE_ORDER:
            section.ship_complete = bool(kind_rows[-1].data.get("ship_complete"))
            section.by_customer = bool(kind_rows[-1].data.get("by_customer"))
            section.entries = [
                Entry(line=line, quantity=line.quantity, status=status_label(line))
                for line in lines.values()
            ]
            sections.append(section)
            continue
        merged = kind in (Kind.DELAY, Kind.EARLIER, Kind.ALLOCATED)
        position: dict[int, int] = {}
        for row in kind_rows:
            section.by_customer = section.by_customer or bool(row.data.get("by_customer"))
            for fact in row.data.get("lines", []):
                line = lines.get(fact["id"])
                if line is None:
                    continue
                entry = Entry(
                    line=line,
                    quantity=fact.get("quantity") or line.quantity,
                    status=status_label(line),
                    previous_eta=fact.get("previous_eta"),
                    carrier=row.data.get("carrier", ""),
                    tracking=row.data.get("tracking", ""),
                    reason=row.data.get("reason", ""),
                )
                if kind == Kind.CANCELLED:
                    entry.still_on_order = line.outstanding
                if kind == Kind.DELAY and line.backordered:
                    entry.cancel_url = f"{status_url}delays/{row.pk}/lines/{line.pk}/"
                if merged and line.pk in position:
                    # Several facts about one line in one email: from the first date told.
                    before = section.entries[position[line.pk]]
                    entry.previous_eta = before.previous_eta
                    if kind == Kind.ALLOCATED:
                        entry.quantity += before.quantity
                    section.entries[position[line.pk]] = entry
                else:
                    position[line.pk] = len(section.entries)
                    section.entries.append(entry)
        if section.entries:
            sections.append(section)
    kinds = {section.kind for section in sections}
    subjects = _subjects()
    if len(kinds) == 1:
        subject = subjects[next(iter(kinds))]
    else:
        subject = _("Update on your order %(number)s")
    context = {
        "order": order,
        "name": order.name,
        "sections": sections,
        "status_url": status_url,
        "totals": order_totals(list(lines.values())),
        "waiting_elsewhere": order.ship_complete
        and any(line.backordered for line in lines.values()),
    }
    return subject % {"number": order.number}, context, f"order.{order.number}"


def _alert_email(row: Notification) -> tuple[str, dict[str, Any]]:
    alert = row.alert
    assert alert is not None
    product = alert.product
    context = {
        "product": product,
        "name": "",
        "product_url": settings.SITE_URL + reverse("product", args=[product.sku]),
    }
    return _("Back in stock: %(product)s") % {"product": product.name}, context


def purchase_order_csv(data: dict[str, Any]) -> str:
    """The placed lines as CSV, for the supplier's system: one row per line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["sku", "supplier_sku", "name", "quantity", "expected_date", "unit_cost"])
    for line in data.get("lines", []):
        writer.writerow(
            [
                line["sku"],
                line.get("supplier_sku", ""),
                line.get("name", ""),
                line["quantity"],
                line.get("expected_date") or "",
                line.get("unit_cost") or "",
            ]
        )
    return buffer.getvalue()


def _purchase_order_email(row: Notification) -> tuple[str, dict[str, Any]]:
    purchase_order = row.purchase_order
    assert purchase_order is not None
    context = {
        "name": purchase_order.supplier.name,
        "number": row.data["number"],
        "lines": row.data.get("lines", []),
        "warehouse": purchase_order.warehouse.name,
        "shop": settings.BACKORDER_SHOP_NAME,
    }
    subject = _("Purchase order %(number)s from %(shop)s") % {
        "number": row.data["number"],
        "shop": settings.BACKORDER_SHOP_NAME,
    }
    return subject, context


def _staff_email(row: Notification) -> tuple[str, dict[str, Any]]:
    """Staff emails are in the backoffice's language, English."""
    data = row.data
    context: dict[str, Any] = {"name": "", "kind": row.kind, "data": data}
    if row.kind == Kind.SPIKE:
        context["url"] = settings.SITE_URL + reverse("admin:report_forecast", args=[data["sku"]])
        subject = f"Demand spike: {data['sku']} {data['name']}"
    elif row.kind == Kind.VERIFICATION:
        context["url"] = settings.SITE_URL + reverse(
            "admin:inventory_stockverification_change", args=[row.verification_id]
        )
        subject = (
            f"Stock verification: {data['repaired']} repaired,"
            f" {data['unexplained']} left for you to look at"
        )
    else:
        purchase_order = row.purchase_order
        assert purchase_order is not None
        context["url"] = settings.SITE_URL + reverse(
            "admin:inventory_purchaseorder_change", args=[purchase_order.pk]
        )
        verb = "placed automatically" if data["placed"] else "held back by the daily cap"
        subject = f"{data['number']} to {data['supplier']} {verb}"
    return subject, context
