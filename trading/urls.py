"""Trading routes, mounted under /api/v1/ by config.urls."""

urlpatterns: list = []
