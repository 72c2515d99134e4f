from django.contrib.admin.apps import AdminConfig


class BackofficeAdminConfig(AdminConfig):
    """Django's admin, with `config.backoffice.BackofficeSite` as its site."""

    default_site = "config.backoffice.BackofficeSite"
