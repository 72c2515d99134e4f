"""The backoffice: Django's admin site, with the dashboard as its index and the reports as
its pages. `config.apps.BackofficeAdminConfig` makes it the default site, so every app's
`admin.py` registers on it as usual."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path
from django.utils import timezone

from inventory import report_views as replenishment_views
from orders import report_views, reports


class BackofficeSite(admin.AdminSite):
    site_header = "Backorder backoffice"
    site_title = "Backorder"
    index_title = "Stock, orders and backorders"
    enable_nav_sidebar = False

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        context = dict(extra_context or {})
        if request.user.has_perm(report_views.REPORT_PERMISSION):
            context["dashboard"] = reports.dashboard()
            context["today"] = today = timezone.localdate()
            context["week_start"] = today - timedelta(days=6)
            context["reports"] = report_views.REPORTS
        return super().index(request, context)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        pages = [
            path(
                f"reports/{slug}/",
                self.admin_view(self._report(slug)),
                name=f"report_{slug}",
            )
            for slug, _, _ in report_views.REPORTS
        ]
        forecast = path(
            "reports/forecast/<str:sku>/",
            self.admin_view(self._forecast),
            name="report_forecast",
        )
        return [*pages, forecast, *super().get_urls()]

    def _forecast(self, request: HttpRequest, sku: str) -> HttpResponse:
        return replenishment_views.forecast_view(request, self, sku)

    def _report(self, slug: str):
        view = getattr(replenishment_views, f"{slug}_view", None) or getattr(
            report_views, f"{slug}_view"
        )

        def page(request: HttpRequest) -> HttpResponse:
            return view(request, self)

        return page
