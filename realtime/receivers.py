"""Close sockets whose sign-in session ended: a revoke (the ``session_revoked`` hook of
``core.hooks``, called by accounts) or a cookie logout (Django's ``user_logged_out`` signal)."""

from __future__ import annotations

from channels.layers import get_channel_layer
from django.db import transaction

from realtime.groups import cookie_session_group, session_group
from realtime.publish import group_send_now


def _close_group(group: str) -> None:
    if get_channel_layer() is None:
        return
    try:
        group_send_now(group, {"type": "session.revoked"})
    except Exception:  # a broken layer must not break logout
        pass


def on_session_revoked(*, user_id: int, session_id: str) -> None:
    if session_id:
        group = session_group(str(session_id))
        transaction.on_commit(lambda: _close_group(group))


def on_user_logged_out(sender, request=None, user=None, **kwargs) -> None:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:
        _close_group(cookie_session_group(key))
