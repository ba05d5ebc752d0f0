"""An output serializer's fields, built once per class instead of once per response.

DRF builds a serializer's fields each time one is instantiated; a ``ModelSerializer`` derives
each from its model field (kwargs, validators, choices): ~0.7 ms for the 25 fields of an order
on this VM, a sixth of a whole cancel request's CPU (docs/trading.md). An output that only reads
(``to_representation``) needs none of that per response: ``output_data`` keeps one instance per
serializer class, its fields built at its first use, and represents every instance with it
(``to_representation`` reads the fields and the instance; it writes nothing, so the threads of a
worker share it). For serializers without context (every field reads the instance alone).
"""

from __future__ import annotations

import functools
from typing import Any

from rest_framework.serializers import Serializer
from rest_framework.utils.serializer_helpers import ReturnDict


@functools.cache
def _built(serializer_class: type[Serializer]) -> Serializer:
    serializer = serializer_class()
    serializer.fields  # noqa: B018 -- built now, before any thread shares the instance
    return serializer


def output_data(serializer_class: type[Serializer], instance: Any) -> ReturnDict:
    """``serializer_class(instance).data``, with the class's fields built once: the same dict,
    tied to a serializer of ``instance`` (the browsable API reads it), whose fields are never
    built unless something asks for them."""
    data = _built(serializer_class).to_representation(instance)
    return ReturnDict(data, serializer=serializer_class(instance))
