"""Seed the market registry (pricing/seed_data.py): 7 tokens, 12 markets."""

from django.db import migrations


def seed(apps, schema_editor):
    from pricing.seed_data import seed_markets

    seed_markets(apps.get_model("pricing", "Token"), apps.get_model("pricing", "Market"))


class Migration(migrations.Migration):
    dependencies = [("pricing", "0002_market_registry")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
