"""Queue Celery tasks by name, so services never import tasks modules (tasks import services).

A service owns the name of each task it queues as a constant (``LIQUIDATE_LANE_TASK =
"trading.liquidate_lane"``) and the task is declared with it (``@shared_task(name=...)``), so a
grep links both ends. The task is looked up in the Celery app's registry and sent with its own
``apply_async``: in embedded mode and in tests (``CELERY_TASK_ALWAYS_EAGER``) it runs inline, as
``.delay`` would. A process that has not imported a task's module yet (a web process) has the
registry filled by Celery's autodiscovery of every installed app's ``tasks.py``, as a worker
does when it starts; a name no app declares raises ``KeyError``.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app
from django.db import transaction

logger = logging.getLogger("core.jobs")


def _task(name: str) -> Task:
    tasks = current_app.tasks
    if name not in tasks:
        current_app.autodiscover_tasks(force=True)
    return tasks[name]


def enqueue(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """Send ``task_name(*args)`` now (inline when eager); a broker error is raised to the caller."""
    task = _task(task_name)
    if countdown is None:
        task.apply_async(args)
    else:
        task.apply_async(args, countdown=countdown)


def enqueue_on_commit(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """Send ``task_name(*args)`` once the current transaction commits (at once outside one).

    A failure to send (broker down) is logged and dropped: it never fails the work that committed."""

    def send() -> None:
        try:
            enqueue(task_name, *args, countdown=countdown)
        except Exception:
            logger.warning("could not queue task %s", task_name, exc_info=True)

    transaction.on_commit(send)
