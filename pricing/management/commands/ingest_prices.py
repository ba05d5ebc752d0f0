"""``manage.py ingest_prices --once``: run one ingest cycle and print what each source returned.
Without ``--once`` it keeps polling every ``PRICE_INGEST_INTERVAL_SECONDS`` (a standalone ingester)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from pricing.services import IngestReport, price_ingest_cycle


class Command(BaseCommand):
    help = "Poll the price sources (or the offline generators) and store every listed token's index."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run one cycle, print it and exit")

    def handle(self, *args, once: bool = False, **options):
        self.stdout.write(
            f"price mode: {settings.PRICE_MODE}" + ("" if settings.PRICE_MODE == "live" else " (OFFLINE)")
        )
        while True:
            report = price_ingest_cycle()
            self._print(report)
            if once:  # exit 1 unless every index got its price
                if not report.ok:
                    raise SystemExit(1)
                return
            time.sleep(settings.PRICE_INGEST_INTERVAL_SECONDS)

    def _print(self, report: IngestReport) -> None:
        if report.skipped:
            self.stdout.write(f"skipped: {report.reason}")
            return
        for r in report.results:
            line = f"{r.source:<9} {r.status.upper() if r.status != 'ok' else 'ok'} requests={r.requests}"
            self.stdout.write(f"{line} latency={r.latency_ms}ms" + (f": {r.error}" if r.error else ""))
        for index in report.indexes.values():
            self.stdout.write(f"{index.symbol} ({index.mode}, quorum {index.quorum}):")
            for name, obs in index.observations.items():
                book = f" bid={obs.bid} ask={obs.ask}" if obs.bid is not None else ""
                verdict = f"REJECTED ({index.rejected[name]})" if name in index.rejected else "ok"
                self.stdout.write(f"  {name:<9} {verdict:<4} price={obs.price} {obs.quote}{book}")
            for name, why in index.failed.items():
                self.stdout.write(f"  {name:<9} {why}")
            if index.quote is not None:
                q = index.quote
                self.stdout.write(
                    self.style.SUCCESS(
                        f"{index.symbol} {q.price} (bid {q.bid} ask {q.ask}) from {q.source_label} "
                        f"dispersion={q.dispersion} mode={q.mode} at {q.computed_at.isoformat()}"
                    )
                )
            else:
                self.stdout.write(self.style.ERROR(f"{index.symbol} {index.reason}"))
