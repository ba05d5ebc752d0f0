"""A URLconf for error-format tests: the real routes plus views that fail on purpose."""

from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import DomainError, ServiceUnavailable


class EchoView(APIView):
    class InputSerializer(serializers.Serializer):
        qty = serializers.DecimalField(max_digits=20, decimal_places=9)
        side = serializers.ChoiceField(choices=["buy", "sell"])

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"qty": data.validated_data["qty"], "side": data.validated_data["side"]})


class RefuseView(APIView):
    def post(self, request):
        raise DomainError("Not enough USD.", code="insufficient_funds", extra={"needed": "10.00"})


class UnavailableView(APIView):
    def get(self, request):
        raise ServiceUnavailable("No fresh price.", code="price_stale", retry_after=2)


class CrashView(APIView):
    def get(self, request):
        raise RuntimeError("secret internals: password=hunter2")


def plain_crash(request):
    raise RuntimeError("plain view crash with internals")


urlpatterns = [
    path("api/v1/_probe/echo", EchoView.as_view()),
    path("api/v1/_probe/refuse", RefuseView.as_view()),
    path("api/v1/_probe/unavailable", UnavailableView.as_view()),
    path("api/v1/_probe/crash", CrashView.as_view()),
    path("api/v1/_probe/plain-crash", plain_crash),
    path("", include("config.urls")),
]

handler400 = "config.errors.handler400"
handler403 = "config.errors.handler403"
handler404 = "config.errors.handler404"
handler500 = "config.errors.handler500"
