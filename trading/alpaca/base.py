"""The base of every ``/v2`` view: Alpaca's credentials, errors and rate limit.

Authentication is the API key in ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` (or a Bearer
token, as Alpaca's OAuth clients send); never the session cookie, so no CSRF applies. Every
error is Alpaca's body (``trading.alpaca.errors``). The per-key rate limit is counted right after
authentication, before any work.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.views import APIView

from accounts.authentication import ApiKeyHeaderAuthentication, BearerAuthentication
from accounts.permissions import CanTrade
from accounts.ratelimit import rate_limit_hit
from core.dbthreads import on_db_threads
from core.parsers import StrictJSONParser
from core.renderers import StrictJSONRenderer
from trading.alpaca.errors import alpaca_exception_handler


class AlpacaView(APIView):
    authentication_classes = [ApiKeyHeaderAuthentication, BearerAuthentication]
    permission_classes = [CanTrade]  # read for GET, the trade scope for POST / PATCH / DELETE
    parser_classes = [StrictJSONParser]
    renderer_classes = [StrictJSONRenderer]
    schema = None  # Alpaca's API, documented by Alpaca (docs/alpaca.md): not in our OpenAPI schema

    @classmethod
    def as_view(cls, **initkwargs):
        """Served on long-lived database threads under ASGI (``core.dbthreads``), as /api/v1's orders."""
        return on_db_threads(super().as_view(**initkwargs))

    def get_exception_handler(self):
        return alpaca_exception_handler

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        key = request.auth.api_key_id or request.auth.session_id or str(request.user.pk)
        rate_limit_hit(scope="alpaca", ident=str(key), rate=settings.ALPACA_RATE_LIMIT)

    def body(self, request) -> object:
        """The JSON body (numbers as ``Decimal``); ``{}`` when there is none."""
        return request.data
