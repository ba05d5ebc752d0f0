"""Idempotency by ``client_order_id``, shared by spot orders and positions.

The id is unique per user for ever. Its stored outcome is either the created row
(an order or a position) or a business rejection; the same id with the same request
fingerprint gets that outcome again, with another fingerprint ``idempotency_key_reused``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from core.errors import DomainError
from trading.errors import IdempotencyKeyReused
from trading.models import Order, PositionOrder, StoredRejection

if TYPE_CHECKING:
    from accounts.models import User

REPLAYED_HEADER = "Idempotent-Replayed"

# What a command's client_order_id names: a row with ``user``, ``client_order_id`` and ``request_hash``.
Outcome = TypeVar("Outcome", Order, PositionOrder)


def fingerprint(body: Mapping[str, object]) -> str:
    """The request's meaning as a hash: decimals by value (``"1.0"`` and ``"1"`` are the same
    quantity), keys sorted."""
    plain = {k: format(v.normalize(), "f") if isinstance(v, Decimal) else v for k, v in body.items()}
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()


def outcome_replay(
    *,
    model: QuerySet[Outcome],
    rejection_model: type[StoredRejection],
    user: User,
    client_order_id: str,
    digest: str,
) -> Outcome | None:
    """The stored row for this id (``model``: a queryset of the command's rows), a re-raised
    stored rejection, or ``None``."""
    row = model.filter(user=user, client_order_id=client_order_id).first()
    if row is not None:
        if row.request_hash != digest:
            raise IdempotencyKeyReused(extra={"client_order_id": client_order_id})
        return row
    rejection = rejection_model._default_manager.filter(user=user, client_order_id=client_order_id).first()
    if rejection is not None:
        if rejection.request_hash != digest:
            raise IdempotencyKeyReused(extra={"client_order_id": client_order_id})
        raise DomainError(
            rejection.message,
            code=rejection.code,
            status=rejection.status,
            extra=rejection.extra,
            headers={REPLAYED_HEADER: "true"},
        )
    return None


def rejection_store(
    *,
    rejection_model: type[StoredRejection],
    user: User,
    client_order_id: str,
    digest: str,
    error: DomainError,
) -> DomainError:
    """Remember a business rejection so the same id gets the same answer for ever."""
    try:
        with transaction.atomic():
            rejection_model._default_manager.create(
                user=user,
                client_order_id=client_order_id,
                request_hash=digest,
                code=error.code,
                message=error.message[:255],
                status=error.status,
                extra=error.extra,
            )
    except IntegrityError:
        pass  # a concurrent duplicate stored it (or the row) first
    return error
