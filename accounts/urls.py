"""Accounts routes, mounted under /api/v1/ by config.urls."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("auth/nonce", views.NonceApi.as_view(), name="auth-nonce"),
    path("auth/verify", views.VerifyApi.as_view(), name="auth-verify"),
    path("auth/me", views.MeApi.as_view(), name="auth-me"),
    path("auth/logout", views.LogoutApi.as_view(), name="auth-logout"),
    path("auth/sessions", views.SessionListApi.as_view(), name="auth-sessions"),
    path("auth/sessions/<uuid:session_id>", views.SessionDeleteApi.as_view(), name="auth-session-delete"),
    path("auth/api-keys", views.ApiKeysApi.as_view(), name="auth-api-keys"),
    path("auth/api-keys/<str:key_id>", views.ApiKeyRevokeApi.as_view(), name="auth-api-key-revoke"),
]
