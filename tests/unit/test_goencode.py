"""Go-compatible JSON encoding of delegates."""

from __future__ import annotations

import json

import pytest

from plugins.goencode import encode, encode_float, encode_string


def test_keys_sorted_compact():
    assert encode({"b": 1, "a": [True, None, "x"]}) == '{"a":[true,null,"x"],"b":1}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<a>&b", '"\\u003ca\\u003e\\u0026b"'),
        ("é ü 日本", '"é ü 日本"'),
        ("line\nbreak\ttab", '"line\\nbreak\\ttab"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ('quote " back \\', '"quote \\" back \\\\"'),
        ("\x01", '"\\u0001"'),
        ("\ud800", '"\ufffd"'),
    ],
)
def test_string_escapes(text, expected):
    assert encode_string(text) == expected


def test_big_integer_keeps_digits():
    assert encode(12345678901234567890123) == "12345678901234567890123"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.5, "1.5"),
        (1000.0, "1000"),
        (0.1, "0.1"),
        (1e-7, "1e-7"),
        (1.5e21, "1.5e+21"),
        (1e20, "100000000000000000000"),
        (-0.0, "-0"),
        (123456.789, "123456.789"),
    ],
)
def test_float_formatting(value, expected):
    assert encode_float(value) == expected


def test_nan_rejected():
    with pytest.raises(ValueError, match="no representation"):
        encode_float(float("nan"))


def test_round_trip_equal():
    document = {"z": [1, 2.5, {"k": "<v>"}], "a": {"nested": False}}
    assert json.loads(encode(document)) == document
