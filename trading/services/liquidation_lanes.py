"""Split a tick's crossed positions into lanes that can run at the same time (docs/positions.md).

A liquidation batch locks its owners' USD balance rows, their event counters, and the
``house``/``insurance`` rows of the ledger shards its owners map to (the ledger's one shard rule,
``portfolio.services.ledger.system_shard``: ``user_id % LEDGER_SYSTEM_SHARDS``). Two batches
that share none of those rows never wait on each other. So a lane is a set of whole shard
classes: every position of a user, and every user of a shard, lands in the same lane, and lanes
share no locked row. Shard classes are dealt largest first to the lane with the fewest
positions, so lanes come out even whatever the id distribution.

With ``LEDGER_SYSTEM_SHARDS = 1`` (or a tick whose owners all map to one shard) there is one lane.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from django.conf import settings
from django.db import connection

from portfolio.services.ledger import system_shard


def lanes_split(rows: Sequence[tuple[object, int]], *, lanes: int, shards: int) -> list[list]:
    """``(position_id, user_id)`` rows -> at most ``lanes`` non-empty lists of position ids, each
    in the order of ``rows``; no shard class is split across lanes; the first lane is the largest."""
    sizes: Counter = Counter(system_shard(user_id, shards) for _position_id, user_id in rows)
    loads = [0] * max(1, lanes)
    lane_of: dict[int, int] = {}
    for shard in sorted(sizes, key=lambda s: (-sizes[s], s)):
        lane = loads.index(min(loads))
        lane_of[shard] = lane
        loads[lane] += sizes[shard]
    out: list[list] = [[] for _ in loads]
    for position_id, user_id in rows:
        out[lane_of[system_shard(user_id, shards)]].append(position_id)
    return sorted((lane for lane in out if lane), key=len, reverse=True)


def lanes_wanted(candidates: int, *, lanes: int, batch: int) -> int:
    """How many lanes to split ``candidates`` into: 1 unless other worker processes can take
    lanes (real broker, PostgreSQL) and there is more than one ``batch`` of work; at most ``lanes``."""
    if lanes <= 1 or settings.CELERY_TASK_ALWAYS_EAGER or not settings.POSITION_ENGINE_ASYNC:
        return 1
    if connection.vendor != "postgresql":
        return 1
    return max(1, min(lanes, -(-candidates // max(1, batch))))
