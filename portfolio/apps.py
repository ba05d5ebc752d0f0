from django.apps import AppConfig


class PortfolioConfig(AppConfig):
    name = "portfolio"
    verbose_name = "Portfolio (money and ledger)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from portfolio.receivers import open_account_for_new_user

        post_save.connect(
            open_account_for_new_user, sender=get_user_model(), dispatch_uid="portfolio.open_account_for_new_user"
        )
