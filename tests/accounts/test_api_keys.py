"""API keys for bots: create (secret once, hashed), Alpaca headers and Bearer, scopes, revoke."""

from __future__ import annotations

import pytest
from django.urls import path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import CanTrade, IsAuthenticatedRead
from accounts.selectors import session_is_active, user_from_token
from core import hooks
from tests.accounts.helpers import post_json, sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.test_api_keys")]


class OrdersProbe(APIView):
    """Stands in for an order endpoint of the trading app: permission_classes = [CanTrade]."""

    permission_classes = [CanTrade]

    def get(self, request):
        return Response({"user": request.user.pk, "scopes": sorted(request.auth.scopes)})

    def post(self, request):
        return Response({"placed": True}, status=201)


class ReadProbe(APIView):
    permission_classes = [IsAuthenticatedRead]

    def get(self, request):
        return Response({"kind": request.auth.kind})


from config.urls import urlpatterns as _root  # noqa: E402

urlpatterns = [
    path("probe/orders", OrdersProbe.as_view()),
    path("probe/read", ReadProbe.as_view()),
    *_root,
]


@pytest.fixture
def signed_in():
    client = APIClient()
    token, user = sign_in(client)
    session_client = APIClient()
    session_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return session_client, user


def create_key(client, scopes, name="bot"):
    response = post_json(client, "/api/v1/auth/api-keys", {"name": name, "scopes": scopes})
    assert response.status_code == 201, response.content
    return response.json()


def headers(key) -> dict:
    return {"HTTP_APCA_API_KEY_ID": key["key_id"], "HTTP_APCA_API_SECRET_KEY": key["secret"]}


def test_create_shows_the_secret_once_and_stores_a_hash(signed_in):
    """The secret is in the create response only; the database holds its SHA-256; the list omits it."""
    client, user = signed_in
    key = create_key(client, ["read"])
    assert key["key_id"].startswith("PK") and key["secret"].startswith("spk_")
    stored = ApiKey.objects.get(key_id=key["key_id"])
    assert stored.secret_hash != key["secret"] and key["secret"] not in stored.secret_hash
    listed = client.get("/api/v1/auth/api-keys").json()
    assert [row["key_id"] for row in listed] == [key["key_id"]]
    assert "secret" not in listed[0] and listed[0]["scopes"] == ["read"]


def test_alpaca_headers_and_bearer_authenticate(signed_in):
    """Both APCA-API-KEY-ID/APCA-API-SECRET-KEY and 'Bearer <secret>' authenticate as the key's user."""
    client, user = signed_in
    key = create_key(client, ["read", "trade"])
    me = APIClient().get("/api/v1/auth/me", **headers(key)).json()
    assert me["user"]["id"] == user.pk and me["auth"]["kind"] == "api_key"
    assert me["auth"]["session_id"] == f"apikey-{key['key_id']}"
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Bearer {key['secret']}")
    assert bot.get("/api/v1/auth/me").json()["user"]["id"] == user.pk
    assert user_from_token(key["secret"]) == (user, f"apikey-{key['key_id']}")
    assert ApiKey.objects.get(key_id=key["key_id"]).last_used_at is not None


def test_wrong_secret_or_half_headers_are_401(signed_in):
    """A wrong secret for a real key id, or only one of the two headers -> 401 authentication_failed."""
    client, _ = signed_in
    key = create_key(client, ["read"])
    wrong = {"HTTP_APCA_API_KEY_ID": key["key_id"], "HTTP_APCA_API_SECRET_KEY": key["secret"][:-1] + "x"}
    assert APIClient().get("/api/v1/auth/me", **wrong).status_code == 401
    half = {"HTTP_APCA_API_KEY_ID": key["key_id"]}
    assert APIClient().get("/api/v1/auth/me", **half).json()["code"] == "authentication_failed"
    other = create_key(client, ["read"], name="other")
    swapped = {"HTTP_APCA_API_KEY_ID": other["key_id"], "HTTP_APCA_API_SECRET_KEY": key["secret"]}
    assert APIClient().get("/api/v1/auth/me", **swapped).status_code == 401


def test_read_scope_cannot_trade(signed_in):
    """A read-only key: GET on a CanTrade endpoint works, POST -> 403 scope_missing."""
    client, _ = signed_in
    key = create_key(client, ["read"])
    bot = APIClient()
    assert bot.get("/probe/orders", **headers(key)).status_code == 200
    refused = bot.post("/probe/orders", {}, format="json", **headers(key))
    assert refused.status_code == 403 and refused.json()["code"] == "scope_missing"
    assert refused.json()["extra"]["required_scope"] == "trade"


def test_trade_scope_trades_and_implies_read(signed_in):
    """A trade key may POST to CanTrade endpoints; 'trade' alone is stored as read+trade."""
    client, _ = signed_in
    key = create_key(client, ["trade"])
    assert key["scopes"] == ["read", "trade"]
    assert APIClient().post("/probe/orders", {}, format="json", **headers(key)).status_code == 201


def test_sessions_have_every_scope(signed_in):
    """A bearer session passes CanTrade for unsafe methods and IsAuthenticatedRead."""
    client, _ = signed_in
    assert client.post("/probe/orders", {}, format="json").status_code == 201
    assert client.get("/probe/read").json() == {"kind": "session"}
    assert APIClient().get("/probe/orders").status_code == 401


def test_api_keys_cannot_manage_credentials(signed_in):
    """An API key cannot list/create keys, list sessions or log out -> 403 session_required."""
    client, _ = signed_in
    key = create_key(client, ["read", "trade"])
    bot = APIClient()
    assert bot.get("/api/v1/auth/api-keys", **headers(key)).json()["code"] == "session_required"
    created = bot.post("/api/v1/auth/api-keys", {"name": "x", "scopes": ["read"]}, format="json", **headers(key))
    assert created.status_code == 403
    assert bot.post("/api/v1/auth/logout", **headers(key)).status_code == 403
    assert ApiKey.objects.count() == 1


def test_invalid_scopes_are_validation_errors(signed_in):
    """Unknown or empty scopes -> 400 validation_error on 'scopes'."""
    client, _ = signed_in
    for scopes in (["admin"], [], "read"):
        response = post_json(client, "/api/v1/auth/api-keys", {"name": "x", "scopes": scopes})
        assert response.status_code == 400
        assert all(name.startswith("scopes") for name in response.json()["extra"]["fields"])
    assert ApiKey.objects.count() == 0


def test_revoke_stops_the_key_and_signals(signed_in, django_capture_on_commit_callbacks):
    """DELETE /auth/api-keys/{key_id} revokes: headers and Bearer stop working, the session_revoked hook runs."""
    client, user = signed_in
    key = create_key(client, ["read"])
    events = []
    realtime = hooks.session_revoked.implementation

    def recording(*, user_id: int, session_id: str) -> None:
        events.append(session_id)
        realtime(user_id=user_id, session_id=session_id)

    with hooks.session_revoked.replaced(recording), django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/v1/auth/api-keys/{key['key_id']}").status_code == 204
    assert events == [f"apikey-{key['key_id']}"]
    assert APIClient().get("/api/v1/auth/me", **headers(key)).status_code == 401
    assert user_from_token(key["secret"]) is None and not session_is_active(f"apikey-{key['key_id']}")
    assert client.get("/api/v1/auth/api-keys").json()[0]["revoked_at"] is not None


def test_cannot_revoke_someone_elses_key(signed_in):
    """Another user's key id -> 404 not_found; the key keeps working."""
    client, _ = signed_in
    key = create_key(client, ["read"])
    other = APIClient()
    token, _ = sign_in(APIClient())
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert other.delete(f"/api/v1/auth/api-keys/{key['key_id']}").json()["code"] == "not_found"
    assert APIClient().get("/api/v1/auth/me", **headers(key)).status_code == 200


def test_key_limit_per_user(signed_in, settings):
    """Beyond AUTH_MAX_API_KEYS_PER_USER active keys -> 409 api_key_limit."""
    settings.AUTH_MAX_API_KEYS_PER_USER = 2
    client, _ = signed_in
    create_key(client, ["read"])
    create_key(client, ["read"])
    response = post_json(client, "/api/v1/auth/api-keys", {"name": "third", "scopes": ["read"]})
    assert response.status_code == 409 and response.json()["code"] == "api_key_limit"
    assert ApiKey.objects.count() == 2


def test_last_used_at_is_written_at_most_once_a_minute(signed_in, django_assert_num_queries):
    """A key used less than a minute ago authenticates with one query (no UPDATE per request);
    once its ``last_used_at`` is over a minute old, the next request refreshes it."""
    from datetime import timedelta

    from django.utils import timezone

    client, _user = signed_in
    key = create_key(client, ["read"])
    bot = APIClient()
    assert bot.get("/probe/read", **headers(key)).status_code == 200
    first = ApiKey.objects.get(key_id=key["key_id"]).last_used_at
    assert first is not None
    with django_assert_num_queries(1):
        assert bot.get("/probe/read", **headers(key)).status_code == 200
    assert ApiKey.objects.get(key_id=key["key_id"]).last_used_at == first
    old = timezone.now() - timedelta(minutes=5)
    ApiKey.objects.filter(key_id=key["key_id"]).update(last_used_at=old)
    assert bot.get("/probe/read", **headers(key)).status_code == 200
    assert ApiKey.objects.get(key_id=key["key_id"]).last_used_at > old


def test_bearer_with_an_api_key_secret_is_one_statement_too(signed_in, django_assert_num_queries):
    """``Authorization: Bearer <secret>`` reads the key and its user in one statement, and skips the
    ``last_used_at`` UPDATE while the key was used less than a minute ago (as the headers do)."""
    client, user = signed_in
    key = create_key(client, ["read"])
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Bearer {key['secret']}")
    assert bot.get("/probe/read").status_code == 200
    with django_assert_num_queries(1):
        assert bot.get("/probe/orders").json() == {"user": user.pk, "scopes": ["read"]}


def test_a_disabled_user_or_a_revoked_key_is_refused_on_the_very_next_request(signed_in):
    """Nothing of a key is kept between requests: disabling its user, or revoking it behind the API's
    back (the admin, another process), refuses the next request with either credential form."""
    from django.utils import timezone

    from accounts.models import User

    client, user = signed_in
    key = create_key(client, ["read"])
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Bearer {key['secret']}")
    assert bot.get("/probe/read").status_code == 200
    assert APIClient().get("/probe/read", **headers(key)).status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert bot.get("/probe/read").status_code == 401
    assert APIClient().get("/probe/read", **headers(key)).json()["code"] == "authentication_failed"
    assert user_from_token(key["secret"]) is None
    User.objects.filter(pk=user.pk).update(is_active=True)
    assert bot.get("/probe/read").status_code == 200
    ApiKey.objects.filter(key_id=key["key_id"]).update(revoked_at=timezone.now())
    assert bot.get("/probe/read").status_code == 401
    assert APIClient().get("/probe/read", **headers(key)).status_code == 401


def test_the_user_read_with_the_key_is_the_whole_user_row(signed_in, django_assert_num_queries):
    """The key's one statement brings the owner back whole: every field as the ORM reads it, a
    saved instance (no deferred field a view could load later), the same as the SQLite twin's."""
    from accounts.models import User
    from accounts.pg import _key_get_orm, _key_get_pg
    from accounts.selectors import api_key_auth_get

    client, user = signed_in
    User.objects.filter(pk=user.pk).update(is_staff=True)  # a non-default value travels too
    key = create_key(client, ["trade"])
    with django_assert_num_queries(1):
        grant, context = api_key_auth_get(key_id=key["key_id"], secret=key["secret"])
        fields = {f.attname: getattr(grant.user, f.attname) for f in User._meta.concrete_fields}
    stored = User.objects.get(pk=user.pk)
    assert fields == {f.attname: getattr(stored, f.attname) for f in User._meta.concrete_fields}
    assert not grant.user.get_deferred_fields() and not grant.user._state.adding
    assert context.scopes == frozenset({"read", "trade"}) and context.api_key_id == key["key_id"]
    assert grant.key_id == key["key_id"]
    for by, value in (("key_id", key["key_id"]), ("secret_hash", ApiKey.objects.get().secret_hash)):
        pg, orm = _key_get_pg(by, value), _key_get_orm(by, value)
        assert pg is not None and orm is not None
        assert pg[:4] == orm[:4]  # key_id, secret_hash, scopes, last_used_at
        assert {f.attname: getattr(pg.user, f.attname) for f in User._meta.concrete_fields} == fields
    assert _key_get_pg("key_id", "PKNOPE") is None and _key_get_orm("key_id", "PKNOPE") is None
