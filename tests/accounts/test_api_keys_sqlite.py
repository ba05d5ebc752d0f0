"""Embedded mode: API keys authenticate through the SQLite twin of the key lookup (headers and
Bearer), and a revoke or a disabled user refuses the next request, in a child process on a fresh
SQLite database."""

from __future__ import annotations

import pytest

from tests.conftest import sqlite_script_run

pytestmark = pytest.mark.slow

SCRIPT = r"""
import django
django.setup()
from django.db import connection
from django.test import RequestFactory
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from accounts.authentication import ApiKeyHeaderAuthentication, BearerAuthentication
from accounts.models import ApiKey, User
from accounts.services import api_key_create, api_key_revoke

assert connection.vendor == "sqlite", connection.vendor
user = User.objects.create_user(username="bot", address="addr0")
key, secret = api_key_create(user=user, name="bot", scopes=["read"])
factory = RequestFactory()
headers = Request(factory.get("/", HTTP_APCA_API_KEY_ID=key.key_id, HTTP_APCA_API_SECRET_KEY=secret))
bearer = Request(factory.get("/", HTTP_AUTHORIZATION=f"Bearer {secret}"))
for auth, request in ((ApiKeyHeaderAuthentication(), headers), (BearerAuthentication(), bearer)):
    found, context = auth.authenticate(request)
    assert found == user and found.address == "addr0" and found.created_at.tzinfo is not None, found
    assert context.scopes == frozenset({"read"}) and context.api_key_id == key.key_id
assert ApiKey.objects.get().last_used_at is not None
User.objects.filter(pk=user.pk).update(is_active=False)
for auth, request in ((ApiKeyHeaderAuthentication(), headers), (BearerAuthentication(), bearer)):
    try:
        auth.authenticate(request)
        raise SystemExit("a disabled user's key authenticated")
    except AuthenticationFailed:
        pass
User.objects.filter(pk=user.pk).update(is_active=True)
api_key_revoke(user=user, key_id=key.key_id)
try:
    ApiKeyHeaderAuthentication().authenticate(headers)
    raise SystemExit("a revoked key authenticated")
except AuthenticationFailed:
    pass
print("api keys ok on sqlite")
"""


def test_api_keys_authenticate_on_sqlite(tmp_path):
    """Headers and Bearer authenticate as the key's user (a whole, timezone-aware row) with its
    scopes; a disabled user's key and a revoked key are refused at once."""
    run = sqlite_script_run(tmp_path, SCRIPT, LEDGER_SYSTEM_SHARDS="1")
    assert "api keys ok on sqlite" in run.stdout
