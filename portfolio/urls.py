"""Portfolio routes, mounted under /api/v1/ by config.urls."""

from django.urls import path

from portfolio import views

urlpatterns = [
    path("portfolio", views.PortfolioApi.as_view(), name="portfolio"),
    path("portfolio/history", views.PortfolioHistoryApi.as_view(), name="portfolio-history"),
    path("account/reset", views.AccountResetApi.as_view(), name="account-reset"),
    path("ledger", views.LedgerApi.as_view(), name="ledger"),
    path("leaderboard", views.LeaderboardApi.as_view(), name="leaderboard"),
]
