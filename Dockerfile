# Backorder's production image: one image for the web server, the Celery workers and beat
# (compose.yaml runs it three ways). Every secret comes from the environment at run time.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    STATIC_ROOT=/app/staticfiles \
    PORT=8000

# The dependencies first, in their own layer: a change to the code alone reuses it.
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
RUN python -m venv /venv \
    && mkdir -p config inventory orders notifications \
    && pip install . \
    && pip uninstall --yes backorder

COPY . .
# The project itself, editable: templates, static files and the compiled translations
# (committed) stay beside the code, where the settings find them. The settings need a secret
# and hosts to load: these two exist only for the collectstatic step.
RUN pip install --no-deps -e . \
    && SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
       python manage.py collectstatic --noinput

# Not root: the processes can write only where the volumes are mounted.
RUN useradd --system --uid 1000 --home-dir /app backorder \
    && mkdir -p /app/var \
    && chown backorder /app/var
USER backorder

EXPOSE 8000
# Whether this process can serve: the database only (workers and beat are checked by a
# monitor on /healthz, not by the load balancer).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "config.probe", "database"]

CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
