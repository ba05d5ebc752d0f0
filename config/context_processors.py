"""Template context every page gets: which stack mode is running."""

from django.conf import settings


def stack(request):
    return {"stack_mode": settings.STACK_MODE, "stack_mode_label": settings.STACK_MODE_LABEL}
