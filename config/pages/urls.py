"""Page routes. ``/`` is the trade page, as on an exchange; the rest are one path each."""

from django.urls import path, re_path

from config.pages import views

urlpatterns = [
    path("", views.trade, name="dashboard"),
    path("trade/", views.trade, name="trade"),
    path("signin/", views.signin, name="signin"),
    path("portfolio/", views.portfolio, name="portfolio"),
    path("history/", views.history, name="history"),
    path("leaderboard/", views.leaderboard, name="leaderboard"),
    path("status/", views.status, name="status"),
    path("pages/config.json", views.page_config_json, name="page-config"),
    re_path(r"^static/(?P<path>.+)$", views.static_file, name="static-file"),
]
