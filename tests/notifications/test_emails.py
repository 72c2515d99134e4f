"""Each kind of customer email, in English and Indonesian, through a real SMTP server."""

from __future__ import annotations

import functools
from datetime import timedelta

import pytest

from inventory.exceptions import AlertNotNeeded
from inventory.models import Product
from inventory.purchasing import (
    PurchaseLineRequest,
    ReceiptRequest,
    purchase_order_cancel,
    purchase_order_create,
    purchase_order_line_reschedule,
    purchase_order_receive,
)
from inventory.stock import stock_adjust, stock_receive
from notifications.alerts import stock_alert_subscribe
from notifications.answers import delay_answer
from notifications.delivery import notifications_deliver
from notifications.models import Notification, StockAlert
from notifications.outbox import status_link_notice
from orders.models import EtaChange, Order, OrderLine
from orders.selectors import order_status_url
from orders.services import (
    LineRequest,
    order_line_cancel,
    order_place,
    order_ship_complete_set,
    shipment_create,
)
from tests import helpers
from tests.factories import ProductFactory, SupplierFactory
from tests.helpers import iso_in_days, purchase, refresh, today
from tests.smtp import Mailbox, Received

pytestmark = pytest.mark.django_db
Kind = Notification.Kind
Cause = EtaChange.Cause
# Every order of these tests is Ana Wijaya's: the emails greet her by name.
place = functools.partial(helpers.place, who="ana", name="Ana Wijaya")


def deliver(mailbox: Mailbox) -> list[Received]:
    """Send everything pending now; return the emails this delivery added."""
    before = len(mailbox.messages)
    pending = Notification.objects.filter(status=Notification.Status.PENDING)
    notifications_deliver(ids=list(pending.values_list("pk", flat=True)))
    return mailbox.messages[before:]


# Order confirmation ---------------------------------------------------------------------------


def test_confirmation_tells_each_line_its_status_and_eta(smtp, hoodie):
    # given: one cap in stock, the hoodie sold out (ships in 14 days)
    cap = ProductFactory(sku="CAP", name="Logo Cap")
    stock_receive(product=cap, quantity=5)
    order = place((cap, 1), (hoodie, 2))

    # when
    [email] = deliver(smtp)

    # then
    assert email.subject == f"Order {order.number} confirmed: when it ships"
    assert email.message["To"] == "Ana Wijaya <ana@example.com>"
    assert email.envelope_to == ["ana@example.com"]
    assert email.message["Auto-Submitted"] == "auto-generated"
    assert email.message["Content-Language"] == "en"
    assert email.message["References"] == f"<order.{order.number}@localhost>"
    text = email.text
    assert "Hello Ana Wijaya," in text
    assert (
        "- Logo Cap (CAP) x 1\n"
        "  Status: In stock, ready to ship\n"
        f"  Estimated ship date: {iso_in_days(0)}\n"
    ) in text
    assert (
        "- Special Edition Hoodie (HOODIE-SE) x 2\n"
        "  Status: Backordered\n"
        f"  Estimated ship date: {iso_in_days(14)}\n"
    ) in text
    # A cap at the factory's 100,000 and two hoodies: nothing shipped or cancelled yet.
    assert "\nOrder total: Rp300,000\n" in text
    assert order_status_url(order) in text
    html = email.html
    assert "Order total: <strong>Rp300,000</strong></p>" in html
    assert f'<time datetime="{iso_in_days(14)}">' in html
    assert f'href="{order_status_url(order)}"' in html
    assert '<html lang="en">' in html
    row = Notification.objects.get(order=order)
    assert (row.kind, row.status, row.attempts, row.last_error) == (
        Kind.CONFIRMATION,
        "sent",
        1,
        "",
    )
    assert row.message_id == email.message["Message-ID"]
    assert list(order.lines.values_list("notified_eta", flat=True)) == [
        today(),
        today() + timedelta(days=14),
    ]


def test_confirmation_in_indonesian(smtp, hoodie):
    # given
    stock_receive(product=hoodie, quantity=1)
    order = place((hoodie, 3), locale="id")

    # when
    [email] = deliver(smtp)

    # then
    assert email.subject == f"Pesanan {order.number} dikonfirmasi: kapan dikirim"
    assert email.message["Content-Language"] == "id"
    assert email.text.startswith("Halo Ana Wijaya,\n\n== Terima kasih atas pesanan Anda ==")
    assert (
        "- Special Edition Hoodie (HOODIE-SE) x 3\n"
        f"  Status: 1 tersedia, dikirim {iso_in_days(0)}; 2 backorder\n"
        f"  Estimasi tanggal kirim: {iso_in_days(14)}\n"
    ) in email.text
    assert "Pesanan Anda, lengkap dengan semua tanggal, kapan saja:" in email.text
    assert order_status_url(order) in email.text
    assert '<html lang="id">' in email.html
    assert "Lihat pesanan Anda" in email.html


def test_a_preorder_confirmation_says_pre_ordered_and_release_day(smtp, default_warehouse):
    # given
    album = ProductFactory(
        sku="ALBUM",
        name="Album",
        backorder_policy=Product.BackorderPolicy.PREORDER,
        release_date=today() + timedelta(days=30),
    )

    # when
    order = place((album, 1))
    [email] = deliver(smtp)

    # then
    assert order.lines.get().status == OrderLine.Status.PREORDERED
    assert f"  Status: Pre-ordered\n  Estimated ship date: {iso_in_days(30)}\n" in email.text


def test_a_partly_filled_line_says_when_its_stock_ships_unless_the_order_ships_complete(
    smtp, hoodie
):
    # given: one hoodie on the shelf for each of two orders of two
    stock_receive(product=hoodie, quantity=1)
    ships_now = place((hoodie, 2))
    [first] = deliver(smtp)
    stock_receive(product=hoodie, quantity=1)
    refresh(hoodie)
    deliver(smtp)
    stock_receive(product=hoodie, quantity=1)

    # when
    together = place((hoodie, 2), ship_complete=True)
    [second] = deliver(smtp)

    # then
    assert ships_now.lines.get().allocated == 2
    assert f"  Status: 1 in stock, ships {iso_in_days(0)}; 1 backordered\n" in first.text
    assert together.lines.get().allocated == 1
    assert "  Status: 1 in stock, 1 backordered\n" in second.text


# Delay notices and good news -----------------------------------------------------------------


def test_a_later_delivery_sends_a_delay_notice_with_a_cancel_link(smtp, hoodie):
    # given: the order is told the purchase order's date
    purchase_order = purchase(hoodie, 10, days=5)
    order = place((hoodie, 2))
    deliver(smtp)
    line = order.lines.get()
    assert line.notified_eta == today() + timedelta(days=5)

    # when: the supplier pushes the delivery back one day
    purchase_order_line_reschedule(
        line_id=purchase_order.lines.get().pk, expected_date=today() + timedelta(days=6)
    )
    refresh(hoodie, Cause.PO_DATE_CHANGED)
    [email] = deliver(smtp)

    # then
    notice = Notification.objects.get(order=order, kind=Kind.DELAY)
    link = f"{order_status_url(order)}delays/{notice.pk}/lines/{line.pk}/"
    assert email.subject == f"Order {order.number}: new ship date"
    assert (
        "- Special Edition Hoodie (HOODIE-SE) x 2\n"
        "  Status: Backordered\n"
        f"  Estimated ship date: {iso_in_days(6)} (we said {iso_in_days(5)})\n"
        "  Rather not wait? Cancel the 2 backordered units:\n"
        f"  {link}\n"
    ) in email.text
    assert "your order keeps its place in the queue" in email.text
    assert f'href="{link}"' in email.html
    assert notice.data["cause"] == Cause.PO_DATE_CHANGED
    line.refresh_from_db()
    assert line.notified_eta == today() + timedelta(days=6)


def test_a_delay_notice_says_plainly_when_no_date_is_known(smtp, default_warehouse):
    # given: a product with no lead time, waiting on a purchase order
    lamp = ProductFactory(sku="LAMP", name="Desk Lamp", lead_time_days=None)
    purchase_order = purchase(lamp, 5, days=7)
    order = place((lamp, 1), locale="id")
    deliver(smtp)

    # when: the purchase order is cancelled
    purchase_order_cancel(purchase_order_id=purchase_order.pk)
    refresh(lamp, Cause.PO_CANCELLED)
    [email] = deliver(smtp)

    # then
    assert order.lines.get().eta is None
    assert email.subject == f"Pesanan {order.number}: tanggal kirim baru"
    assert (
        f"  Estimasi tanggal kirim: belum diketahui (sebelumnya {iso_in_days(7)})\n" in email.text
    )
    assert "Tidak ingin menunggu? Batalkan 1 unit backorder:" in email.text


def test_good_news_needs_the_eta_to_move_two_days_earlier_than_told(smtp, hoodie):
    # given
    purchase_order = purchase(hoodie, 10, days=10)
    order = place((hoodie, 1))
    deliver(smtp)
    po_line = purchase_order.lines.get()

    # when: one day earlier, then another
    purchase_order_line_reschedule(line_id=po_line.pk, expected_date=today() + timedelta(days=9))
    refresh(hoodie, Cause.PO_DATE_CHANGED)
    after_one_day = deliver(smtp)
    purchase_order_line_reschedule(line_id=po_line.pk, expected_date=today() + timedelta(days=8))
    refresh(hoodie, Cause.PO_DATE_CHANGED)
    after_two_days = deliver(smtp)

    # then: one email, measured against the date the customer was told
    assert after_one_day == []
    [email] = after_two_days
    assert email.subject == f"Good news: order {order.number} ships sooner"
    assert f"  Estimated ship date: {iso_in_days(8)} (we said {iso_in_days(10)})\n" in email.text
    assert order.lines.get().notified_eta == today() + timedelta(days=8)


def test_the_earlier_notice_threshold_is_a_setting(smtp, hoodie, settings):
    # given
    settings.BACKORDER_EARLIER_NOTICE_DAYS = 1
    purchase_order = purchase(hoodie, 10, days=10)
    place((hoodie, 1))
    deliver(smtp)

    # when
    purchase_order_line_reschedule(
        line_id=purchase_order.lines.get().pk, expected_date=today() + timedelta(days=9)
    )
    refresh(hoodie, Cause.PO_DATE_CHANGED)

    # then
    [email] = deliver(smtp)
    assert "ships sooner" in email.subject


def test_moving_back_to_the_date_told_sends_nothing(smtp, hoodie):
    # given: a one-day improvement (not told), then back to the original date
    purchase_order = purchase(hoodie, 10, days=10)
    place((hoodie, 1))
    deliver(smtp)
    po_line = purchase_order.lines.get()

    # when
    purchase_order_line_reschedule(line_id=po_line.pk, expected_date=today() + timedelta(days=9))
    refresh(hoodie, Cause.PO_DATE_CHANGED)
    purchase_order_line_reschedule(line_id=po_line.pk, expected_date=today() + timedelta(days=10))
    refresh(hoodie, Cause.PO_DATE_CHANGED)

    # then: the customer's date never moved
    assert deliver(smtp) == []
    assert Notification.objects.filter(kind__in=[Kind.DELAY, Kind.EARLIER]).count() == 0


def test_a_new_day_past_all_supply_is_a_delay_too(smtp, hoodie):
    # given: no purchase order, so the ETA is today plus the 14-day lead time
    order = place((hoodie, 1))
    deliver(smtp)

    # when: tomorrow comes with still nothing ordered from the supplier
    refresh(hoodie, Cause.DAY_ROLLOVER, today=today() + timedelta(days=1))
    [email] = deliver(smtp)

    # then
    assert email.subject == f"Order {order.number}: new ship date"
    assert f"  Estimated ship date: {iso_in_days(15)} (we said {iso_in_days(14)})\n" in email.text


def test_one_email_per_order_when_a_refresh_moves_several_of_its_lines(smtp, default_warehouse):
    # given: five products of one order wait on one purchase order
    products = [ProductFactory(sku=f"P{n}", name=f"Product {n}") for n in range(5)]
    purchase_order = purchase_order_create(
        supplier=SupplierFactory(),
        lines=[PurchaseLineRequest(p.sku, 3, today() + timedelta(days=4)) for p in products],
    )
    order = place(*[(p, 2) for p in products])
    other = order_place(
        email="budi@example.com", name="Budi", lines=[LineRequest(products[0].sku, 1)]
    )
    deliver(smtp)

    # when: the purchase order arrives and each product is refreshed
    purchase_order_receive(
        purchase_order_id=purchase_order.pk,
        lines=[ReceiptRequest(quantity=3, sku=p.sku) for p in products],
    )
    for product in products:
        refresh(product, Cause.PO_RECEIVED)
    emails = deliver(smtp)

    # then: one email per customer, Ana's listing all five lines
    assert sorted(e.envelope_to[0] for e in emails) == ["ana@example.com", "budi@example.com"]
    ana = next(e for e in emails if e.envelope_to == ["ana@example.com"])
    assert ana.subject == f"Order {order.number} is ready to ship"
    assert ana.text.count("  Status: In stock, ready to ship\n") == 5
    assert Notification.objects.filter(order=order, kind=Kind.ALLOCATED).count() == 5
    assert set(Notification.objects.filter(order=order).values_list("message_id", flat=True)) - {
        ana.message["Message-ID"]
    } == {Notification.objects.get(order=order, kind=Kind.CONFIRMATION).message_id}
    assert other.lines.get().status == OrderLine.Status.ALLOCATED


# Allocated, shipped, cancelled ----------------------------------------------------------------


def test_a_filled_backorder_is_ready_to_ship(smtp, hoodie):
    # given
    order = place((hoodie, 2), locale="id")
    deliver(smtp)

    # when
    stock_receive(product=hoodie, quantity=2)
    refresh(hoodie)
    [email] = deliver(smtp)

    # then
    assert email.subject == f"Pesanan {order.number} siap dikirim"
    assert (
        "- Special Edition Hoodie (HOODIE-SE) x 2\n"
        "  Status: Tersedia, siap dikirim\n"
        f"  Estimasi tanggal kirim: {iso_in_days(0)}\n"
    ) in email.text


def test_ship_complete_orders_are_told_they_wait_for_the_rest(smtp, hoodie):
    # given
    cap = ProductFactory(sku="CAP", name="Logo Cap")
    place((hoodie, 1), (cap, 1), ship_complete=True)
    deliver(smtp)

    # when: only the hoodie arrives
    stock_receive(product=hoodie, quantity=1)
    refresh(hoodie)
    [email] = deliver(smtp)

    # then
    assert "we will send your order once every item is here" in email.text


def test_a_shipment_is_told_with_its_tracking_number(smtp, hoodie):
    # given
    stock_receive(product=hoodie, quantity=2)
    order = place((hoodie, 2))
    deliver(smtp)
    line = order.lines.get()

    # when
    shipment_create(order=order, lines=[(line.pk, 2)], tracking="JNE-12345")
    [email] = deliver(smtp)

    # then
    assert email.subject == f"Order {order.number} has shipped"
    assert (
        "- Special Edition Hoodie (HOODIE-SE) x 2\n"
        "  Status: Shipped\n"
        f"  Shipped on: {iso_in_days(0)}\n"
        "  Tracking number: JNE-12345\n"
    ) in email.text


def test_staff_cancellation_gives_the_reason(smtp, hoodie):
    # given
    order = place((hoodie, 3), locale="id")
    deliver(smtp)

    # when
    order_line_cancel(line_id=order.lines.get().pk, quantity=1, reason="Supplier discontinued")
    [email] = deliver(smtp)

    # then
    assert email.subject == f"Pesanan {order.number}: barang dibatalkan"
    assert "Dengan berat hati kami membatalkan barang berikut." in email.text
    assert (
        "- Special Edition Hoodie (HOODIE-SE) x 1\n"
        "  Masih dipesan: 2\n"
        "  Status: Backorder\n"
        f"  Estimasi tanggal kirim: {iso_in_days(14)}\n"
        "  Alasan: Supplier discontinued\n"
    ) in email.text
    assert "\nTotal pesanan: Rp200.000 (Rp200.000 belum dikirim, Rp100.000 dibatalkan)\n" in (
        email.text
    )


def test_customer_cancellation_is_confirmed(smtp, hoodie):
    # given
    order = place((hoodie, 2))
    deliver(smtp)

    # when
    order_line_cancel(line_id=order.lines.get().pk, by_customer=True)
    [email] = deliver(smtp)

    # then
    assert "As you asked, these items are cancelled." in email.text
    assert (
        "- Special Edition Hoodie (HOODIE-SE) x 2\n"
        "  Status: Cancelled\n"
        "  Ship date: none, cancelled\n"
    ) in email.text
    assert "Reason" not in email.text


# Back in stock --------------------------------------------------------------------------------


@pytest.fixture
def sold_out(default_warehouse) -> Product:
    return ProductFactory(
        sku="MUG", name="Enamel Mug", backorder_policy=Product.BackorderPolicy.DENY
    )


def test_back_in_stock_tells_each_waiting_customer_once(smtp, sold_out):
    # given
    first = stock_alert_subscribe(product=sold_out, email="citra@example.com", locale="id")
    again = stock_alert_subscribe(product=sold_out, email="Citra@example.com", locale="id")
    stock_alert_subscribe(product=sold_out, email="dewi@example.com", locale="en")

    # when
    stock_receive(product=sold_out, quantity=4)
    emails = deliver(smtp)
    stock_receive(product=sold_out, quantity=4)

    # then
    assert again == first
    assert sorted((e.envelope_to[0], e.subject) for e in emails) == [
        ("citra@example.com", "Tersedia lagi: Enamel Mug"),
        ("dewi@example.com", "Back in stock: Enamel Mug"),
    ]
    dewi = next(e for e in emails if e.envelope_to == ["dewi@example.com"])
    assert "http://testserver/products/MUG/" in dewi.text
    assert StockAlert.objects.filter(notified_at__isnull=True).count() == 0
    assert deliver(smtp) == []


def test_back_in_stock_waits_until_stock_is_free(smtp, sold_out):
    # given: stock counted up but all of it allocated stays sold out
    stock_alert_subscribe(product=sold_out, email="citra@example.com", locale="en")
    stock_receive(product=sold_out, quantity=1)
    deliver(smtp)
    assert StockAlert.objects.get().notified_at is not None
    order = place((sold_out, 1))
    stock_alert_subscribe(product=sold_out, email="dewi@example.com", locale="en")

    # when: the order is cancelled, freeing the unit
    order_line_cancel(line_id=order.lines.get().pk, reason="Changed mind")
    emails = deliver(smtp)

    # then
    assert sorted(e.envelope_to[0] for e in emails) == ["ana@example.com", "dewi@example.com"]


def test_no_alert_for_a_product_that_can_be_ordered(smtp, hoodie, sold_out):
    # given
    stock_adjust(product=sold_out, quantity=2, reason="Found in the back")

    # when / then
    with pytest.raises(AlertNotNeeded):
        stock_alert_subscribe(product=hoodie, email="citra@example.com", locale="en")
    with pytest.raises(AlertNotNeeded):
        stock_alert_subscribe(product=sold_out, email="citra@example.com", locale="en")
    assert StockAlert.objects.count() == 0


# Every kind in both languages -------------------------------------------------------------


def _confirmation(product: Product) -> None:
    pass


def _delay(product: Product) -> None:
    refresh(product, Cause.DAY_ROLLOVER, today=today() + timedelta(days=1))


def _earlier(product: Product) -> None:
    purchase(product, 5, days=3)
    refresh(product, Cause.PO_CREATED)


def _allocated(product: Product) -> None:
    stock_receive(product=product, quantity=1)
    refresh(product)


def _shipped(product: Product) -> None:
    _allocated(product)
    notifications_deliver(ids=list(Notification.objects.values_list("pk", flat=True)))
    line = OrderLine.objects.get(product=product)
    shipment_create(order=line.order, lines=[(line.pk, 1)], tracking="SICEPAT-77")


def _cancelled(product: Product) -> None:
    order_line_cancel(line_id=OrderLine.objects.get(product=product).pk, reason="Recalled")


def _kept(product: Product) -> None:
    _delay(product)
    notifications_deliver(ids=list(Notification.objects.values_list("pk", flat=True)))
    line = OrderLine.objects.get(product=product)
    notice = Notification.objects.get(kind=Notification.Kind.DELAY)
    delay_answer(notification=notice, line=line, answer="keep")


def _shipping(product: Product) -> None:
    line = OrderLine.objects.get(product=product)
    order_ship_complete_set(order_id=line.order_id, ship_complete=True, by_customer=True)


def _status_link(product: Product) -> None:
    status_link_notice(order=OrderLine.objects.get(product=product).order)


KINDS = {
    "confirmation": (
        _confirmation,
        ("Order {n} confirmed: when it ships", "Pesanan {n} dikonfirmasi: kapan dikirim"),
        ("Status: Backordered", "Status: Backorder"),
        14,
    ),
    "delay": (
        _delay,
        ("Order {n}: new ship date", "Pesanan {n}: tanggal kirim baru"),
        ("Rather not wait?", "Tidak ingin menunggu?"),
        15,
    ),
    "earlier": (
        _earlier,
        ("Good news: order {n} ships sooner", "Kabar baik: pesanan {n} dikirim lebih cepat"),
        ("ship sooner than we last told you", "dikirim lebih cepat dari yang terakhir"),
        3,
    ),
    "allocated": (
        _allocated,
        ("Order {n} is ready to ship", "Pesanan {n} siap dikirim"),
        ("Status: In stock, ready to ship", "Status: Tersedia, siap dikirim"),
        0,
    ),
    "shipped": (
        _shipped,
        ("Order {n} has shipped", "Pesanan {n} sudah dikirim"),
        ("Tracking number: SICEPAT-77", "Nomor resi: SICEPAT-77"),
        0,
    ),
    "cancelled": (
        _cancelled,
        ("Order {n}: items cancelled", "Pesanan {n}: barang dibatalkan"),
        ("Reason: Recalled", "Alasan: Recalled"),
        None,
    ),
    "kept": (
        _kept,
        ("Order {n}: thank you for waiting", "Pesanan {n}: terima kasih sudah menunggu"),
        ("They keep their place in the queue", "tetap di tempatnya dalam antrean"),
        15,
    ),
    "shipping": (
        _shipping,
        ("Order {n}: delivery choice changed", "Pesanan {n}: pilihan pengiriman diubah"),
        ("we will ship everything together", "kami akan mengirim semuanya sekaligus"),
        14,
    ),
    "status_link": (
        _status_link,
        ("Your link to order {n}", "Tautan ke pesanan {n} Anda"),
        ("Someone, hopefully you, asked for the link", "Seseorang, semoga Anda, meminta tautan"),
        14,
    ),
}


@pytest.mark.parametrize("locale", ["en", "id"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_email_in_both_languages(smtp, hoodie, kind, locale):
    # given: a backordered hoodie, its confirmation already sent unless that is the test
    happen, subjects, phrase, days = KINDS[kind]
    order = place((hoodie, 1), locale=locale)
    if kind != "confirmation":
        deliver(smtp)

    # when
    happen(hoodie)
    [email] = deliver(smtp)

    # then: subject with the order number, the line's status and date, the status link
    english = locale == "en"
    assert email.subject == subjects[0 if english else 1].format(n=order.number)
    assert email.message["Content-Language"] == locale
    assert phrase[0 if english else 1] in email.text
    assert "- Special Edition Hoodie (HOODIE-SE) x 1\n" in email.text
    if days is not None:
        assert f": {iso_in_days(days)}" in email.text
        assert f'<time datetime="{iso_in_days(days)}">' in email.html
    assert order_status_url(order) in email.text
    assert f'href="{order_status_url(order)}"' in email.html
    assert f'<html lang="{locale}">' in email.html


# Headers --------------------------------------------------------------------------------------


def test_a_name_with_line_breaks_cannot_inject_headers(smtp, hoodie):
    # given: a name written past the services' checks
    order = place((hoodie, 1))
    Order.objects.filter(pk=order.pk).update(name="Eve\r\nBcc: victim@example.com\r\nSubject: hi")

    # when
    [email] = deliver(smtp)

    # then
    assert email.envelope_to == ["ana@example.com"]
    assert email.message["Bcc"] is None
    assert email.message["To"] == '"Eve Bcc: victim@example.com Subject: hi" <ana@example.com>'
    assert email.subject == f"Order {order.number} confirmed: when it ships"


# Internationalised addresses -----------------------------------------------------------------


def test_an_order_to_an_internationalised_domain_is_sent_with_its_idna_form(smtp, hoodie, client):
    # given: an order placed through the API with a non-ASCII domain
    response = client.post(
        "/api/v1/orders",
        {"email": "ani@exämple.com", "name": "Ani", "lines": [{"sku": "HOODIE-SE", "quantity": 1}]},
        content_type="application/json",
    )
    assert response.status_code == 201

    # when
    [email] = deliver(smtp)

    # then: the order keeps the address as typed; the email goes to its IDNA form
    assert Order.objects.get().email == "ani@exämple.com"
    assert email.envelope_to == ["ani@xn--exmple-cua.com"]
    assert email.message["To"] == "Ani <ani@xn--exmple-cua.com>"
    assert Notification.objects.get().status == Notification.Status.SENT


def test_back_in_stock_to_an_internationalised_domain_is_sent(smtp, sold_out):
    stock_alert_subscribe(product=sold_out, email="dewi@bücher.example", locale="en")
    stock_receive(product=sold_out, quantity=1)

    [email] = deliver(smtp)

    assert email.envelope_to == ["dewi@xn--bcher-kva.example"]
    assert email.subject == "Back in stock: Enamel Mug"
