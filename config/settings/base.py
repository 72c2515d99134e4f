"""Settings shared by every environment; each value can come from the environment."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab

from config.queues import task_queues

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="insecure-local-only-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
SITE_URL = env("SITE_URL", default="http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "config.apps.BackofficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tables2",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "config.apps.OperationsConfig",
    "inventory",
    "orders",
    "notifications",
]

MIDDLEWARE = [
    # First: every log line of the request carries its id (`config.logs`).
    "config.logs.RequestContext",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lock-out answer.
    "axes.middleware.AxesMiddleware",
]

# Staff logins, the admin's and the API token's (django-axes): after
# BACKORDER_LOGIN_FAILURE_LIMIT wrong passwords for one username, or from one address, that
# username and that address are refused (429) for BACKORDER_LOGIN_LOCKOUT_MINUTES, even
# with the right password; a successful login clears its count. Admin > Access attempts
# lists them; deleting one lifts its lock-out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("BACKORDER_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("BACKORDER_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "config.tokens.login_locked_out"
AXES_USERNAME_FORM_FIELD = "username"
AXES_VERBOSE = False
# Behind reverse proxies, the client's address is the one they add to X-Forwarded-For.
AXES_IPWARE_PROXY_COUNT = env.int("BACKORDER_NUM_PROXIES", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "orders.context_processors.shop",
            ],
        },
    },
]


def _database(url: str) -> dict:
    config = env.db_url_config(url)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE transactions make SQLite writers queue instead of failing, which is what
        # the web server and the worker need when they share one file.
        config["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
    else:
        config["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
        # A connection found broken (the server restarted) is replaced at the next request.
        config["CONN_HEALTH_CHECKS"] = True
        # With the server unreachable, a request fails (503) after this, rather than hanging.
        config.setdefault("OPTIONS", {})["connect_timeout"] = env.int(
            "DATABASE_CONNECT_TIMEOUT", default=5
        )
    return config


DATABASES = {
    "default": _database(env("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"))
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("id", "Bahasa Indonesia")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Jakarta")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))

REDIS_URL = env("REDIS_URL", default="")
# Seconds one call to Redis (cache, broker or result backend) may take, connecting included,
# before it counts as failed. Redis hung or gone then costs a request about this much: the
# throttles count per process, an order commits and its queued work is caught up later.
BACKORDER_REDIS_TIMEOUT_SECONDS = env.float("BACKORDER_REDIS_TIMEOUT_SECONDS", default=1)
_REDIS_TIMEOUTS = {
    "socket_connect_timeout": BACKORDER_REDIS_TIMEOUT_SECONDS,
    "socket_timeout": BACKORDER_REDIS_TIMEOUT_SECONDS,
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "backorder",
            "OPTIONS": _REDIS_TIMEOUTS,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# API throttle counters: shared by every web process when they live in Redis.
CACHES["throttle"] = {**CACHES["default"], "KEY_PREFIX": "backorder-throttle"}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default=f"filemail://{VAR_DIR / 'mail'}")
if EMAIL_CONFIG.get("EMAIL_FILE_PATH") and not EMAIL_CONFIG["EMAIL_FILE_PATH"].startswith("/"):
    # django-environ drops the leading slash of filemail:///var/mail: a URL's path is absolute.
    EMAIL_CONFIG["EMAIL_FILE_PATH"] = "/" + EMAIL_CONFIG["EMAIL_FILE_PATH"]
if EMAIL_CONFIG["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend":
    # One `.eml` file per email, which a mail program opens, rather than a log per batch.
    EMAIL_CONFIG["EMAIL_BACKEND"] = "notifications.mailbox.EmailBackend"
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Backorder <shop@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: Redis when REDIS_URL is set; otherwise kombu's filesystem transport, a broker that
# needs no server and still works between the web and worker processes.
# On Redis each broker command waits at most the timeout, and a process that must connect to
# send tries once (kombu's `max_retries`; a worker's own connection keeps retrying as
# CELERY_BROKER_CONNECTION_* say, and it waits on its queues by polling, not by blocking on a
# socket, so the timeout never cuts its waits short).
# The visibility timeout (4 h) is explained with the task options below.
_REDIS_BROKER_OPTIONS = {**_REDIS_TIMEOUTS, "max_retries": 0, "visibility_timeout": 4 * 3600}
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = _REDIS_BROKER_OPTIONS
else:
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = None
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
# A send is tried once: with the broker hung or gone a retry only doubles the wait, and what
# was not sent is caught up by the beat sweeps (`config.batching` says how).
CELERY_TASK_PUBLISH_RETRY = False
# Sending a task whose result is kept subscribes to that result (`config.batching` keeps
# none); with Redis down, give up in about a second (the default retries for 20 s) so a
# request that commits an order answers at once and the beat sweeps catch up.
CELERY_REDIS_SOCKET_TIMEOUT = BACKORDER_REDIS_TIMEOUT_SECONDS
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = BACKORDER_REDIS_TIMEOUT_SECONDS
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    }
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = not REDIS_URL
CELERY_RESULT_EXPIRES = 3600
# How a task survives its worker. Every task is safe to run twice (each service locks and
# re-reads, the outbox marks what it sent), so a task is acknowledged only once it has run
# (acks_late) and handed back to the queue if its process dies under it
# (reject_on_worker_lost): a killed worker loses nothing. Each process takes one task at a
# time (prefetch 1), so a long refresh never holds back tasks another process could run
# now. A task is stopped after CELERY_TASK_TIME_LIMIT seconds (after a soft limit it can
# catch a minute before): a hung SMTP server or lock costs one process for minutes, not
# forever; the nightly replenishment sets its own, longer limit (`inventory.tasks`). On
# Redis, a task taken but not acknowledged within the visibility timeout is given to
# another worker: it must outlast the longest task (the nightly run's 3 h) and the longest
# countdown (an email retry's BACKORDER_EMAIL_RETRY_MAX_SECONDS), or one task would run
# twice at once; a whole worker killed without a word is caught up by the beat sweeps long
# before. Redis calls wait at most BACKORDER_REDIS_TIMEOUT_SECONDS (above).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# A queue per kind of work, so a flood of one never delays another: reallocations and
# ETAs ("refresh"), customer and staff emails ("email"), the nightly forecasts, stock
# verification and alerts ("replenishment"). A worker started without -Q serves them all;
# in production each kind can have workers of its own (README, "Deploy").
CELERY_TASK_DEFAULT_QUEUE = "celery"
BACKORDER_QUEUE_PREFIX = env("BACKORDER_QUEUE_PREFIX", default="")
CELERY_TASK_QUEUES, CELERY_TASK_ROUTES = task_queues(
    BACKORDER_QUEUE_PREFIX, default=CELERY_TASK_DEFAULT_QUEUE
)
# Celery's file-kept schedule, recording each run for `/healthz` (`config.heartbeat`).
CELERY_BEAT_SCHEDULER = "config.heartbeat:Scheduler"
CELERY_BEAT_SCHEDULE = {
    "start-of-day": {
        # Today moves: pre-orders due today are released and every waiting line's ETA is
        # recomputed against the new date.
        "task": "orders.tasks.start_of_day",
        "schedule": crontab(hour=0, minute=5),
    },
    "purge-idempotency-keys": {
        "task": "orders.tasks.purge_idempotency_keys",
        "schedule": crontab(hour=3, minute=30),
    },
    "sweep-notifications": {
        # Emails whose after-commit task was lost, or whose retry is due, go out from here.
        "task": "notifications.tasks.sweep_notifications",
        "schedule": 60,
    },
    "refresh-unsent-products": {
        # Product refreshes that could not be queued after their commit (the broker was
        # down) are kept in the database and sent from here: within a minute of its return.
        "task": "orders.tasks.refresh_unsent_products",
        "schedule": 60,
    },
    "replenishment-nightly": {
        # Forecasts for every product, then the reorder suggestions; with
        # BACKORDER_NIGHTLY_DRAFTS, their draft (and automatic) purchase orders.
        "task": "inventory.tasks.replenishment_nightly",
        "schedule": crontab(hour=1, minute=15),
    },
    "stock-verify": {
        # The ledger's chains and every counter; what the ledger proves is repaired, the
        # rest reported to the staff who adjust stock (`inventory.verification`).
        "task": "inventory.tasks.stock_verify",
        "schedule": crontab(hour=2, minute=30),
    },
    "spikes-check": {
        # Demand of the last one and three days against the night's forecast.
        "task": "inventory.tasks.spikes_check",
        "schedule": crontab(minute=20),
    },
    "reallocate-all-products": {
        # A safety net: any product whose free stock could fill a backorder is reallocated,
        # even if the task enqueued after the stock change was lost.
        "task": "orders.tasks.reallocate_all_products",
        "schedule": 15 * 60,
    },
}

# `/healthz` (`config.health`): a worker counts as alive while its heartbeat is younger than
# this; beat while its last run is (its most frequent entries run every minute).
BACKORDER_HEALTH_WORKER_SECONDS = env.int("BACKORDER_HEALTH_WORKER_SECONDS", default=60)
BACKORDER_HEALTH_BEAT_SECONDS = env.int("BACKORDER_HEALTH_BEAT_SECONDS", default=180)

# `/metrics` (`config.metrics`): besides staff sessions, a scraper sending
# `Authorization: Bearer <this>` may read it (empty: staff only).
BACKORDER_METRICS_TOKEN = env("BACKORDER_METRICS_TOKEN", default="")

# Days between goods arriving and the parcel leaving: added to every ETA.
BACKORDER_HANDLING_DAYS = env.int("BACKORDER_HANDLING_DAYS", default=0)

# Replenishment (`inventory.replenishment`): forecasts each night from this many days of
# demand; orders cover the lead time plus this review period; a unit waiting one day costs
# the shop this share of its price (what a faster, dearer supplier must save to be chosen).
BACKORDER_FORECAST_HISTORY_DAYS = env.int("BACKORDER_FORECAST_HISTORY_DAYS", default=365)
BACKORDER_REVIEW_PERIOD_DAYS = env.int("BACKORDER_REVIEW_PERIOD_DAYS", default=7)
BACKORDER_WAITING_COST_RATE = env.float("BACKORDER_WAITING_COST_RATE", default=0.01)
# Opt-in: the nightly run also drafts purchase orders for every suggestion (and places them
# for suppliers marked auto-order, within their daily spend cap).
BACKORDER_NIGHTLY_DRAFTS = env.bool("BACKORDER_NIGHTLY_DRAFTS", default=False)
# A spike alert needs this many units above the forecast; one alert per product per window.
BACKORDER_SPIKE_MIN_UNITS = env.int("BACKORDER_SPIKE_MIN_UNITS", default=5)
BACKORDER_SPIKE_WINDOW_DAYS = env.int("BACKORDER_SPIKE_WINDOW_DAYS", default=7)

# Customer emails (the notifications outbox).
# Good news is sent when an ETA moves earlier by at least this many days; any later move
# sends a delay notice.
BACKORDER_EARLIER_NOTICE_DAYS = env.int("BACKORDER_EARLIER_NOTICE_DAYS", default=2)
# Seconds the delivery task waits after a commit, so notices written just after it go out
# in the same email.
BACKORDER_EMAIL_GATHER_SECONDS = env.int("BACKORDER_EMAIL_GATHER_SECONDS", default=0)
# Attempts per email before it is marked failed (staff can resend it from the admin), and
# the backoff between attempts: base * 2^(attempt - 1) seconds, capped, with jitter.
BACKORDER_EMAIL_MAX_ATTEMPTS = env.int("BACKORDER_EMAIL_MAX_ATTEMPTS", default=8)
BACKORDER_EMAIL_RETRY_BASE_SECONDS = env.float("BACKORDER_EMAIL_RETRY_BASE_SECONDS", default=30)
BACKORDER_EMAIL_RETRY_MAX_SECONDS = env.float("BACKORDER_EMAIL_RETRY_MAX_SECONDS", default=3600)
# The sweep sends pending emails at least this old (their own task should have by then).
BACKORDER_EMAIL_SWEEP_AFTER_SECONDS = env.int("BACKORDER_EMAIL_SWEEP_AFTER_SECONDS", default=60)
# Notifications one delivery task takes (one SMTP connection serves them all).
BACKORDER_EMAIL_BATCH_SIZE = env.int("BACKORDER_EMAIL_BATCH_SIZE", default=100)
# Seconds to wait for the SMTP server before an attempt counts as failed.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

# The JSON API (contract §3): JSON only, staff by token, errors in the contract's body.
REST_FRAMEWORK = {
    "DEFAULT_PARSER_CLASSES": ["config.api.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_THROTTLE_CLASSES": [],
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATE_FORMAT": "iso-8601",
    "DATE_INPUT_FORMATS": ["%Y-%m-%d"],
    "STRICT_JSON": True,
    # Throttles key on the client's address; set this to the number of reverse proxies in
    # front of the app so X-Forwarded-For is read, and only then (it is easy to forge).
    "NUM_PROXIES": env.int("BACKORDER_NUM_PROXIES", default=0),
}
# Requests per client address on the public endpoints (availability, order placement) and
# on the staff token endpoint.
BACKORDER_API_RATES = {
    "public": env("BACKORDER_API_PUBLIC_RATE", default="120/min"),
    "login": env("BACKORDER_API_LOGIN_RATE", default="10/min"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Backorder API",
    "DESCRIPTION": (
        "Keep selling when stock runs out, and keep every customer informed. Errors are"
        ' `{"error": {"code", "message", "fields"}}`; dates are `YYYY-MM-DD`. Staff calls carry'
        " `Authorization: Token <token>` from `POST /api/v1/auth/token`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH bodies are documented as their serializers declare them, not made all-optional.
    "COMPONENT_SPLIT_PATCH": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.schema_nonempty_lines",
    ],
    "ENUM_NAME_OVERRIDES": {},
}

# Logs on standard error: one JSON object per line with BACKORDER_LOG_FORMAT=json (the
# production default), `key=value` text otherwise; each line carries the request, task,
# order and products it is about (`config.logs`). With JSON, one line per request too.
BACKORDER_LOG_FORMAT = env("BACKORDER_LOG_FORMAT", default="text")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "config.logs.ContextFilter"}},
    "formatters": {
        "json": {"()": "config.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s %(context)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": BACKORDER_LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "backorder.request": {"level": "INFO" if BACKORDER_LOG_FORMAT == "json" else "WARNING"},
    },
}
# Workers log through the same handlers as the web processes, in the same format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# The storefront: the shop's name on its pages, and how prices are written (`Rp450.000`).
BACKORDER_SHOP_NAME = env("BACKORDER_SHOP_NAME", default="Backorder shop")
BACKORDER_CURRENCY_SYMBOL = env("BACKORDER_CURRENCY_SYMBOL", default="Rp")
BACKORDER_CURRENCY_DECIMALS = env.int("BACKORDER_CURRENCY_DECIMALS", default=2)
# Products per catalogue page.
BACKORDER_CATALOGUE_PAGE_SIZE = env.int("BACKORDER_CATALOGUE_PAGE_SIZE", default=24)
# Most units of one product in one order, on top of each product's own `max_per_order`: the
# cart, checkout and `POST /api/v1/orders` refuse more (`inventory.checks.max_line_quantity`).
BACKORDER_MAX_LINE_QUANTITY = env.int("BACKORDER_MAX_LINE_QUANTITY", default=100)
# Order lookup (`/orders/lookup/`): status-link emails asked for per client address and per
# email address, per hour.
BACKORDER_LOOKUP_IP_RATE = env.int("BACKORDER_LOOKUP_IP_RATE", default=20)
BACKORDER_LOOKUP_EMAIL_RATE = env.int("BACKORDER_LOOKUP_EMAIL_RATE", default=5)
