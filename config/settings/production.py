"""Production settings: every secret from the environment, HTTPS only."""

from .base import *  # noqa: F403
from .base import LOGGING, MIDDLEWARE, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Static files: collected at build (`collectstatic`, the Dockerfile) under hashed names and
# served compressed, cached for a year, by whitenoise, right after the HTTPS redirect.
# (`make run`'s development server serves them from the source folders.)
MIDDLEWARE = [*MIDDLEWARE]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "whitenoise.middleware.WhiteNoiseMiddleware",
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Logs as JSON, one object per line, for a log collector (`config.logs`).
BACKORDER_LOG_FORMAT = env("BACKORDER_LOG_FORMAT", default="json")
LOGGING["handlers"]["console"]["formatter"] = BACKORDER_LOG_FORMAT
LOGGING["loggers"]["backorder.request"]["level"] = (
    "INFO" if BACKORDER_LOG_FORMAT == "json" else "WARNING"
)
