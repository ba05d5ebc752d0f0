# syntax=docker/dockerfile:1
# Multi-stage: build wheels for the pinned runtime set, then a slim non-root image.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
COPY requirements/runtime.lock requirements/runtime.lock
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r requirements/runtime.lock

# Front-end packages pinned by package-lock.json, copied into static/vendor/ (no CDN at run time).
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts/vendor.mjs scripts/vendor.mjs
RUN npm ci --ignore-scripts --no-audit --no-fund && npm run build

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.prod LOG_FORMAT=json HOST=0.0.0.0 PORT=8000
# nginx: the web tier's front server, started by config/supervisor.py as the app user (the
# package's own service never runs in the container).
RUN apt-get update && apt-get install -y --no-install-recommends nginx && rm -rf /var/lib/apt/lists/*
RUN groupadd --system app && useradd --system --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=app:app . /app
COPY --from=assets --chown=app:app /build/static/vendor /app/static/vendor
RUN mkdir -p /app/var && chown app:app /app/var \
    && SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput
USER app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
# web tier: preflight once, then nginx on HOST:PORT in front of gunicorn (HTTP, WEB_CONCURRENCY
# processes) and daphne (/ws/). Migrations are a separate one-shot (compose "migrate"); Celery
# worker and beat run as their own containers.
CMD ["python", "-m", "config.supervisor", "--web"]
