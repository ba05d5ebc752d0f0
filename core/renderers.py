"""JSON rendering where a ``Decimal`` is always a string, never a float.

DRF's encoder turns a bare ``Decimal`` (one not passed through a serializer
field) into a float; money must never take that path.
"""

from __future__ import annotations

import decimal
from typing import TYPE_CHECKING, Any

from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

if TYPE_CHECKING:
    from rest_framework.views import APIView


class DecimalStringEncoder(JSONEncoder):
    def default(self, obj: Any) -> Any:
        if isinstance(obj, decimal.Decimal):
            return str(obj)
        return super().default(obj)


class StrictJSONRenderer(JSONRenderer):
    encoder_class = DecimalStringEncoder


class BrowsableAPIRendererStrict(BrowsableAPIRenderer):
    def get_default_renderer(self, view: APIView) -> BaseRenderer:
        return StrictJSONRenderer()
