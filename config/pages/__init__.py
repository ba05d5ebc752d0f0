"""Server-rendered pages (the trading dashboard). Mounted at the site root by config.urls.

The pages are thin HTML shells rendered by Django; small ES modules in ``static/js/`` fill them
from the JSON API and keep them live over ``/ws/`` (see docs/dashboard.md).
"""

from config.pages.urls import urlpatterns

__all__ = ["urlpatterns"]
