"""Settings for the test suite: the real PostgreSQL and Redis, never SQLite."""

from config.queues import task_queues

from .base import *  # noqa: F403
from .base import _REDIS_BROKER_OPTIONS, _REDIS_TIMEOUTS, _database, env

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-production-use-0123456789"
DATABASES = {
    "default": _database(
        env("TEST_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/backorder")
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = 0
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "config.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "backorder-test",
        "OPTIONS": _REDIS_TIMEOUTS,
    },
    "throttle": {
        "BACKEND": "config.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "backorder-test-throttle",
        "OPTIONS": _REDIS_TIMEOUTS,
    },
}
# High enough that only the throttling tests, which lower it, ever meet the limit.
BACKORDER_API_RATES = {"public": "100000/min", "login": "100000/min"}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_IGNORE_RESULT = False
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TEST_QUEUE", default="backorder-test")
# This run's own queue of each kind, so test runs side by side never take each other's tasks.
BACKORDER_QUEUE_PREFIX = f"{CELERY_TASK_DEFAULT_QUEUE}."
CELERY_TASK_QUEUES, CELERY_TASK_ROUTES = task_queues(
    BACKORDER_QUEUE_PREFIX, default=CELERY_TASK_DEFAULT_QUEUE
)
CELERY_BROKER_TRANSPORT_OPTIONS = _REDIS_BROKER_OPTIONS
if env("EMAIL_URL", default=""):
    # A worker the tests start, pointed at their SMTP server.
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
EMAIL_TIMEOUT = 10
BACKORDER_EMAIL_RETRY_BASE_SECONDS = env.float("BACKORDER_EMAIL_RETRY_BASE_SECONDS", default=0.2)
BACKORDER_EMAIL_RETRY_MAX_SECONDS = 2
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A worker the tests start may be pointed at a live server.
SITE_URL = env("TEST_SITE_URL", default="http://testserver").rstrip("/")
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
