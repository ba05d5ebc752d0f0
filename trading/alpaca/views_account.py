"""``/v2/account``, ``/v2/clock``, ``/v2/assets``, the portfolio history and the activities."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from rest_framework.response import Response

from portfolio.selectors import PERIODS, TIMEFRAMES, equity_at, portfolio_history_get, portfolio_summary_get
from trading.alpaca.activities import NON_TRADE_TYPES, TRADE_TYPES, activity_list
from trading.alpaca.assets import AssetNotFound, asset_object, market_resolve, spot_markets
from trading.alpaca.base import AlpacaView
from trading.alpaca.errors import AlpacaError, invalid
from trading.alpaca.objects import account_object, clock_object, num
from trading.alpaca.parse import direction_of, limit_of, moment_of

# Alpaca's periods that we keep (``7D`` is our ``1W``, ``12M`` our ``1A``).
PERIOD_ALIASES = {"7D": "1W", "12M": "1A", "1Y": "1A", "30D": "1M"}
ACTIVITY_TYPES = {*TRADE_TYPES, *NON_TRADE_TYPES.values()}


class AccountApi(AlpacaView):
    """``GET /v2/account``: the portfolio summary in Alpaca's fields."""

    def get(self, request):
        summary = portfolio_summary_get(user=request.user)
        last_equity = equity_at(user=request.user, moment=timezone.now() - timedelta(days=1))
        return Response(account_object(request.user, summary, last_equity))


class ClockApi(AlpacaView):
    """``GET /v2/clock``: a 24/7 venue, always open."""

    def get(self, request):
        return Response(clock_object())


class AssetsApi(AlpacaView):
    """``GET /v2/assets?status=&asset_class=``: every spot market (crypto only)."""

    def get(self, request):
        params = request.query_params
        if params.get("asset_class") not in (None, "", "crypto"):
            return Response([])
        assets = [asset_object(m) for m in spot_markets(include_delisted=True)]
        wanted = params.get("status")
        return Response([a for a in assets if not wanted or a["status"] == wanted])


class AssetDetailApi(AlpacaView):
    """``GET /v2/assets/{SOL/USD | SOLUSD | asset id}``."""

    def get(self, request, symbol_or_id: str):
        try:
            return Response(asset_object(market_resolve(symbol_or_id, include_delisted=True)))
        except AssetNotFound:
            raise AlpacaError(404, 40410000, "asset not found") from None


def _unix(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


class PortfolioHistoryApi(AlpacaView):
    """``GET /v2/account/portfolio/history?period=&timeframe=``: our equity snapshots, Alpaca's arrays
    (``timestamp`` in Unix seconds; values as decimal strings)."""

    def get(self, request):
        params = request.query_params
        period = params.get("period") or "1M"
        period = PERIOD_ALIASES.get(period, period)
        timeframe = params.get("timeframe") or ("1D" if period not in ("1D",) else "15Min")
        if period not in PERIODS:
            raise invalid("invalid period")
        if timeframe not in TIMEFRAMES:
            raise invalid("invalid timeframe")
        history = portfolio_history_get(user=request.user, period=period, timeframe=timeframe)
        return Response({
            "timestamp": [_unix(t) for t in history["timestamp"]],
            "equity": [num(e) for e in history["equity"]],
            "profit_loss": [num(p) for p in history["profit_loss"]],
            "profit_loss_pct": [num(p) for p in history["profit_loss_pct"]],
            "base_value": num(history["base_value"]),
            "timeframe": timeframe,
            "cashflow": {},
        })  # fmt: skip


class ActivitiesApi(AlpacaView):
    """``GET /v2/account/activities[/{type}]?activity_types=&after=&until=&date=&direction=&page_size=``."""

    def get(self, request, activity_type: str | None = None):
        params = request.query_params
        raw = activity_type or params.get("activity_types") or params.get("activity_type") or ""
        types = {t.strip().upper() for t in raw.split(",") if t.strip()} or None
        if types and not types <= ACTIVITY_TYPES:
            raise invalid("invalid activity_type")
        after, until = moment_of(params, "after"), moment_of(params, "until")
        day = moment_of(params, "date")
        if day is not None:
            after, until = day - timedelta(microseconds=1), day + timedelta(days=1)
        activities = activity_list(
            request.user, types=types, after=after, until=until,
            limit=limit_of(params, default=100, most=100), newest_first=direction_of(params) == "desc",
        )  # fmt: skip
        return Response(activities)
