"""What every app's admin shares: read-only views of the rows only services write, and the
way a service's refusal comes back to the page that asked for the change.

Each app's `admin.py` imports these from here, never from another app's admin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

from inventory.exceptions import BackorderError


class ReadOnlyAdminMixin:
    """Rows that only services write: staff may look, never edit."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Related rows shown for reference: services write them, the admin only lists them."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def show_refusal(form: forms.BaseForm, error: BackorderError, fields: Mapping[str, str]) -> None:
    """Show a service's refusal next to the form field it names, else above the form.

    `fields` maps the service's field names (`error.fields`) to the form's.
    """
    for key in error.fields:
        name = fields.get(key)
        if name in form.fields:
            form.add_error(name, error.message)
            return
    form.add_error(None, error.message)


def adopt(instance: Model, saved: Model) -> None:
    """Make the admin's unsaved `instance` the row a service saved, with the values the service
    stored: the admin then saves the inlines against it, logs it and redirects to it."""
    for field in saved._meta.concrete_fields:
        setattr(instance, field.attname, getattr(saved, field.attname))
    instance._state.adding = False
    instance._state.db = saved._state.db


class ServiceModelForm(forms.ModelForm):
    """The form of a `ServiceFormAdmin`: it reads what staff typed; the service judges it.

    The model's own validation (its field validators, uniqueness, constraints) is left out:
    the service checks every value, and decides uniqueness under its lock, in the words the
    API uses too. `refusal` is the service's refusal of this very input, shown next to the
    field it names: the form field of that name unless `refusal_fields` maps it to another.
    """

    refusal: BackorderError | None = None
    refusal_fields: Mapping[str, str] = {}

    def _get_validation_exclusions(self) -> set[str]:
        # Django's hook for the fields the model must not validate: all of them, see above.
        return {field.name for field in self.instance._meta.fields}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.refusal is not None:
            fields = {name: name for name in self.fields}
            show_refusal(self, self.refusal, {**fields, **self.refusal_fields})
        return data


REFUSAL_ATTRIBUTE = "_service_refusal"


class ServiceFormAdmin(admin.ModelAdmin):
    """A model admin whose `save_model` has a service write the row.

    When the service refuses (`BackorderError`), the admin's transaction rolls back, so
    nothing changed, and the page is built again from the same POST with the refusal as a
    form error: next to the field it names (the form field of that name, unless
    `refusal_fields` maps it to another), else above the form. The form must be a
    `ServiceModelForm`.
    """

    form = ServiceModelForm
    refusal_fields: Mapping[str, str] = {}

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except BackorderError as error:
            if request.method != "POST" or hasattr(request, REFUSAL_ATTRIBUTE):
                raise
            setattr(request, REFUSAL_ATTRIBUTE, error)
            try:
                # The refusal makes the form invalid: this pass only shows it.
                return super().changeform_view(request, object_id, form_url, extra_context)
            finally:
                delattr(request, REFUSAL_ATTRIBUTE)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        form = super().get_form(request, obj, change, **kwargs)
        refusal = getattr(request, REFUSAL_ATTRIBUTE, None)
        if refusal is None:
            return form
        attributes = {"refusal": refusal, "refusal_fields": self.refusal_fields}
        # Built by the form's own metaclass, as `modelform_factory` builds `form`.
        return cast("type[forms.ModelForm]", type(form.__name__, (form,), attributes))
