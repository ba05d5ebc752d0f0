"""A ``portfolio_snapshot`` hook implementation for tests: the real snapshot, with each call and its query count
recorded, and the owner's id stamped on the result (to check frames never cross users)."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolio.feed import portfolio_ws_snapshot

CALLS: list[tuple[int, int]] = []  # (user_id, queries the snapshot ran)


def counting_snapshot(*, user_id: int) -> dict:
    with CaptureQueriesContext(connection) as queries:
        snapshot = portfolio_ws_snapshot(user_id=user_id)
    CALLS.append((user_id, len(queries)))
    return {**snapshot, "probe_user_id": user_id}
