"""The customer's answer to a delay notice: keep waiting, or cancel the backordered units."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from inventory.exceptions import BackorderError
from notifications import answers
from notifications.models import DelayAnswer, Notification
from orders.models import OrderLine
from orders.selectors import order_for_customer


@require_http_methods(["GET", "POST"])
def delay_answer(
    request: HttpRequest, number: str, token: str, notification_id: int, line_id: int
) -> HttpResponse:
    """GET shows the delay and two buttons; POST records the answer. Cancelling is a POST so
    that a mail scanner following the link can never cancel anything."""
    order = order_for_customer(number, token)
    notification = Notification.objects.filter(
        pk=notification_id, order=order, kind=Notification.Kind.DELAY
    ).first()
    if notification is None or line_id not in answers.delay_lines(notification):
        raise Http404("No such delay notice.")
    line = next((line for line in order.lines.all() if line.pk == line_id), None)
    if line is None:
        raise Http404("No such line.")
    error = ""
    with translation.override(order.locale):
        if request.method == "POST":
            try:
                answers.delay_answer(
                    notification=notification, line=line, answer=request.POST.get("answer", "")
                )
            except BackorderError as refused:
                error = refused.message
            else:
                if request.POST.get("return") == "status":
                    messages.success(request, _answered_message(request.POST["answer"], line))
                    return redirect(order.get_absolute_url())
                return redirect(request.path)
        answer = DelayAnswer.objects.filter(notification=notification, line=line).first()
        fact = next(f for f in notification.data["lines"] if f["id"] == line_id)
        return render(
            request,
            "notifications/delay_answer.html",
            {
                "order": order,
                "line": line,
                "answer": answer,
                "previous_eta": date.fromisoformat(fact["previous_eta"])
                if fact.get("previous_eta")
                else None,
                "error": error,
                "status_url": reverse("order-status", args=[order.number, order.token]),
            },
            status=400 if error else 200,
        )


def _answered_message(answer: str, line: OrderLine) -> str:
    if answer == DelayAnswer.Answer.CANCEL:
        return _(
            "The backordered %(product)s is cancelled. We have emailed you a confirmation."
        ) % {"product": line.product.name}
    return _(
        "Thank you for waiting. %(product)s keeps its place in the queue; we have emailed you"
        " a confirmation."
    ) % {"product": line.product.name}
