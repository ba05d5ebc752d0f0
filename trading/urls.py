"""Trading routes, mounted under /api/v1/ by config.urls."""

from django.urls import path

from trading import views

urlpatterns = [
    path("orders", views.OrdersApi.as_view(), name="orders"),
    path("orders/<uuid:order_id>", views.OrderDetailApi.as_view(), name="order-detail"),
    path("trades", views.TradeListApi.as_view(), name="trades"),
]
