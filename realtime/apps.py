from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Realtime (WebSocket events)"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from core import hooks
        from realtime import receivers

        user_logged_out.connect(receivers.on_user_logged_out, dispatch_uid="realtime.logout")
        hooks.session_revoked.register(receivers.on_session_revoked)  # accounts revoked a credential
