"""WSGI entry point: gunicorn serves HTTP from it in the real stack (``config/gunicorn_conf.py``);
WebSockets stay on daphne (``config.asgi``).

Like the ASGI entry point it runs the preflight on load unless ``PREFLIGHT_ON_START=0`` (the
supervisor runs it once for every child). It never starts the in-process scheduler: it would
run once per worker process; the periodic jobs come from Celery beat (or the daphne process).
"""

import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from django.conf import settings  # noqa: E402

if settings.PREFLIGHT_ON_START:
    from config.preflight import require_backends

    require_backends()
    logging.getLogger("config.wsgi").info(
        "serving in %s mode; database: %s", settings.STACK_MODE_LABEL, settings.STACK.database.label
    )
