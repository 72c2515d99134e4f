"""The README's examples run as written against `make run`'s demo data."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection
from django.test import RequestFactory

from inventory.models import Product, PurchaseOrder
from orders.models import Order, OrderLine
from tests.helpers import iso_in_days
from tests.worker import celery_worker, wait_until

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CURL = "/usr/bin/curl"


def _shell_blocks_with(text: str) -> list[str]:
    return [block for block in re.findall(r"```sh\n(.*?)```", README, re.S) if text in block]


def _seed(settings) -> None:
    settings.DEBUG = True  # The demo login exists only where DEBUG is on, as under `make run`.
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115


@pytest.fixture
def demo(settings, default_warehouse):
    # Purchase orders are numbered from 1, as in a fresh `make run` database.
    assert not PurchaseOrder.objects.exists()
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [PurchaseOrder]):
            cursor.execute(sql)
    _seed(settings)


@pytest.mark.django_db(transaction=True)
def test_api_examples_run_as_written_against_the_demo_data(demo, live_server, tmp_path):
    # given the demo data and the README's curl examples, pointed at this server; a curl
    # that fails on any HTTP error and ends each answer with a newline
    [block] = _shell_blocks_with("curl")
    script = block.replace("localhost:8000", live_server.url.removeprefix("http://"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(f'#!/bin/sh\nexec {CURL} --fail-with-body -w "\\n" "$@"\n')
    (bin_dir / "curl").chmod(0o755)
    waiting_before = OrderLine.objects.filter(product__sku="HOODIE-SE", backordered__gt=0).count()

    # when the examples run, with a worker as under `make run`
    with celery_worker():
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr

        # then each answer is what its comment says
        quote, order, backlog, receipt = (json.loads(line) for line in result.stdout.splitlines())
        assert quote["status"] == "backorder"
        assert (quote["backordered"], quote["eta"]) == (2, iso_in_days(14))
        assert order["number"] == Order.objects.get(email="rina@example.com").number
        assert [(line["sku"], line["backordered"], line["eta"]) for line in order["lines"]] == [
            ("HOODIE-SE", 1, iso_in_days(14))
        ]
        hoodies = backlog["results"][0]
        assert (hoodies["sku"], hoodies["backordered_lines"]) == ("HOODIE-SE", waiting_before + 1)
        assert (receipt["id"], receipt["status"]) == (1, "received")
        assert PurchaseOrder.objects.get(pk=1).status == PurchaseOrder.Status.RECEIVED

        # and the worker hands the 50 hoodies to every backordered buyer, Rina included
        assert waiting_before == 2
        wait_until(
            lambda: not OrderLine.objects.filter(product__sku="HOODIE-SE", backordered__gt=0),
            "the hoodie's backorders to be filled",
        )
    call_command("verify_stock", stdout=open(os.devnull, "w"))  # noqa: SIM115


@pytest.mark.django_db
def test_the_demo_data_loads_once(demo, settings):
    # given the demo data loaded once
    products = set(Product.objects.values_list("sku", flat=True))
    orders = Order.objects.count()

    # when it is loaded again, as every `make run` does
    _seed(settings)

    # then nothing is duplicated, and the login the README prints exists
    assert set(Product.objects.values_list("sku", flat=True)) == products
    assert Order.objects.count() == orders == 8
    assert PurchaseOrder.objects.count() == 2
    login = RequestFactory().post("/admin/login/")
    assert authenticate(login, username="staff", password="backorder-demo") is not None
    # and one login per role, in its group, as the README's table lists them
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for role in ("warehouse", "purchasing", "customer_service", "read_only"):
        user = authenticate(login, username=role, password="backorder-demo")
        assert user is not None and user.is_staff and not user.is_superuser, role
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert f"| `{role}` |" in readme
    assert get_user_model().objects.filter(is_staff=True).count() == 5
