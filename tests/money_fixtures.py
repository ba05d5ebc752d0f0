"""Fixtures shared by the money tests (portfolio, trading, proof): a user with the grant, an
authenticated API client for them, and a fresh 150 USD price."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.portfolio.helpers import authed_client, make_user
from tests.trading.helpers import set_price


@pytest.fixture
def user(db):
    return make_user()


@pytest.fixture
def client_for():
    def build(user):
        return authed_client(user)

    return build


@pytest.fixture
def trader(user, client_for):
    return client_for(user)


@pytest.fixture
def price150():
    set_price(Decimal("150"))
    return Decimal("150")
