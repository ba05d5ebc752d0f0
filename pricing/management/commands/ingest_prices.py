"""``manage.py ingest_prices --once``: run one ingest cycle and print what each source returned.
Without ``--once`` it keeps polling every ``PRICE_INGEST_INTERVAL_SECONDS`` (a standalone ingester)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from pricing.services import IngestReport, price_ingest_cycle


class Command(BaseCommand):
    help = "Poll the price sources (or the offline generator) and store the SOL-USD index."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run one cycle, print it and exit")

    def handle(self, *args, once: bool = False, **options):
        self.stdout.write(
            f"price mode: {settings.PRICE_MODE}" + ("" if settings.PRICE_MODE == "live" else " (OFFLINE)")
        )
        while True:
            report = price_ingest_cycle()
            self._print(report)
            if once:
                if not report.ok:
                    raise SystemExit(1)
                return
            time.sleep(settings.PRICE_INGEST_INTERVAL_SECONDS)

    def _print(self, report: IngestReport) -> None:
        if report.skipped:
            self.stdout.write(f"skipped: {report.reason}")
            return
        rejected = report.rejected
        for r in report.results:
            if r.reading is not None:
                obs = r.reading.observation
                book = f" bid={obs.bid} ask={obs.ask}" if obs.bid is not None else ""
                verdict = f"REJECTED ({rejected[r.source]})" if r.source in rejected else "ok"
                self.stdout.write(
                    f"  {r.source:<9} {verdict:<4} price={obs.price} {obs.quote}{book} latency={r.latency_ms}ms"
                )
            else:
                self.stdout.write(f"  {r.source:<9} {r.status.upper()}: {r.error}")
        if report.quote is not None:
            q = report.quote
            self.stdout.write(
                self.style.SUCCESS(
                    f"SOL-USD {q.price} (bid {q.bid} ask {q.ask}) from {q.source_label} "
                    f"dispersion={q.dispersion} mode={q.mode} at {q.computed_at.isoformat()}"
                )
            )
        else:
            self.stdout.write(self.style.ERROR(report.reason))
