"""Registry rows drive everything: a token and its two markets added as rows are priced by the
synthetic walk of their own row, traded spot, held as a perp and liquidated, with no code change."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from pricing.markets import market_list
from pricing.models import Market, Token
from pricing.selectors import price_get_latest
from pricing.services import price_ingest_run
from tests.portfolio.helpers import assert_books_ok, balances_of
from tests.trading.helpers import order_body
from tests.trading.position_helpers import index_tick, open_position
from trading.models import Position, PositionStatus

pytestmark = pytest.mark.django_db


def test_a_token_added_as_rows_is_priced_traded_held_and_liquidated(trader, user, settings, api_client):
    settings.PRICE_MODE = "synthetic"
    token = Token.objects.create(
        code="ORCA", name="Orca", mint="orcaEKTdK7LKz57vaAYr9QeNsVEPfiu6QeMU1kektZE", decimals=6,
        synthetic_start=D("3"), synthetic_volatility=D("0.001"), synthetic_seed="orca-test",
    )  # fmt: skip
    Market.objects.create(
        symbol="ORCA-USD", kind="spot", base=token, qty_step=D("0.1"), min_qty=D("0.1"), price_tick=D("0.0001")
    )
    Market.objects.create(
        symbol="ORCA-PERP", kind="perp", base=token, qty_step=D("0.1"), min_qty=D("0.1"), price_tick=D("0.0001"),
        max_leverage=D(10), mmr=D("0.01"), sort_order=5,
    )  # fmt: skip
    assert [m.symbol for m in market_list()][:1] == ["ORCA-PERP"]  # the registry follows the rows

    report = price_ingest_run()  # the synthetic walk of the new row, like every other token's
    assert report.indexes["ORCA-USD"].ok
    quote = price_get_latest(symbol="ORCA-USD")
    assert quote.mode == "synthetic" and abs(quote.price - D(3)) <= D("0.003")
    listed = api_client.get("/api/v1/markets/ORCA-PERP").json()
    assert listed["status"] == "active" and listed["rules"]["max_leverage"] == "10"

    spot = trader.post("/api/v1/orders", order_body(symbol="ORCA-USD", qty="20", client_order_id="o1"), format="json")
    assert spot.status_code == 201, spot.json()
    assert balances_of(user)["ORCA"] == D(20)

    opened = open_position(trader, symbol="ORCA-PERP", margin="50", leverage="10", client_order_id="p1")
    assert opened["symbol"] == "ORCA-PERP" and D(opened["entry_price"]) % D("0.0001") == 0
    liquidation = D(opened["liquidation_price"])
    assert liquidation < quote.price
    index_tick("ORCA-USD", (liquidation * D("0.99")).quantize(D("0.0001")))
    position = Position.objects.get(pk=opened["id"])
    assert position.status == PositionStatus.LIQUIDATED
    summary = trader.get("/api/v1/portfolio").json()
    orca = next(h for h in summary["holdings"] if h["asset"] == "ORCA")
    assert orca["market"] == "ORCA-USD" and D(orca["qty"]) == D(20)
    assert_books_ok()
