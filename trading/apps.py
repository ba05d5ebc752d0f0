from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading (orders, fills, positions)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import hooks
        from trading import funding_tasks  # noqa: F401  (registers ``trading.funding_settle_due``)
        from trading.alpaca.stream import trade_updates
        from trading.funding_selectors import funding_last
        from trading.position_totals import position_totals
        from trading.reconcile import trading_checks
        from trading.tasks import liquidate_on_price_tick

        hooks.price_tick_accepted.register(liquidate_on_price_tick)  # every accepted tick feeds the engine
        hooks.position_totals.register(position_totals)  # portfolio's view of open positions
        hooks.reconcile_checks.register(trading_checks)  # trading's invariants in `manage.py reconcile`
        hooks.trade_updates.register(trade_updates)  # the Alpaca stream's trade_updates (docs/alpaca.md)
        hooks.funding_last.register(funding_last)  # the markets API's last funding rate and time
