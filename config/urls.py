"""URL map: pages, health, the JSON API under /api/v1/, Alpaca's under /v2/, schema and docs, admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health

handler400 = "config.errors.handler400"
handler403 = "config.errors.handler403"
handler404 = "config.errors.handler404"
handler500 = "config.errors.handler500"

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("pricing.urls")),
    path("", include("portfolio.urls")),
    path("", include("trading.urls")),
    path("", include("realtime.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/", include(api_v1)),
    path("v2/", include("trading.alpaca.urls")),  # Alpaca-compatible trading API (docs/alpaca.md)
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("", include("config.pages")),
]
