"""API-key authentication's one statement (``accounts.selectors.api_key_auth_get`` is the rule).

Every request signed with an API key runs it, so it is one plain statement, not a queryset
compiled per request: the active key's row joined to its active owner, by the unique index on
``key_id`` (header credentials) or on ``secret_hash`` (a Bearer secret). The owner comes back
whole (every column of ``accounts_user``) and is built with ``User.from_db`` from the same row:
no second query, and no deferred field that a view could load later. PostgreSQL only; the
SQLite twin (embedded mode) is the ORM query beside it. Both answer the same ``KeyRow``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Literal, NamedTuple, cast

from django.db import connection

from accounts.models import ApiKey, User

By = Literal["key_id", "secret_hash"]  # the two unique columns a key is looked up by


class KeyRow(NamedTuple):
    """An active API key of an active user, as authentication needs it."""

    key_id: str
    secret_hash: str
    scopes: list[str]
    last_used_at: datetime | None
    user: User


@functools.cache
def _sql(by: By) -> tuple[str, tuple[str, ...]]:
    """The statement looking a key up by ``by`` (``key_id`` or ``secret_hash``), and the user's
    attribute names in ``concrete_fields`` order (what ``from_db`` takes positionally)."""
    quote = connection.ops.quote_name
    fields = User._meta.concrete_fields
    columns = ", ".join(f"u.{quote(cast(str, f.column))}" for f in fields)  # concrete: a column each
    sql = (
        f"SELECT k.key_id, k.secret_hash, k.scopes, k.last_used_at, {columns} "
        f"FROM {quote(ApiKey._meta.db_table)} k JOIN {quote(User._meta.db_table)} u ON u.id = k.user_id "
        f"WHERE k.{quote(by)} = %s AND k.revoked_at IS NULL AND u.is_active"
    )
    return sql, tuple(f.attname for f in fields)


def _key_get_pg(by: By, value: str) -> KeyRow | None:
    sql, attnames = _sql(by)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        row = cursor.fetchone()
    if row is None:
        return None
    key_id, secret_hash, scopes, last_used_at, *user = row
    return KeyRow(
        key_id=key_id,
        secret_hash=secret_hash,
        scopes=json.loads(scopes) if isinstance(scopes, str) else scopes,  # Django loads jsonb as text
        last_used_at=last_used_at,
        user=User.from_db(connection.alias, attnames, user),
    )


def _key_get_orm(by: By, value: str) -> KeyRow | None:
    key = ApiKey.objects.select_related("user").filter(revoked_at__isnull=True, user__is_active=True, **{by: value})
    found = key.first()
    if found is None:
        return None
    return KeyRow(found.key_id, found.secret_hash, list(found.scopes), found.last_used_at, found.user)


def key_getter() -> Callable[[By, str], KeyRow | None]:
    """``get(by, value)`` for this connection's database: the plain statement, or the SQLite twin."""
    return _key_get_pg if connection.vendor == "postgresql" else _key_get_orm
