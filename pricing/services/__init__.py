"""Every write of the pricing app."""

from pricing.services.candles import candle_prune, candle_record_tick
from pricing.services.health import source_health_record
from pricing.services.ingest import IngestReport, price_ingest_cycle, price_ingest_run
from pricing.services.ticks import price_tick_accept

__all__ = [
    "IngestReport",
    "candle_prune",
    "candle_record_tick",
    "price_ingest_cycle",
    "price_ingest_run",
    "price_tick_accept",
    "source_health_record",
]
