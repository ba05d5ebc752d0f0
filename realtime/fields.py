"""``JSONTextField``: JSON stored as PostgreSQL ``json`` (the text as written, validated), not ``jsonb``.

For an append-only log written in bulk and read back whole, never searched inside (the user
event log): ``jsonb`` parses every payload into its binary form on insert, about twice the cost
of validating it as ``json`` (measured on 1,200 ``position_liquidated`` payloads: 16-19 ms
against 9 ms), and keeps nothing the log needs. Elsewhere (SQLite) it is a plain ``JSONField``.
In Python it behaves as ``JSONField``: dicts in, dicts out.
"""

from __future__ import annotations

import json

from django.db import models
from psycopg.types.json import Json


class JSONTextField(models.JSONField):
    description = "JSON kept as written (PostgreSQL json)"

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor != "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        if not prepared:
            value = self.get_prep_value(value)
        return Json(value, dumps=lambda obj: json.dumps(obj, cls=self.encoder, separators=(",", ":")))

    def from_db_value(self, value, expression, connection):
        if value is None or not isinstance(value, (str, bytes, bytearray)):
            return value  # psycopg loads json into Python values itself
        # JSONField hands the value to json.loads, which takes bytes as well; the stub says str only.
        return super().from_db_value(value, expression, connection)  # type: ignore[arg-type]
