"""Settings for `make run`: everything works with no environment set."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
# SQLite (the zero-setup default) builds the covering indexes without their extra columns;
# they are an optimisation for PostgreSQL only.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
