"""ASGI entry point (daphne): HTTP through Django, WebSockets through Channels.

On start it runs the preflight (unreachable database/Redis -> one line, exit
non-zero) and, in the embedded default, the in-process job scheduler.
"""

import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from config.realtime_prices import register as register_price_directory  # noqa: E402
from realtime.auth import WebSocketAuthMiddleware  # noqa: E402
from realtime.routing import ALPACA_STREAM_PATH, alpaca_stream_app, websocket_urlpatterns  # noqa: E402

register_price_directory()  # the market registry and latest prices, for the /ws/ price stream
# URLRouter's stub wants its check-only _ExtendedURLPattern in an invariant list (typeshed#15080).
websocket_router = URLRouter(websocket_urlpatterns)  # type: ignore[arg-type]
browser_sockets = AllowedHostsOriginValidator(WebSocketAuthMiddleware(websocket_router))


async def websockets(scope, receive, send):
    """``/stream`` (Alpaca's trading stream: API-key auth in a frame, no cookie, no Origin from its
    bot clients) goes straight to its consumer; every other socket through the origin check."""
    if scope.get("path") == ALPACA_STREAM_PATH:
        return await alpaca_stream_app(scope, receive, send)
    return await browser_sockets(scope, receive, send)


application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websockets})

if settings.PREFLIGHT_ON_START:
    from config.preflight import require_backends

    require_backends()
    logging.getLogger("config.asgi").info(
        "serving in %s mode; database: %s", settings.STACK_MODE_LABEL, settings.STACK.database.label
    )

if settings.INPROCESS_JOBS:
    from config import scheduler

    scheduler.start()
