from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The wiring package as an app: management commands and platform tasks."""

    name = "config"
    label = "platform"
    verbose_name = "Platform"
