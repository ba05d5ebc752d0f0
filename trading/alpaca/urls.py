"""Alpaca's ``/v2`` paths (mounted by config.urls). No trailing slashes, and a catch-all last, so an
unknown path is Alpaca's 404 body and ``APPEND_SLASH`` never redirects (the client does not follow
redirects). ``{symbol_or_id}`` takes a raw ``/`` (``SOL/USD``)."""

from django.urls import path, re_path

from trading.alpaca import views_account, views_orders, views_positions
from trading.alpaca.errors import not_found_view

urlpatterns = [
    path("account", views_account.AccountApi.as_view(), name="alpaca-account"),
    path("account/portfolio/history", views_account.PortfolioHistoryApi.as_view(), name="alpaca-history"),
    path("account/activities", views_account.ActivitiesApi.as_view(), name="alpaca-activities"),
    path(
        "account/activities/<str:activity_type>", views_account.ActivitiesApi.as_view(), name="alpaca-activities-type"
    ),
    path("clock", views_account.ClockApi.as_view(), name="alpaca-clock"),
    path("assets", views_account.AssetsApi.as_view(), name="alpaca-assets"),
    path("assets/<path:symbol_or_id>", views_account.AssetDetailApi.as_view(), name="alpaca-asset"),
    path("orders", views_orders.OrdersApi.as_view(), name="alpaca-orders"),
    path("orders:by_client_order_id", views_orders.OrderByClientIdApi.as_view(), name="alpaca-order-by-client-id"),
    path("orders/<str:order_id>", views_orders.OrderDetailApi.as_view(), name="alpaca-order"),
    path("positions", views_positions.PositionsApi.as_view(), name="alpaca-positions"),
    path("positions/<path:symbol_or_id>", views_positions.PositionDetailApi.as_view(), name="alpaca-position"),
    re_path(r"^.*$", not_found_view, name="alpaca-not-found"),
]
