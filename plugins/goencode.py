"""Encode JSON values byte for byte as Go's ``encoding/json`` does.

Multus-CNI's entrypoint passes the master config through ``json.Marshal``. A
node moving to multus-config gets no rewrite only if the delegate is encoded the
same way: object keys sorted, no spaces, ``<``, ``>``, ``&``, U+2028 and U+2029
escaped as ``\\u`` sequences, other non-ASCII kept as UTF-8.

One deliberate difference: Go decodes every number into a float64, so integers
above 2**53 lose digits. Here integers keep every digit, and only numbers
written with a fraction or an exponent are formatted the way Go formats a
float64.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_GO_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_HTML_PATTERN = re.compile("[<>&\u2028\u2029]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def encode_string(value: str) -> str:
    """Return *value* as a JSON string literal escaped like Go's encoder."""
    # Go decodes an unpaired surrogate escape to U+FFFD; Python keeps it, and
    # a lone surrogate cannot be written as UTF-8.
    value = _LONE_SURROGATE.sub("\ufffd", value)
    text = json.dumps(value, ensure_ascii=False)
    return _GO_HTML_PATTERN.sub(lambda match: _GO_HTML_ESCAPES[match.group()], text)


def encode_float(value: float) -> str:
    """Return *value* formatted as Go formats a float64 in JSON."""
    if not math.isfinite(value):
        msg = f"JSON has no representation for {value!r}"
        raise ValueError(msg)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        # Python's repr uses the same shortest digits and exponent form for
        # these magnitudes ("1e-07", "1.5e+21"); Go then drops the leading
        # zero of a negative two-digit exponent.
        text = repr(value)
        return re.sub(r"e-0(\d)$", r"e-\1", text)
    # Shortest round-trip digits, written without an exponent and without a
    # trailing ".0", as Go's strconv.FormatFloat(f, 'f', -1, 64) does. The
    # decimal module is imported only here, because most configs hold no
    # fractions and it costs memory on every node.
    from decimal import Decimal

    return format(Decimal(repr(value)).normalize(), "f")


def encode(value: Any) -> str:
    """Return the compact Go-compatible JSON encoding of *value*."""
    parts: list[str] = []
    _append(parts, value)
    return "".join(parts)


def _append(parts: list[str], value: Any) -> None:
    # Iterative over containers would avoid deep recursion, but inputs are
    # parsed by the json module first, which already bounds the nesting depth.
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(encode_string(value))
    elif isinstance(value, int):
        parts.append(str(value))
    elif isinstance(value, float):
        parts.append(encode_float(value))
    elif isinstance(value, dict):
        parts.append("{")
        for index, key in enumerate(sorted(value)):
            if index:
                parts.append(",")
            parts.append(encode_string(key))
            parts.append(":")
            _append(parts, value[key])
        parts.append("}")
    elif isinstance(value, (list, tuple)):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _append(parts, item)
        parts.append("]")
    else:
        msg = f"cannot encode {type(value).__name__} as JSON"
        raise TypeError(msg)
