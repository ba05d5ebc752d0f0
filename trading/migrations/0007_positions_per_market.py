"""Positions per market (issue 17): ``Position.symbol`` / ``PositionOrder.symbol`` are any perp
market of the registry (free text validated by ``pricing.markets``, no model choices), and the
engine's partial index leads with the market, so one index's tick scans only its markets.

The new index is built before the old one is dropped (the engine always has one)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0006_fill_market_order_function"),
    ]

    operations = [
        migrations.AlterField(
            model_name="position",
            name="symbol",
            field=models.CharField(default="SOL-PERP", max_length=24),
        ),
        migrations.AlterField(
            model_name="positionorder",
            name="symbol",
            field=models.CharField(default="SOL-PERP", max_length=24),
        ),
        migrations.AddIndex(
            model_name="position",
            index=models.Index(
                condition=models.Q(("status", "open")),
                fields=["symbol", "side", "liquidation_price"],
                name="position_open_sym_side_liq",
            ),
        ),
        migrations.RemoveIndex(model_name="position", name="position_open_side_liq"),
    ]
