"""The one-call fill, version 2 (``trading/sql/fill_market_order_v2.sql``): per market, the base
asset's own book and the ``holdings`` of ``portfolio_update``. PostgreSQL only; same signature as
version 1, so ``CREATE OR REPLACE`` swaps it; going back re-creates version 1. Orders' and fills'
``symbol`` lose their one-choice list (any market of the registry)."""

from pathlib import Path

from django.db import migrations, models

SQL = Path(__file__).resolve().parent.parent / "sql"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute((SQL / "fill_market_order_v2.sql").read_text(), params=None)


def back(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute((SQL / "fill_market_order_v1.sql").read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [("trading", "0007_positions_per_market"), ("portfolio", "0003_assets_per_registry")]

    operations = [
        migrations.AlterField(model_name="fill", name="symbol", field=models.CharField(max_length=24)),
        migrations.AlterField(model_name="order", name="symbol", field=models.CharField(max_length=24)),
        migrations.RunPython(create, back),
    ]
