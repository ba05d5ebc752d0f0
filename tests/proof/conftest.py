"""Proof-suite fixtures: re-exported WebSocket settings, the figures recorder for `make soak`."""

from __future__ import annotations

import json
import os

import pytest

from tests.realtime.conftest import fast_ws  # noqa: F401 - fixture re-export

SOAK = os.environ.get("PROOF_SOAK") == "1"


def proof_int(name: str, quick: int, soak: int) -> int:
    """A knob: the quick tier's value, the soak tier's under PROOF_SOAK=1, or ``name`` from the env."""
    raw = os.environ.get(name)
    if raw:
        return int(raw)
    return soak if SOAK else quick


@pytest.fixture
def figures(request):
    """Record a check's figures; `bench/soak.py` collects them (PROOF_FIGURES=<file>) into its table."""
    recorded: dict[str, object] = {}
    yield recorded
    target = os.environ.get("PROOF_FIGURES")
    if target and recorded:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"check": request.node.nodeid, **recorded}, default=str) + "\n")


# --- infrastructure faults (test_faults_infra.py) --------------------------------------------
# How long the private PostgreSQL stays stopped under load: 5 s quick, 30 s soak.
PG_OUTAGE_SECONDS = proof_int("PROOF_PG_OUTAGE_SECONDS", 5, 30)
# Client threads driving orders + portfolio + a page during the outage.
PG_OUTAGE_CLIENTS = proof_int("PROOF_PG_OUTAGE_CLIENTS", 3, 4)
# pg_ctl stop mode for that outage: "fast" (clean shutdown, quick) or "immediate" (a crash: WAL
# replay on start, soak).
PG_STOP_MODE = os.environ.get("PROOF_PG_STOP_MODE") or ("immediate" if SOAK else "fast")
