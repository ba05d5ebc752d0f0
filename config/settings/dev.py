"""Development: readable logs, DEBUG on by default, a throwaway secret key."""

from config.env import env_bool
from config.settings.base import *  # noqa: F401,F403
from config.settings.base import ENV

DEBUG = env_bool(ENV, "DEBUG", True)
SECRET_KEY = ENV.get("SECRET_KEY") or "dev-only-insecure-key-not-for-production-use-0123456789abcdef"
ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]  # noqa: F405
CSRF_TRUSTED_ORIGINS = CSRF_TRUSTED_ORIGINS or [  # noqa: F405
    "http://127.0.0.1:8000",
    "http://localhost:8000",
]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
