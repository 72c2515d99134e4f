from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Backorder backoffice"
admin.site.site_title = "Backorder"
admin.site.index_title = "Stock, orders and backorders"
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
