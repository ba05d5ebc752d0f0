"""Run jobs at once on real threads (each its own database connection), for the race tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def race(*jobs: Callable) -> list:
    """Start ``jobs`` together behind a barrier; each one's answer, or the exception it raised (the
    loser's answer, kept to assert on), in order."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = jobs[index]()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
