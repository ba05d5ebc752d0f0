"""Tasks queued by name (core.jobs): eager runs inline, on-commit waits for the commit, a failure
to queue never reaches the committed work, and a process that never imported a tasks module
still finds every task by name."""

from __future__ import annotations

import logging
import subprocess

import pytest
from celery import current_app, shared_task

from core.jobs import enqueue, enqueue_on_commit
from tests.conftest import PYTHON, ROOT, subprocess_env
from trading import tasks as trading_tasks
from trading.services.liquidation import LIQUIDATE_LANE_TASK

RECORD_TASK = "tests.core.record"
RECORDED: list[tuple] = []


@shared_task(name=RECORD_TASK, ignore_result=True)
def record(*args) -> None:
    RECORDED.append(args)


@pytest.fixture(autouse=True)
def _recorded():
    RECORDED.clear()
    yield RECORDED
    RECORDED.clear()


def test_the_name_constants_are_the_tasks_names():
    """Each service's constant is the name its task is registered under (grep links both ends)."""
    assert trading_tasks.liquidate_lane.name == LIQUIDATE_LANE_TASK


def test_enqueue_by_name_runs_inline_when_eager(tasks_sent):
    """Tests (like embedded mode) run Celery eagerly: the task has run when enqueue returns (and
    the ``tasks_sent`` fixture other tests assert on saw it)."""
    assert current_app.conf.task_always_eager
    enqueue(RECORD_TASK, 1, "two", countdown=5)
    assert RECORDED == [(1, "two")] and tasks_sent == [RECORD_TASK]


@pytest.mark.django_db
def test_enqueue_on_commit_waits_for_the_commit(django_capture_on_commit_callbacks):
    """Nothing is sent while the transaction is open; the commit sends it."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enqueue_on_commit(RECORD_TASK, [3, 4])
    assert RECORDED == []
    for callback in callbacks:
        callback()
    assert RECORDED == [([3, 4],)]


@pytest.mark.django_db
def test_a_failure_to_queue_is_logged_never_raised(django_capture_on_commit_callbacks, caplog):
    """A task that cannot be sent (here: no such task) never fails the work that committed."""
    with caplog.at_level(logging.WARNING, logger="core.jobs"):
        with django_capture_on_commit_callbacks(execute=True):
            enqueue_on_commit("tests.core.no_such_task", 1)
    assert "could not queue task tests.core.no_such_task" in caplog.text
    with pytest.raises(KeyError):
        enqueue("tests.core.no_such_task", 1)


SCRIPT = r"""
import django
django.setup()
from celery import current_app
from core.jobs import _task
NAME = "portfolio.leaderboard_update_changed"  # beat names it; no service queues it
assert NAME not in current_app.tasks, "portfolio.tasks imported at start-up"
assert _task(NAME).name == NAME
print("found by name")
"""


def test_a_process_that_never_imported_the_tasks_module_finds_the_task_by_name():
    """A web process imports no tasks module; the first enqueue registers them (autodiscovery)."""
    env = subprocess_env(DJANGO_SETTINGS_MODULE="config.settings.test")
    run = subprocess.run([PYTHON, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "found by name" in run.stdout
