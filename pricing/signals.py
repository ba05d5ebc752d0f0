"""Signals other apps subscribe to without pricing importing them.

``price_tick_accepted`` is sent (after the record is stored in Redis) for every
accepted index tick, with ``quote`` (a ``PriceQuote``). Trading's liquidation
engine listens to it; pricing never imports trading.
"""

from django.dispatch import Signal

price_tick_accepted = Signal()
