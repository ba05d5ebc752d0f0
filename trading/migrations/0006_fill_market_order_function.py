"""The one-call market-order fill (``trading/sql/fill_market_order_v1.sql``), PostgreSQL only.

The function's text is a versioned file that never changes once released: a new version is a new
file and a new migration (``CREATE OR REPLACE``), so this migration always means the same thing.
SQLite (embedded mode) has no stored functions: the Python path fills there.
"""

from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent.parent / "sql" / "fill_market_order_v1.sql"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SQL.read_text(), params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS trading_fill_market_order", params=None)
        schema_editor.execute("DROP FUNCTION IF EXISTS trading_order_outcome_exists", params=None)
        schema_editor.execute("DROP FUNCTION IF EXISTS trading_round_half_even", params=None)


class Migration(migrations.Migration):
    dependencies = [("trading", "0005_order_status_filled_only")]

    operations = [migrations.RunPython(create, drop)]
