"""Check that the configured database and Redis answer; exit non-zero if not."""

from django.conf import settings
from django.core.management.base import BaseCommand

from config.preflight import require_backends


class Command(BaseCommand):
    help = "Fail fast with one line when the configured PostgreSQL/SQLite or Redis is unreachable."

    def handle(self, *args, **options):
        require_backends()
        self.stdout.write(f"preflight ok: {settings.STACK_MODE_LABEL}; database: {settings.STACK.database.label}")
