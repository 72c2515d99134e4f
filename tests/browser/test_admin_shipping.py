"""A warehouse clerk ships an order from the admin in a real browser, and the customer's
status page shows the shipment."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from playwright.sync_api import Browser

from inventory.stock import stock_receive
from orders.models import Shipment
from orders.selectors import order_status_url
from orders.services import LineRequest, order_place
from tests.browser.conftest import shot
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_clerk_ships_from_the_pick_list_and_the_customer_sees_it(
    live_server, browser: Browser, hoodie, settings
):
    # given: two hoodies in stock for Ayu's order, and a clerk of the warehouse role
    settings.SITE_URL = live_server.url
    stock_receive(product=hoodie, quantity=2)
    order = order_place(email="ayu@example.com", name="Ayu", lines=[LineRequest(hoodie.sku, 2)])
    call_command("setup_roles", verbosity=0)
    clerk = StaffFactory(username="gudang", is_superuser=False)
    clerk.groups.add(Group.objects.get(name="warehouse"))
    customer = browser.new_page(viewport={"width": 390, "height": 844})
    customer.goto(order_status_url(order))
    assert customer.get_by_text("2 in stock, ready to ship").is_visible()

    # when: the clerk signs in, opens the pick list and ships the order with its tracking
    admin = browser.new_page(viewport={"width": 1280, "height": 900})
    admin.goto(f"{live_server.url}/admin/")
    admin.get_by_label("Username").fill("gudang")
    admin.get_by_label("Password").fill("correct-horse-battery")
    admin.get_by_role("button", name="Log in").click()
    admin.get_by_role("link", name="Ready to ship (pick list)").first.click()
    admin.get_by_role("link", name=order.number).click()
    admin.get_by_role("link", name="Ship…").click()
    admin.get_by_label("Carrier").fill("JNE")
    admin.get_by_label("Tracking number").fill("JNE-7788")
    shot(admin, "admin-ship-1-form")
    admin.get_by_role("button", name="Record the shipment").click()
    shot(admin, "admin-ship-2-done")

    # then: the admin says so, and the customer's page shows the parcel
    assert admin.get_by_text(f"{order.number}: shipped 2 unit(s), JNE JNE-7788.").is_visible()
    shipment = Shipment.objects.get()
    assert (shipment.carrier, shipment.tracking, shipment.actor) == ("JNE", "JNE-7788", clerk)
    customer.reload()
    shot(customer, "admin-ship-3-customer")
    assert customer.get_by_text("Carrier: JNE").is_visible()
    assert customer.get_by_text("JNE-7788", exact=True).is_visible()
    assert customer.get_by_text("2 shipped").is_visible()
    customer.close()
    admin.close()
