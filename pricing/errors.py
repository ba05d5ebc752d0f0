"""Market-data errors. Trading maps them to HTTP 503 with ``Retry-After``."""

from core.errors import ServiceUnavailable


class PriceUnavailable(ServiceUnavailable):
    code = "price_unavailable"
    message = "No market price is available; trading is paused."


class PriceStale(ServiceUnavailable):
    code = "price_stale"
    message = "The market price is stale; trading is paused until a fresh price arrives."
