"""A perp market's contract size at its venues (units of the token one venue contract quotes), and
BONK-PERP's venue ids at the venues that list it per 1,000 BONK, where an operator left them blank."""

from django.db import migrations, models

BONK_IDS = {"binance_perp_symbol": "1000BONKUSDT", "hyperliquid_coin": "kBONK"}
VENUE_FIELDS = ("backpack_perp_symbol", "binance_perp_symbol", "hyperliquid_coin")


def fill(apps, schema_editor):
    market = apps.get_model("pricing", "Market")
    row = market.objects.filter(symbol="BONK-PERP", kind="perp").first()
    if row is None or any(getattr(row, name) for name in VENUE_FIELDS):
        return  # not seeded, or an operator set its venues: theirs stand
    for name, value in BONK_IDS.items():
        setattr(row, name, value)
    row.perp_contract_size = 1000
    row.save(update_fields=[*BONK_IDS, "perp_contract_size"])


class Migration(migrations.Migration):
    dependencies = [("pricing", "0005_market_perp_venue_ids")]

    operations = [
        migrations.AddField(
            model_name="market",
            name="perp_contract_size",
            field=models.DecimalField(
                decimal_places=6, default=1, max_digits=20,
                help_text="Units of the token one venue contract quotes: 1000 for Binance's 1000BONKUSDT and "
                "Hyperliquid's kBONK (their marks are divided by it). The same at every venue id above.",
            ),  # fmt: skip
        ),
        migrations.AddConstraint(
            model_name="market",
            constraint=models.CheckConstraint(
                condition=models.Q(perp_contract_size__gt=0), name="market_perp_contract_size_positive"
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
