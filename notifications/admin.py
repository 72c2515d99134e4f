from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from config.admin_mixins import ReadOnlyAdminMixin, ReadOnlyInline
from notifications import delivery
from notifications.models import DelayAnswer, Notification, StockAlert


class DelayAnswerInline(ReadOnlyInline):
    model = DelayAnswer
    fields = ("created_at", "line", "answer", "quantity")
    readonly_fields = fields


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The outbox: every email owed to a customer, whether it went out, and why not."""

    list_display = (
        "created_at",
        "kind",
        "order_link",
        "to",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "error",
    )
    list_filter = ("status", "kind", "locale")
    search_fields = ("to", "order__number", "key", "message_id")
    list_select_related = ("order",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "key",
        "kind",
        "order",
        "alert",
        "to",
        "locale",
        "data",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "message_id",
        "created_at",
        "sent_at",
    )
    inlines = [DelayAnswerInline]
    actions = ["resend"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # The resend action needs it; the rows themselves are only ever written by services.
        return obj is None and request.user.has_perm("notifications.change_notification")

    @admin.display(description="Order", ordering="order__number")
    def order_link(self, notification: Notification) -> str:
        if notification.order is None:
            return "-"
        return format_html(
            '<a href="../../orders/order/{}/change/">{}</a>',
            notification.order_id,
            notification.order.number,
        )

    @admin.display(description="Last error")
    def error(self, notification: Notification) -> str:
        text = notification.last_error
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.action(description="Resend failed emails", permissions=["change"])
    def resend(self, request: HttpRequest, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        resent = delivery.notifications_resend(ids=ids)
        skipped = len(ids) - resent
        self.message_user(
            request,
            f"Queued {resent} failed email(s) to send again."
            + (f" {skipped} not failed, left alone." if skipped else ""),
            messages.SUCCESS if resent else messages.WARNING,
        )


@admin.register(StockAlert)
class StockAlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "product", "email", "locale", "notified_at")
    list_filter = ("locale", ("notified_at", admin.EmptyFieldListFilter))
    search_fields = ("email", "product__sku", "product__name")
    list_select_related = ("product",)


@admin.register(DelayAnswer)
class DelayAnswerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What customers chose after a delay notice: kept waiting, or cancelled."""

    list_display = ("created_at", "order", "line", "answer", "quantity")
    list_filter = ("answer",)
    search_fields = ("line__order__number", "line__product__sku")
    list_select_related = ("line__order", "line__product")

    @admin.display(description="Order")
    def order(self, answer: DelayAnswer) -> str:
        return answer.line.order.number
