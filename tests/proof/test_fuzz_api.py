"""Schemathesis against the served OpenAPI schema, signed in as a real wallet.

Positive and negative cases (fixed seed, derandomized) for every operation: never a 5xx, every
response matches its documented schema, status code and content type, and schema-invalid
("negative") input is rejected with a 4xx.
"""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from config.wsgi import application
from tests.conftest import ROOT  # noqa: F401 - makes sure the project root is importable first
from tests.proof.conftest import proof_int

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=proof_int("PROOF_FUZZ_EXAMPLES", 12, 200),
    deterministic=True,
    database="none",
    with_security_parameters=False,
)
# The schema documents success bodies only (errors share one {code, message, extra} shape,
# docs/architecture.md), so an undocumented 4xx status is not a failure here; business
# refusals (insufficient_funds, lot rules) make "positive data accepted" inapplicable.
# Query strings follow the house convention "an empty value means not given" (``?status=``), so
# negative-data rejection is asserted on request bodies: every unsafe operation but the nonce
# (whose only field is optional: an empty address is a nonce without a message).


@schemathesis.check
def negative_bodies_rejected(ctx, response, case):
    """Schema-invalid bodies sent to an unsafe operation are refused with a 4xx."""
    if case.method.upper() == "GET" or case.operation.path == "/api/v1/auth/nonce":
        return None
    return schemathesis.checks.negative_data_rejection(ctx, response, case)


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.content_type_conformance,
    negative_bodies_rejected,
    schemathesis.checks.ignored_auth,
]


@contextmanager
def keep_the_test_connection():
    """Django's test client keeps the test transaction's connection across requests by
    disconnecting ``close_old_connections`` around each request (and reconnecting it after);
    calling the WSGI app directly needs the same."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(db):
    """A wallet signed in over HTTP, with a fresh price so trading endpoints can answer."""
    from django.test import Client

    from tests.accounts.helpers import sign_in
    from tests.trading.helpers import set_price

    set_price(Decimal("150"))
    token, _user = sign_in(Client())
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema_under_fuzzing(case, auth_headers):
    """Every generated request (valid or deliberately invalid) gets a non-5xx answer that
    conforms to the schema; invalid input is refused."""
    from tests.trading.helpers import set_price

    set_price(Decimal("150"))
    with keep_the_test_connection():
        response = case.call_and_validate(headers=auth_headers, checks=CHECKS)
    if response.status_code >= 400:
        assert set(response.json()) == {"code", "message", "extra"}, response.text
