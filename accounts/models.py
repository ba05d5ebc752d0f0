"""Identity: a user is a Solana wallet address (ops staff may have a username only)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models, transaction
from django.utils import timezone

from core import hooks


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, username: str, password: str | None = None, **extra):
        """A user, and in the same transaction what the apps above open for every new user (the
        ``user_created`` hook of ``core.hooks``: portfolio's books and starting grant)."""
        if not username:
            raise ValueError("username is required")
        user = self.model(username=username, **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        with transaction.atomic(using=self._db):
            user.save(using=self._db)
            hooks.user_created(user=user)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A trader (identified by ``address``) or an ops account (``username`` + password).

    Wallet users never have a usable password; their ``username`` is their address.
    """

    username = models.CharField(max_length=64, unique=True)
    address = models.CharField(max_length=44, unique=True, null=True, blank=True, help_text="Base58 Solana public key")
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    first_sign_in_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_sign_in_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        db_table = "accounts_user"

    def __str__(self) -> str:
        return self.address or self.username


class SignInNonce(models.Model):
    """A sign-in input the server issued; consumed by at most one successful verify."""

    nonce = models.CharField(max_length=128, unique=True)
    address = models.CharField(max_length=44, blank=True, default="", help_text="Set when requested for one address")
    domain = models.CharField(max_length=255)
    uri = models.CharField(max_length=2048)
    statement = models.CharField(max_length=512, blank=True, default="")
    chain_id = models.CharField(max_length=64)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    consumed_at = models.DateTimeField(null=True, blank=True)
    session = models.ForeignKey("AuthSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        db_table = "accounts_signin_nonce"

    def __str__(self) -> str:
        return self.nonce

    def issued(self) -> dict:
        """What was handed out, in the shape ``siws.verify_sign_in(issued=...)`` takes."""
        return {
            "nonce": self.nonce,
            "domain": self.domain,
            "uri": self.uri,
            "statement": self.statement,
            "chain_id": self.chain_id,
            "address": self.address,
        }


class AuthSession(models.Model):
    """A server-side session: a bearer token (stored hashed) and/or a browser cookie."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_sessions")
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the bearer token")
    django_session_key = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True, default="")

    class Meta:
        db_table = "accounts_auth_session"
        indexes = [models.Index(fields=["user", "-created_at"], name="auth_session_user_idx")]

    def __str__(self) -> str:
        return f"session {self.id} of {self.user_id}"

    def is_active(self, now=None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())


class ApiKey(models.Model):
    """A bot credential: public ``key_id`` plus a secret shown once and stored hashed."""

    class Scope(models.TextChoices):
        READ = "read", "read"
        TRADE = "trade", "trade"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=64)
    key_id = models.CharField(max_length=32, unique=True)
    secret_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the secret")
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "accounts_api_key"

    def __str__(self) -> str:
        return f"{self.key_id} ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
