"""WebSocket authentication middleware (the session cookie for browsers)."""

from channels.auth import AuthMiddlewareStack

WebSocketAuthMiddleware = AuthMiddlewareStack
