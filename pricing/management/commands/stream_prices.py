"""``manage.py stream_prices``: the market-data stream service (pricing.streams; docs/pricing.md,
"Streams"), one per deployment like beat. In an offline price mode, or with ``PRICE_STREAMS=0``,
it says why on one line and idles until stopped (so the supervisor's other children go on)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from pricing.streams.runner import serve


class Command(BaseCommand):
    help = "Stream the venues' tickers and Pyth's prices into the index (stops on SIGTERM / Ctrl-C)."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")

    def handle(self, *args, seconds: float | None = None, **options):
        serve(seconds=seconds)
