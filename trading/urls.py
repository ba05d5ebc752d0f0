"""Trading routes, mounted under /api/v1/ by config.urls.

The seed's ``positions/open`` and ``positions/close`` come before ``positions/<uuid>``
(the uuid converter would not match them anyway; the order makes it explicit).
"""

from django.urls import path

from trading import funding_views, position_views, seed_views, views

urlpatterns = [
    path("orders", views.OrdersApi.as_view(), name="orders"),
    path("orders/<uuid:order_id>", views.OrderDetailApi.as_view(), name="order-detail"),
    path("trades", views.TradeListApi.as_view(), name="trades"),
    path("state", seed_views.SeedStateApi.as_view(), name="seed-state"),
    path("positions/open", seed_views.SeedPositionOpenApi.as_view(), name="seed-positions-open"),
    path("positions/close", seed_views.SeedPositionCloseApi.as_view(), name="seed-positions-close"),
    path("positions", position_views.PositionsApi.as_view(), name="positions"),
    path("positions/<uuid:position_id>", position_views.PositionDetailApi.as_view(), name="position-detail"),
    path("funding", funding_views.FundingListApi.as_view(), name="funding"),
    path("positions/<uuid:position_id>/close", position_views.PositionCloseApi.as_view(), name="position-close"),
]
