"""Settings shared by every environment, read from the process environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from config.env import (
    django_database,
    env_bool,
    env_int,
    env_list,
    stack_from_env,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
ENV = os.environ

# --- which stack ----------------------------------------------------------
STACK = stack_from_env(ENV, BASE_DIR)
if STACK.database.engine == "sqlite3":
    Path(STACK.database.name).parent.mkdir(parents=True, exist_ok=True)
STACK_MODE = STACK.mode  # "real" | "embedded" | "mixed"
STACK_MODE_LABEL = STACK.mode_label
REDIS_URL = STACK.redis_url
PREFLIGHT_TIMEOUT_SECONDS = env_int(ENV, "PREFLIGHT_TIMEOUT_SECONDS", 3)
PREFLIGHT_ON_START = env_bool(ENV, "PREFLIGHT_ON_START", True)

# --- core -------------------------------------------------------------------
SECRET_KEY = ENV.get("SECRET_KEY", "")
DEBUG = env_bool(ENV, "DEBUG", False)
ALLOWED_HOSTS = env_list(ENV, "ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env_list(ENV, "CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "config.apps.ConfigConfig",
    "accounts",
    "pricing",
    "portfolio",
    "trading",
    "realtime",
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "config.middleware.ApiErrorShapeMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

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
                "config.context_processors.stack",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------
DATABASES = {
    "default": django_database(
        STACK.database,
        connect_timeout=PREFLIGHT_TIMEOUT_SECONDS,
        conn_max_age=env_int(ENV, "DB_CONN_MAX_AGE", 60),
    )
}
if STACK.uses_postgres:
    DATABASES["default"]["TEST"] = {"NAME": ENV.get("TEST_DATABASE_NAME", "test_solpaper")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache and channel layer --------------------------------------------------
if STACK.uses_redis:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": ENV.get("CACHE_KEY_PREFIX", "solpaper"),
            "OPTIONS": {
                "pool_class": "core.cache.SharedBlockingConnectionPool",
                "max_connections": env_int(ENV, "CACHE_MAX_CONNECTIONS", 100),
                "timeout": PREFLIGHT_TIMEOUT_SECONDS,  # wait this long for a free pooled connection
                "socket_connect_timeout": PREFLIGHT_TIMEOUT_SECONDS,
                "socket_timeout": PREFLIGHT_TIMEOUT_SECONDS,
            },
        }
    }
    CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
        "default": {
            # "pubsub" (default): one Redis PUBLISH per group send, fanned out in each
            # process; "core": per-channel lists (at-least-once per channel, but one
            # Redis round trip per recipient). WebSockets are a notification channel with
            # resume from PostgreSQL, so the faster pub/sub layer is the default.
            "BACKEND": {
                "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "core": "channels_redis.core.RedisChannelLayer",
            }[ENV.get("CHANNEL_LAYER_BACKEND", "pubsub")],
            "CONFIG": {
                # redis-py 8 caps a pool at 100 connections and raises past it; a burst
                # of WebSocket connects needs more (each group_add borrows one briefly).
                # redis-py 8's default socket_timeout (5 s) equals channels-redis' BZPOPMIN
                # timeout (5 s), so an idle receive loop times out and kills consumers: read
                # with a longer timeout.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": env_int(ENV, "CHANNEL_LAYER_MAX_CONNECTIONS", 1000),
                        "socket_timeout": 15,
                        "socket_connect_timeout": PREFLIGHT_TIMEOUT_SECONDS,
                    }
                ],
                "prefix": ENV.get("CHANNEL_LAYER_PREFIX", "solpaper"),
            },
        }
    }
    if CHANNEL_LAYERS["default"]["BACKEND"].endswith(".core.RedisChannelLayer"):
        CHANNEL_LAYERS["default"]["CONFIG"].update(capacity=1000, expiry=30)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- sessions, auth, security -------------------------------------------------
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
LOGIN_URL = "/signin/"

# --- i18n / time --------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- static -------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"

# --- API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "core.renderers.StrictJSONRenderer",
        "core.renderers.BrowsableAPIRendererStrict",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyHeaderAuthentication",
        "accounts.authentication.BearerAuthentication",
        "accounts.authentication.CookieSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SOL paper-trading exchange API",
    "DESCRIPTION": "Virtual-money exchange for SOL: wallet sign-in, market data, spot orders, "
    "leveraged positions. Every error is {code, message, extra}; decimals are strings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Without a broker the tasks run inline (embedded default); the schedule then
# runs in-process (config.scheduler) instead of in celery beat.
CELERY_TASK_ALWAYS_EAGER = not STACK.uses_redis
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = PREFLIGHT_TIMEOUT_SECONDS
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_SOFT_TIME_LIMIT = 50
INPROCESS_JOBS = env_bool(ENV, "INPROCESS_JOBS", not STACK.uses_redis)
BEAT_HEARTBEAT_SECONDS = env_int(ENV, "BEAT_HEARTBEAT_SECONDS", 5)
BEAT_STALE_SECONDS = env_int(ENV, "BEAT_STALE_SECONDS", 30)

# --- logging --------------------------------------------------------------------
LOG_LEVEL = ENV.get("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = ENV.get("LOG_FORMAT", "text")  # "text" (readable) or "json" (structured)
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"()": "config.logging.TextFormatter"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT if LOG_FORMAT in {"text", "json"} else "text",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "celery": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "asyncio": {"level": "WARNING"},
    },
}

# --- domain knobs ------------------------------------------------------------------
from config.settings.auth_settings import *  # noqa: E402,F401,F403
from config.settings.portfolio_settings import *  # noqa: E402,F401,F403
from config.settings.pricing_settings import *  # noqa: E402,F401,F403
from config.settings.realtime_settings import *  # noqa: E402,F401,F403
from config.settings.trading_settings import *  # noqa: E402,F401,F403

# --- periodic jobs: celery beat in the real stack, config.scheduler in-process otherwise
PLATFORM_BEAT = {
    "platform-heartbeat": {
        "task": "platform.beat_heartbeat",
        "schedule": BEAT_HEARTBEAT_SECONDS,
        "options": {"expires": BEAT_HEARTBEAT_SECONDS},
    },
}
CELERY_BEAT_SCHEDULE = {
    **PLATFORM_BEAT,
    **globals().get("PRICING_BEAT", {}),
    **globals().get("TRADING_BEAT", {}),
    **globals().get("PORTFOLIO_BEAT", {}),
    **globals().get("REALTIME_BEAT", {}),
}
