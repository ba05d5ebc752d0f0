from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading (orders and fills)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portfolio.reconcile import register_check
        from trading.reconcile import filled_orders_have_fills, fills_have_ledger_rows

        register_check("filled_orders_have_fills", filled_orders_have_fills)
        register_check("fills_have_ledger_rows", fills_have_ledger_rows)
