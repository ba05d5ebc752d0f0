from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Realtime (WebSocket events)"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from realtime import receivers

        user_logged_out.connect(receivers.on_user_logged_out, dispatch_uid="realtime.logout")
        try:
            from accounts.signals import session_revoked
        except ImportError:  # accounts without revocation signals: cookie logout still closes
            return
        session_revoked.connect(receivers.on_session_revoked, dispatch_uid="realtime.session_revoked")
