from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.utils.module_loading import import_string

from config import logs


class BackofficeAdminConfig(AdminConfig):
    """Django's admin, with `config.backoffice.BackofficeSite` as its site."""

    default_site = "config.backoffice.BackofficeSite"


class OperationsConfig(AppConfig):
    """The machinery's own rows (`config.models`: workers' and beat's heartbeats), and the
    Celery signals that write them (`config.heartbeat`) and carry log fields from a
    request to its tasks (`config.logs`)."""

    name = "config"
    label = "operations"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # By name: the module imports the models, which exist only once the apps are ready.
        import_string("config.heartbeat.connect")()
        import_string("config.metrics.connect")()
        logs.connect()
