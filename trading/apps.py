from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading (orders, fills, positions)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portfolio.positions import register_position_provider
        from portfolio.reconcile import register_check
        from pricing.signals import price_tick_accepted
        from trading import reconcile
        from trading.position_totals import position_totals
        from trading.receivers import liquidate_on_price_tick

        register_check("filled_orders_have_fills", reconcile.filled_orders_have_fills)
        register_check("fills_have_ledger_rows", reconcile.fills_have_ledger_rows)
        register_check("open_margin_matches_locked", reconcile.open_margin_matches_locked)
        register_check("positions_have_ledger_rows", reconcile.positions_have_ledger_rows)
        register_position_provider(position_totals)
        price_tick_accepted.connect(liquidate_on_price_tick, dispatch_uid="trading.liquidate_on_price_tick")
