"""Cancel latency alone, on a copy of an already seeded trigger book (``bench_triggers.py``'s
cancels, without seeding: minutes instead of a quarter of an hour).

    BENCH_TEMPLATE=<database> .venv/bin/python bench/bench_cancels.py

``BENCH_TEMPLATE``: a database ``bench_triggers.py --seed`` filled (no one may be connected to
it: it is copied with ``CREATE DATABASE ... TEMPLATE``). The copy runs ``trigger_cancels.py`` for
this tree (and ``BENCH_BEFORE_REF``'s, checked out under var/, when set): over HTTP against the
real stack's web tier, one client alone then BENCH_CANCEL_CLIENTS at once, then the service; and
is dropped. The web tier's sizing comes from the environment (``WEB_CONCURRENCY``,
``WEB_THREADS``), as in production. ``BENCH_CANCEL_PARTS`` ("http,service") picks the parts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from liquidation_books import PG_ADMIN, child_env  # noqa: E402
from trigger_books import BEFORE_REF, tree_checkout, tree_remove  # noqa: E402


def main() -> None:
    import psycopg

    template = os.environ["BENCH_TEMPLATE"]
    copy = f"{template}_cancels_{uuid.uuid4().hex[:6]}"

    def admin(sql: str) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql)

    before = tree_checkout(BEFORE_REF) if BEFORE_REF else None
    admin(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"')
    try:
        extra = {"BENCH_BEFORE_TREE": str(before)} if before else {}
        subprocess.run([sys.executable, __file__, "--child"], cwd=ROOT, env=child_env(copy, **extra), check=True)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        if before is not None:
            tree_remove(before)


if __name__ == "__main__":
    if "--child" in sys.argv:
        import django

        django.setup()
        from bench_triggers import _cancels

        _cancels(tuple(os.environ.get("BENCH_CANCEL_PARTS", "http,service").split(",")))
    else:
        main()
