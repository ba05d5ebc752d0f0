"""``GET /api/v1/funding``, the positions API's ``funding_accrued`` and the admin's funding pages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from tests.portfolio.helpers import authed_client, make_user
from tests.trading.funding_helpers import backdate, last_funding_time, set_perp
from tests.trading.position_helpers import perp_book_setup
from trading.models import FundingPayment, FundingRun, Position
from trading.services.funding import funding_settle
from trading.services.positions import position_open

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(settings):
    """A long of 10 SOL paid 0.1 at the last funding time (rate 0.0001, mark 100); another
    trader's short received 0.1."""
    perp_book_setup(settings, POSITION_FEE_BPS=D(0), FUNDING_LATE_GRACE_SECONDS=7200)
    set_perp(D(100), mark=D(100), rate=D("0.0001"))
    users = [make_user(), make_user()]
    for user, side in zip(users, ("long", "short"), strict=True):
        position = position_open(user=user, side=side, leverage=D(10), margin=D(100), client_order_id="x").position
        backdate(position, to=last_funding_time())
    funding_settle(symbol="SOL-PERP", funding_time=last_funding_time())
    return users


def test_list_shows_only_your_payments(paid):
    """The long's owner sees one payment of -0.1 (its own), with the rate, mark and ledger txn."""
    owner, _other = paid
    response = authed_client(owner).get("/api/v1/funding", {"symbol": "SOL-PERP"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) >= {"next", "previous", "results"}
    [row] = body["results"]
    payment = FundingPayment.objects.get(user=owner)
    assert (row["amount"], row["side"], row["rate"], row["mark"], row["symbol"]) == (
        "-0.100000000", "long", "0.000100000", "100.000000000", "SOL-PERP")  # fmt: skip
    assert row["position_id"] == str(payment.position_id) and row["ledger_txn_id"] == payment.ledger_txn_id
    assert authed_client(owner).get("/api/v1/funding", {"symbol": "BONK-PERP"}).json()["results"] == []


def test_list_filters_by_position_and_funding_time(paid):
    """Two funding times paid by the long: ``position_id`` keeps that position's (none of another
    trader's), ``after`` / ``until`` the funding times after one moment and up to another."""
    owner, other = paid
    t = last_funding_time()
    for position in Position.objects.all():
        backdate(position, to=t - timedelta(hours=2))  # open at the earlier time too
    funding_settle(symbol="SOL-PERP", funding_time=t - timedelta(hours=1))  # a second, earlier time
    client = authed_client(owner)
    mine = FundingPayment.objects.filter(user=owner).values_list("position_id", flat=True).first()
    theirs = FundingPayment.objects.filter(user=other).values_list("position_id", flat=True).first()

    def times(**params) -> list[str]:
        response = client.get("/api/v1/funding", params)
        assert response.status_code == 200, response.content
        return [row["funding_time"] for row in response.json()["results"]]

    both = times(position_id=str(mine))
    assert len(both) == 2 and both == sorted(both, reverse=True)
    assert times(position_id=str(theirs)) == []
    assert times(after=(t - timedelta(hours=1)).isoformat()) == [both[0]]
    assert times(until=(t - timedelta(minutes=30)).isoformat()) == [both[1]]
    assert times(after=t.isoformat()) == []
    for bad in ({"position_id": "nope"}, {"after": "yesterday"}, {"until": "2026-13-01T00:00:00Z"}):
        response = client.get("/api/v1/funding", bad)
        assert response.status_code == 400 and response.json()["code"] == "validation_error", bad


def test_bad_symbols_and_params_are_refused(paid):
    """Unknown symbol 404 ``market_not_found``; a spot market 422 ``market_kind_mismatch``; a bad
    cursor or limit 4xx with a code; anonymous 401/403."""
    client = authed_client(paid[0])
    unknown = client.get("/api/v1/funding", {"symbol": "NOPE-PERP"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "market_not_found"
    spot = client.get("/api/v1/funding", {"symbol": "SOL-USD"})
    assert spot.status_code == 422 and spot.json()["code"] == "market_kind_mismatch"
    cursor = client.get("/api/v1/funding", {"cursor": "garbage"})
    assert cursor.status_code == 400 and cursor.json()["code"] == "invalid_cursor"
    long_symbol = client.get("/api/v1/funding", {"symbol": "X" * 40})
    assert long_symbol.status_code == 400 and long_symbol.json()["code"] == "validation_error"
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/funding").status_code in (401, 403)


def test_positions_api_shows_accrued_funding(paid):
    """The position's ``funding_accrued`` is the sum of its payments: -0.1 for the long, 0.1 for the short."""
    owner, other = paid
    [mine] = authed_client(owner).get("/api/v1/positions").json()["results"]
    [theirs] = authed_client(other).get("/api/v1/positions").json()["results"]
    assert (mine["funding_accrued"], mine["margin"]) == ("-0.100000000", "99.900000000")
    assert theirs["funding_accrued"] == "0.100000000"
    detail = authed_client(owner).get(f"/api/v1/positions/{mine['id']}").json()
    assert detail["funding_accrued"] == "-0.100000000"


def test_admin_lists_runs_and_payments_read_only(paid, admin_client):
    """Both changelists answer; a run's page shows the rate; nothing can be added."""
    run = FundingRun.objects.get()
    runs = admin_client.get("/admin/trading/fundingrun/")
    assert runs.status_code == 200 and b"SOL-PERP" in runs.content
    assert admin_client.get(f"/admin/trading/fundingrun/{run.pk}/change/").status_code == 200
    assert admin_client.get("/admin/trading/fundingpayment/").status_code == 200
    assert admin_client.get("/admin/trading/fundingrun/add/").status_code == 403


def test_markets_api_shows_the_last_settled_funding(paid, api_client):
    """After the settlement SOL-PERP's market shows its rate and time (not late); a perp never
    funded and a spot market show none."""
    sol = api_client.get("/api/v1/markets/SOL-PERP").json()
    assert (sol["last_funding_rate"], sol["last_funding_late"]) == ("0.0001", False)
    assert sol["last_funding_at"].startswith(last_funding_time().strftime("%Y-%m-%dT%H:%M:%S"))
    listed = {m["symbol"]: m for m in api_client.get("/api/v1/markets").json()["markets"]}
    assert listed["SOL-PERP"]["last_funding_rate"] == "0.0001"
    assert listed["BONK-PERP"]["last_funding_rate"] is None and listed["BONK-PERP"]["last_funding_at"] is None
    assert listed["SOL-USD"]["last_funding_rate"] is None and listed["SOL-USD"]["last_funding_late"] is None
