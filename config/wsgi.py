"""WSGI entry point: gunicorn serves HTTP from it in the real stack (``config/gunicorn_conf.py``);
WebSockets stay on daphne (``config.asgi``).

Like the ASGI entry point it runs the preflight on load unless ``PREFLIGHT_ON_START=0`` (the
supervisor runs it once for every child). It never starts the in-process scheduler: it would
run once per worker process; the periodic jobs come from Celery beat (or the daphne process).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

from django.core.wsgi import get_wsgi_application  # noqa: E402

DRAIN_CHUNK = 64 * 1024


class ReadWholeBody:
    """Read whatever the app left unread of the request body before the response goes out.

    Django answers some requests without reading their body: a 413 refuses it on its
    Content-Length, a 401 comes before parsing. gunicorn then discards at most 64 KiB and closes
    the connection, while nginx, which sends the body it buffered, may still be writing: it gets
    a broken pipe and answers 502 instead of the app's response. Reading the rest from the local
    socket (nginx never forwards more than its ``client_max_body_size``) keeps the app's answer
    and the kept-alive connection. Only under gunicorn, whose ``wsgi.input`` ends where the body
    ends (a server whose input is the raw socket would block reading past it).
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = self.app(environ, start_response)
        body = environ.get("wsgi.input")
        if body is not None and environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/"):
            while body.read(DRAIN_CHUNK):
                pass
        return response


application = ReadWholeBody(get_wsgi_application())

from django.conf import settings  # noqa: E402

if settings.PREFLIGHT_ON_START:
    from config.preflight import require_backends

    require_backends()
    logging.getLogger("config.wsgi").info(
        "serving in %s mode; database: %s", settings.STACK_MODE_LABEL, settings.STACK.database.label
    )
