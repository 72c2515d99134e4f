"""`manage.py setup_roles`: create the staff role groups, or bring them up to date."""

from django.core.management.base import BaseCommand

from config.roles import roles_setup


class Command(BaseCommand):
    help = (
        "Create the staff groups warehouse, purchasing, customer_service and read_only with"
        " their permissions, or bring them back to their definition (safe to run again)."
    )

    def handle(self, *args: object, **options: object) -> None:
        for role, count in roles_setup().items():
            self.stdout.write(f"{role}: {count} permissions")
        self.stdout.write(self.style.SUCCESS("Roles are up to date."))
