"""Pricing routes, mounted under /api/v1/ by config.urls."""

from django.urls import path

from pricing import views

urlpatterns = [
    path("markets", views.MarketListView.as_view(), name="markets"),
    path("markets/<str:symbol>", views.MarketDetailView.as_view(), name="market-detail"),
    path("market/price", views.MarketPriceView.as_view(), name="market-price"),
    path("market/candles", views.MarketCandlesView.as_view(), name="market-candles"),
    path("market/sources", views.MarketSourcesView.as_view(), name="market-sources"),
]
