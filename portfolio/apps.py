from django.apps import AppConfig


class PortfolioConfig(AppConfig):
    name = "portfolio"
    verbose_name = "Portfolio (money and ledger)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import hooks
        from portfolio.feed import portfolio_ws_snapshot
        from portfolio.services.accounts import account_open

        hooks.user_created.register(account_open)  # a new user's books and starting grant
        hooks.portfolio_snapshot.register(portfolio_ws_snapshot)  # realtime's price-driven portfolio_update
