"""Market data over long-lived connections (``manage.py stream_prices``; docs/pricing.md, "Streams").

- ``frames``: what a venue's parser returns (updates, an acknowledgement) and the errors it raises;
- ``backpack``, ``binance``, ``coinbase``, ``kraken`` (WebSocket) and ``pyth`` (SSE): one module per
  venue's protocol: its subscribe frames and its frame parser, Django-free;
- ``backoff``: capped exponential reconnect delays with full jitter;
- ``connection`` (WebSocket) and ``sse`` (Pyth Hermes): one connection's lifecycle;
- ``health``: per-stream health, in memory and in the cache (``GET /api/v1/market/sources``);
- ``book``: the latest observation per source and instrument, streamed or polled;
- ``gate``: the tick gate (``PRICE_MIN_TICK_MS``, heartbeat);
- ``service``: the one process that runs the connections, the fallback poller and the ticks.
"""
