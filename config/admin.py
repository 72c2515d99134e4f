"""The machinery's rows in the admin: who was heard from when (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from config.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("role", "name", "seen_at", "queues", "last_task")
    list_filter = ("role",)
    ordering = ("role", "-seen_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
