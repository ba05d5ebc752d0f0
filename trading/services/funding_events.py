"""The settlement's events: ``funding_payment`` per payment, then one ``portfolio_update`` per
account, stored in the settlement's transaction with the users' next seqs and published after
commit (``realtime.publish.user_events_emit_many``: a fixed number of statements, one Redis call
per shard). Their data arrive as JSON text (``trading.funding_payloads``)."""

from __future__ import annotations

from realtime.publish import RawJSON, user_events_emit_many
from trading.funding_maths import Settled


def funding_announce(settled: list[Settled]) -> None:
    """Inside the settlement's transaction."""
    if not settled:
        return
    events = [(s.user_id, "funding_payment", RawJSON(s.payment)) for s in settled]
    events += [(s.user_id, "portfolio_update", RawJSON(s.portfolio)) for s in settled]
    user_events_emit_many(events)
