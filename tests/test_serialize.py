"""Hostile inputs: whatever a traced function gets or returns becomes JSON, never an error."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import json
import uuid

import pydantic
import pytest

import tracekit
from tracekit._serialize import Limits, snapshot, to_jsonable


class Color(enum.Enum):
    RED = "red"


class Model(pydantic.BaseModel):
    name: str
    when: datetime.date


@dataclasses.dataclass
class Point:
    x: int
    y: int


class BadRepr:
    def __repr__(self):
        raise RuntimeError("repr exploded")

    def __str__(self):
        raise RuntimeError("str exploded")


class Opaque:
    __slots__ = ()

    def __repr__(self):
        return "<Opaque>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Color.RED, "red"),
        (Model(name="n", when=datetime.date(2024, 1, 2)), {"name": "n", "when": "2024-01-02"}),
        (Point(1, 2), {"__type__": "Point", "x": 1, "y": 2}),
        (b"plain bytes", "plain bytes"),
        (b"\xff\xfe\x00", "base64://4A"),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        (datetime.datetime(2024, 5, 6, 7, 8, 9), "2024-05-06T07:08:09"),
        (datetime.timedelta(seconds=90), 90.0),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (collections.deque([1, 2]), [1, 2]),
        (collections.namedtuple("P", "a b")(1, 2), {"a": 1, "b": 2}),
        ({(1, 2): "tuple key"}, {"(1, 2)": "tuple key"}),
        (Opaque(), "<Opaque>"),
        (BadRepr(), "<unrepresentable BadRepr>"),
        (ValueError("bad"), {"__type__": "ValueError", "message": "bad"}),
        (decimal.Decimal("1.5"), "Decimal('1.5')"),
    ],
)
def test_values_become_json(value, expected):
    result = to_jsonable(value)
    assert result == expected
    json.dumps(result, allow_nan=False)


def test_uuid_and_unknown_objects_use_repr():
    value = uuid.UUID(int=1)
    assert to_jsonable(value) == repr(value)


def test_cycles_are_cut():
    loop: list = [1]
    loop.append(loop)
    d: dict = {"a": 1}
    d["self"] = d
    assert to_jsonable(loop) == [1, "[cycle]"]
    assert to_jsonable(d) == {"a": 1, "self": "[cycle]"}


def test_shared_values_are_not_mistaken_for_cycles():
    shared = [1]
    assert to_jsonable({"a": shared, "b": shared}) == {"a": [1], "b": [1]}


def test_deep_nesting_is_cut_with_a_marker():
    deep: list = []
    node = deep
    for _ in range(5000):
        node.append([])
        node = node[0]
    result = to_jsonable(deep, Limits(max_depth=5))
    text = json.dumps(result)
    assert "deeper than 5 levels" in text


def test_huge_strings_and_containers_are_cut_with_original_size():
    limits = Limits(max_string_chars=10, max_items=3)
    assert to_jsonable("x" * 25, limits) == "x" * 10 + "…[truncated: 25 chars]"
    assert to_jsonable(list(range(10)), limits) == [0, 1, 2, "[truncated: 10 items]"]
    assert to_jsonable({str(i): i for i in range(5)}, limits) == {
        "0": 0,
        "1": 1,
        "2": 2,
        "…": "[truncated: 5 keys]",
    }


def test_snapshot_falls_back_for_what_json_rejects():
    assert json.loads(snapshot({"p": Point(1, 2)})) == {"p": {"__type__": "Point", "x": 1, "y": 2}}
    loop: list = []
    loop.append(loop)
    assert json.loads(snapshot({"loop": loop})) == {"loop": ["[cycle]"]}


def test_traced_function_with_hostile_arguments_records_them(tracekit_capture):
    loop: list = []
    loop.append(loop)

    @tracekit.tool
    def hostile(a, b, c, d, e, f, g):
        return BadRepr()

    hostile(
        BadRepr(),
        loop,
        float("nan"),
        b"\xff",
        {1, 2},
        Model(name="m", when=datetime.date(2020, 1, 1)),
        "s" * 200_000,
    )
    (record,) = tracekit_capture.records
    json.dumps(record, allow_nan=False)
    inputs = record["inputs"]
    assert inputs["a"] == "<unrepresentable BadRepr>"
    assert inputs["b"] == ["[cycle]"]
    assert inputs["c"] == "NaN"
    assert inputs["d"].startswith("base64:")
    assert inputs["e"] == [1, 2]
    assert inputs["f"] == {"name": "m", "when": "2020-01-01"}
    assert inputs["g"].endswith("…[truncated: 200000 chars]")
    assert len(inputs["g"]) < 100_100
    assert record["outputs"] == {"output": "<unrepresentable BadRepr>"}


def test_limits_are_configurable_at_init(tracekit_capture):
    tracekit.init(tracekit_capture.backend, max_string_chars=5, max_items=3, max_depth=3)

    @tracekit.trace
    def f(text, items, nested):
        return None

    f("abcdefgh", [1, 2, 3, 4], {"a": {"b": {"c": {"d": 1}}}})
    inputs = tracekit_capture.records[0]["inputs"]
    assert inputs["text"] == "abcde…[truncated: 8 chars]"
    assert inputs["items"] == [1, 2, 3, "[truncated: 4 items]"]
    assert "deeper than 3 levels" in json.dumps(inputs["nested"])


def test_nan_in_plain_and_nested_values_gives_valid_json(tracekit_capture):
    @tracekit.trace
    def f(x, xs):
        return {"score": float("nan")}

    f(float("inf"), [float("nan")])
    record = tracekit_capture.records[0]
    assert record["inputs"] == {"x": "Infinity", "xs": ["NaN"]}
    assert record["outputs"] == {"score": "NaN"}
    json.dumps(record, allow_nan=False)


def test_oversize_record_is_cut_and_counted(tracekit_capture):
    tracekit.init(tracekit_capture.backend, max_record_bytes=10_000)

    @tracekit.trace
    def f(parts):
        return None

    f(["y" * 5_000] * 10)
    record = tracekit_capture.records[0]
    assert "exceeded 10000" in record["inputs"]["…"]
    assert tracekit.stats()["dropped"]["oversize"] == 1


def test_markers_keep_the_original_size_through_both_stages(tracekit_capture):
    @tracekit.trace
    def f(items, mapping, other):
        return None

    # `other` forces the careful walker on the hot path; the exporter must not re-cut.
    f(list(range(1005)), {str(i): i for i in range(1003)}, object())
    inputs = tracekit_capture.records[0]["inputs"]
    assert inputs["items"][-1] == "[truncated: 1005 items]"
    assert len(inputs["items"]) == 1001
    assert inputs["mapping"]["…"] == "[truncated: 1003 keys]"


def test_error_messages_and_attributes_are_capped(tracekit_capture):
    tracekit.init(tracekit_capture.backend, max_string_chars=4_000, max_record_bytes=50_000)

    @tracekit.trace
    def f():
        span = tracekit.current_span()
        for i in range(20):
            span.set_attribute(f"blob{i}", "z" * 3_500)  # 70 kB of attributes in all
        raise ValueError("m" * 6_000)

    with pytest.raises(ValueError):
        f()
    record = tracekit_capture.records[0]
    assert record["error"]["message"] == "m" * 4_000 + "…[truncated: 6000 chars]"
    assert len(json.dumps(record)) <= 50_000
    assert tracekit.stats()["dropped"]["oversize"] == 1
