"""engine/strictjson.py: JSON from outside, bounded, with the place of each refusal named."""
from __future__ import annotations

import pytest

from engine.runtime import strictjson
from engine.errors import Invalid, Malformed
from engine.runtime.strictjson import MAX_DEPTH, MAX_INT_DIGITS, Rejected


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_an_ordinary_document_reads_as_json_does():
    text = '{"a": [1, -2, 3.5, "履约", null, true, {"b": "\\u5c65"}], "n": 12345678901234567890}'
    assert strictjson.loads(text) == {"a": [1, -2, 3.5, "履约", None, True, {"b": "履"}], "n": 12345678901234567890}
    assert strictjson.loads(text.encode()) == strictjson.loads(text)


def test_depth_up_to_the_limit_is_accepted_and_one_more_is_not():
    assert strictjson.loads(_nested(MAX_DEPTH)) is not None
    with pytest.raises(Rejected) as refused:
        strictjson.loads(_nested(MAX_DEPTH + 1))
    assert refused.value.path == "body" and refused.value.malformed


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_pathological_depth_is_refused_not_a_recursion_error(depth):
    with pytest.raises(Rejected, match="nested deeper"):
        strictjson.loads('{"a":' * depth + "1" + "}" * depth)


def test_integer_digits_are_bounded_and_the_field_named():
    assert strictjson.loads("9" * MAX_INT_DIGITS) == int("9" * MAX_INT_DIGITS)
    assert strictjson.loads("-" + "9" * MAX_INT_DIGITS) == -int("9" * MAX_INT_DIGITS)
    with pytest.raises(Rejected) as refused:
        strictjson.loads('{"data": {"items": [0, ' + "9" * 5000 + "]}}")
    assert refused.value.path == "data.items.1" and "5000 digits" in refused.value.reason and not refused.value.malformed


@pytest.mark.parametrize("text, malformed", [("NaN", True), ("Infinity", True), ("-Infinity", True), ("1e999", False),
                                             ("-1e400", False)])
def test_non_finite_numbers_are_refused(text, malformed):
    with pytest.raises(Rejected) as refused:
        strictjson.loads('{"x": ' + text + "}")
    assert refused.value.path == "x" and refused.value.malformed is malformed


@pytest.mark.parametrize("text, path", [
    ('{"a": "\\ud800"}', "a"),
    ('{"a": ["ok", "x\\udfffy"]}', "a.1"),
    ('"\\udc00"', "body"),
    ('{"a": {"\\ud800k": 1}}', "a.\\ud800k"),  # a field name: echoed as an escape, never as the surrogate itself
])
def test_lone_surrogates_are_refused_wherever_they_are(text, path):
    with pytest.raises(Rejected) as refused:
        strictjson.loads(text)
    assert refused.value.path == path
    refused.value.path.encode("utf-8")  # printable in a response


def test_a_surrogate_pair_is_a_character():
    assert strictjson.loads('"\\ud83d\\ude00"') == "😀"


@pytest.mark.parametrize("data", [b"{not json", b"\xff\xfe", b'{"a": 1'])
def test_what_is_not_json_is_malformed(data):
    with pytest.raises(Malformed) as refused:
        strictjson.load_body(data)
    assert list(refused.value.errors) == ["body"] and refused.value.detail == "the request body is not valid JSON"


def test_load_body_maps_a_held_value_to_422_naming_the_field():
    with pytest.raises(Invalid) as refused:
        strictjson.load_body(b'{"data": {"amount": ' + b"1" * 30 + b"}}")
    assert list(refused.value.errors) == ["data.amount"] and refused.value.detail.startswith("data.amount: ")
