"""Long tier of the proof suite: `make soak` (or `.venv/bin/python bench/soak.py`).

Runs tests/proof with the soak knobs (PROOF_SOAK=1: a 3-minute bank test, 200 schemathesis
examples per operation, 5,000 Hypothesis examples per property; override with PROOF_BANK_SECONDS,
PROOF_FUZZ_EXAMPLES, PROOF_PROPERTY_EXAMPLES, PROOF_SEED), then prints one row per check with its
outcome and figures. Exit code: pytest's. Needs the same PostgreSQL/Redis as `make test`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="solpaper-soak-") as tmp:
        figures_file = Path(tmp) / "figures.jsonl"
        junit = Path(tmp) / "junit.xml"
        env = dict(os.environ, PROOF_SOAK="1", PROOF_FIGURES=str(figures_file))
        env.setdefault("PROOF_SEED", "20261121")
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:warnings", f"--junitxml={junit}", "tests/proof"]
        result = subprocess.run([*args, *sys.argv[1:]], cwd=ROOT, env=env, timeout=3600)
        figures: dict[str, dict] = {}
        if figures_file.exists():
            for line in figures_file.read_text().splitlines():
                row = json.loads(line)
                figures[row.pop("check")] = row
        rows = []
        if junit.exists():
            for case in ET.parse(junit).getroot().iter("testcase"):
                name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
                outcome = "FAIL" if case.find("failure") is not None or case.find("error") is not None else "ok"
                if case.find("skipped") is not None:
                    outcome = "skip"
                short = name.removeprefix("tests/proof/")
                match = next((v for k, v in figures.items() if k.endswith(case.get("name", ""))), {})
                figure = ", ".join(f"{k}={v}" for k, v in match.items() if k != "outcomes")
                rows.append((short, outcome, f"{float(case.get('time', 0)):.1f}s", figure))
    width = max((len(r[0]) for r in rows), default=10)
    print(f"\n{'check':<{width}}  result  time    figures")
    print("-" * (width + 40))
    for name, outcome, seconds, figure in rows:
        print(f"{name:<{width}}  {outcome:<6}  {seconds:>6}  {figure}")
    failed = sum(1 for r in rows if r[1] == "FAIL")
    print(f"\n{len(rows)} checks, {failed} failed (seed {os.environ.get('PROOF_SEED', '20261121')})")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
