"""CSV cells that a spreadsheet reads as data, never as a formula (CSV / formula injection).

A trader picks their ``client_order_id`` and ops write ledger memos; a cell starting with ``=``,
``+``, ``-`` or ``@`` (or a tab / carriage return, which some spreadsheets skip before looking)
is run as a formula when the export is opened in Excel, LibreOffice or Google Sheets. OWASP's
advice: prefix such a cell with a single quote, which the spreadsheet shows as text.

The rule (README.md, "API conventions"): a text cell whose first character is one of
``= + - @ TAB CR`` gets a leading ``'`` -- unless the whole cell is a plain decimal number
(optional sign, digits, optional fraction: ``-12.5``), which stays a number so amounts still
sum. ``static/js/format.js::toCsv`` (the dashboard's per-tab export) applies the same rule.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet will not evaluate (non-text values pass unchanged)."""
    if not isinstance(value, str) or not value.startswith(FORMULA_TRIGGERS):
        return value
    if PLAIN_DECIMAL.fullmatch(value):
        return value
    return "'" + value
