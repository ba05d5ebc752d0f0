"""The Celery application: Redis broker in the real stack, eager in embedded mode.

Worker and beat refuse to start when the database or Redis is unreachable
(``config.preflight``), like the web process.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("solpaper")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _preflight(**_kwargs) -> None:
    from config.preflight import require_backends

    require_backends()
