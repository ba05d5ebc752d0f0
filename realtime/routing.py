"""WebSocket URL map."""

from django.urls import path

from realtime.alpaca_stream import AlpacaStreamConsumer
from realtime.consumers import StreamConsumer

# django-stubs' path() knows only views; Channels routes ASGI applications with it.
websocket_urlpatterns = [path("ws/", StreamConsumer.as_asgi())]  # type: ignore[arg-type]

# Alpaca's trading stream (docs/alpaca.md), served apart from /ws/: its clients (bots) send no
# Origin header, and it authenticates by an API key in a frame, never by a cookie, so the origin
# check that guards /ws/'s cookie sockets against cross-site pages does not apply (config/asgi.py).
ALPACA_STREAM_PATH = "/stream"
alpaca_stream_app = AlpacaStreamConsumer.as_asgi()
