"""Signals other apps listen to (the realtime layer closes a revoked session's sockets).

``session_revoked`` is sent after the revoking transaction commits, with kwargs
``user_id`` (int) and ``session_id`` (str: a session UUID, or ``"apikey-<key_id>"`` for an
API key, the same string ``selectors.user_from_token`` returns).
"""

from django.dispatch import Signal

session_revoked = Signal()
