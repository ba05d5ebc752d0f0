"""Admin revoke actions and the shared test helpers other apps use."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuthSession, User
from accounts.selectors import session_is_active, user_from_token
from tests.accounts.factories import UserFactory
from tests.accounts.helpers import create_api_key, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    ops = User.objects.create_superuser("ops", "pw-for-tests")
    client = APIClient()
    client.force_login(ops)
    return client


def test_user_factory_makes_real_wallet_users():
    """UserFactory users have a real solders address matching user.keypair and an unusable password."""
    user = UserFactory()
    assert user.address == str(user.keypair.pubkey()) == user.username
    assert not user.has_usable_password()
    assert UserFactory().address != user.address


def test_sign_in_helper_works_for_factory_users():
    """sign_in(client, keypair=user.keypair) signs an existing factory user in."""
    user = UserFactory()
    token, signed = sign_in(APIClient(), keypair=user.keypair)
    assert signed.pk == user.pk and user_from_token(token)[0] == user


def test_admin_lists_users_with_sessions_and_keys(admin_client):
    """The user changelist and change page render with address, sign-in times, sessions and keys."""
    token, user = sign_in(APIClient())
    create_api_key(user)
    listing = admin_client.get("/admin/accounts/user/")
    assert listing.status_code == 200 and user.address in listing.content.decode()
    page = admin_client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200 and "PK" in page.content.decode()
    assert admin_client.get("/admin/accounts/authsession/").status_code == 200
    assert admin_client.get("/admin/accounts/apikey/").status_code == 200
    assert admin_client.get("/admin/accounts/signinnonce/").status_code == 200


def test_admin_revoke_actions(admin_client, django_capture_on_commit_callbacks):
    """'Revoke all sessions' and 'Revoke all API keys' end the selected users' credentials."""
    token, user = sign_in(APIClient())
    key_id, secret = create_api_key(user)
    _, bystander = sign_in(APIClient())
    with django_capture_on_commit_callbacks(execute=True):
        for action in ("revoke_sessions", "revoke_api_keys"):
            response = admin_client.post(
                "/admin/accounts/user/", {"action": action, "_selected_action": [user.pk]}, follow=True
            )
            assert response.status_code == 200
    assert user_from_token(token) is None and user_from_token(secret) is None
    assert not AuthSession.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert not ApiKey.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert session_is_active(str(AuthSession.objects.get(user=bystander).pk))


def test_admin_password_login_is_not_an_api_session(admin_client):
    """An ops login to /admin/ (no wallet session) is anonymous to the API."""
    assert admin_client.get("/api/v1/auth/me").status_code == 401
