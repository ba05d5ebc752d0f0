"""``manage.py reconcile``: check every invariant of the books; exit 1 on any breach."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from portfolio.reconcile import reconcile_run


class Command(BaseCommand):
    help = "Check the ledger invariants (balanced transactions, balances = entries, no negatives, fills)."

    def handle(self, *args, **options) -> None:
        results = reconcile_run()
        breaches = 0
        for name, problems in results.items():
            status = "ok" if not problems else f"{len(problems)} breach(es)"
            self.stdout.write(f"{name}: {status}")
            for problem in problems:
                self.stdout.write(f"  - {problem}")
            breaches += len(problems)
        if breaches:
            self.stderr.write(f"reconcile FAILED: {breaches} breach(es)")
            sys.exit(1)
        self.stdout.write("reconcile ok")
