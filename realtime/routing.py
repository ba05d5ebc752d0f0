"""WebSocket URL map."""

from django.urls import path

from realtime.alpaca_stream import AlpacaStreamConsumer
from realtime.consumers import StreamConsumer

# django-stubs' path() knows only views; Channels routes ASGI applications with it.
websocket_urlpatterns = [
    path("ws/", StreamConsumer.as_asgi()),  # type: ignore[arg-type]
    path("stream", AlpacaStreamConsumer.as_asgi()),  # type: ignore[arg-type]  # Alpaca's (docs/alpaca.md)
]
