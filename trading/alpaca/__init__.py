"""Alpaca's ``/v2`` trading API (the crypto subset) over our own services (docs/alpaca.md).

Transport only: ``parse`` reads requests, ``objects``/``assets`` build Alpaca's objects,
``errors`` renders Alpaca's ``{"code", "message"}`` bodies, the ``views_*`` modules call the
same services and selectors as ``/api/v1`` -- there is no second implementation of money.
"""
