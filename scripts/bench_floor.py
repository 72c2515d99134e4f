"""The floors of the HTTP benchmarks: bare Django views doing one statement each, served by
gunicorn like the app (`scripts/bench_http.py` starts them). Not part of the app's URLs.

- `GET /select/<sku>`: one SELECT of a product row, as JSON (the floor of the reads);
- `POST /update`: the JSON body parsed, then one conditional hot-row UPDATE in a transaction
  (the floor of order placement: what any oversell-proof checkout must at least do).
"""

from __future__ import annotations

import json

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

FLOOR_TABLE = "bench_floor_stock"
UPDATE = f"UPDATE {FLOOR_TABLE} SET units = units - 1 WHERE id = 1 AND units > 0"  # noqa: S608


def select(request: HttpRequest, sku: str) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, sku, name, price FROM inventory_product WHERE sku = %s", [sku])
        row = cursor.fetchone()
    if row is None:
        return JsonResponse({"error": "not found"}, status=404)
    return JsonResponse({"id": row[0], "sku": row[1], "name": row[2], "price": str(row[3])})


@csrf_exempt
def update(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(UPDATE)
        taken = cursor.rowcount
    return JsonResponse({"email": body.get("email"), "taken": taken}, status=201)


urlpatterns = [
    path("select/<str:sku>", select),
    path("update", update),
]
