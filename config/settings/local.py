"""Settings for `make run`: everything works with no environment set."""

from .base import *  # noqa: F403
from .base import DATABASES, env

DEBUG = env.bool("DEBUG", default=True)
# SQLite (the zero-setup default) builds the covering indexes without their extra columns;
# they are an optimisation for PostgreSQL only.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
# The development server answers each request in a thread of its own, and a persistent
# connection stays open with its thread's end: with PostgreSQL, every request would leave one
# behind until the server ran out. Persistent connections are for the production server.
DATABASES["default"]["CONN_MAX_AGE"] = 0
