"""A perp market's id at each venue publishing perp marks and funding rates (Backpack, Binance
USD-M, Hyperliquid), with the seeded perps' defaults where they are blank."""

from django.db import migrations, models

DEFAULTS = {
    "SOL-PERP": {"backpack_perp_symbol": "SOL_USDC_PERP", "binance_perp_symbol": "SOLUSDT", "hyperliquid_coin": "SOL"},
    "JUP-PERP": {"backpack_perp_symbol": "JUP_USDC_PERP", "binance_perp_symbol": "JUPUSDT", "hyperliquid_coin": "JUP"},
    "WIF-PERP": {"backpack_perp_symbol": "WIF_USDC_PERP", "binance_perp_symbol": "WIFUSDT", "hyperliquid_coin": "WIF"},
    "JTO-PERP": {"backpack_perp_symbol": "JTO_USDC_PERP", "binance_perp_symbol": "JTOUSDT", "hyperliquid_coin": "JTO"},
}


def fill(apps, schema_editor):
    market = apps.get_model("pricing", "Market")
    for symbol, ids in DEFAULTS.items():
        row = market.objects.filter(symbol=symbol, kind="perp").first()
        if row is None:
            continue
        changed = [name for name, value in ids.items() if not getattr(row, name)]
        for name in changed:
            setattr(row, name, ids[name])
        if changed:
            row.save(update_fields=changed)


class Migration(migrations.Migration):
    dependencies = [("pricing", "0004_candle_price_precision")]

    operations = [
        migrations.AddField(
            model_name="market",
            name="backpack_perp_symbol",
            field=models.CharField(blank=True, help_text="Backpack perp, e.g. SOL_USDC_PERP.", max_length=32),
        ),
        migrations.AddField(
            model_name="market",
            name="binance_perp_symbol",
            field=models.CharField(blank=True, help_text="Binance USD-M future, e.g. SOLUSDT.", max_length=32),
        ),
        migrations.AddField(
            model_name="market",
            name="hyperliquid_coin",
            field=models.CharField(blank=True, help_text="Hyperliquid perp coin, e.g. SOL.", max_length=32),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
