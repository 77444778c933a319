"""Hostile objects: tracing never changes what a call does, whatever its arguments run.

Before, a list or dict subclass with an endless ``__iter__`` made a traced call
never return (the JSON encoder iterated it), and objects whose
``__getattribute__``, ``__class__`` or ``items()`` raise lost their spans to
internal errors. Every test runs the traced code in a thread with a generous
join timeout, so a hang fails the test instead of the run.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import itertools
import threading
import time

import pytest

import tracekit
from tracekit._serialize import WALK_MAX_VALUES, to_jsonable

HANG_BOUND_S = 60.0


def bounded(fn, *args, **kwargs):
    """Run ``fn`` in a thread; fail if it does not return within the hang bound."""
    outcome = {}

    def run():
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_BOUND_S)
    assert not thread.is_alive(), f"{fn.__name__} did not return: tracing hung on a value"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def endless(make):
    """An iterator that never ends for tracekit: it fails the test instead of filling memory."""
    for i in itertools.count():
        if i == 1_000_000:
            raise AssertionError("a million items read from an endless iterator")
        yield make(i)


class EndlessList(list):
    def __iter__(self):
        return endless(lambda i: "again")


class EndlessDict(dict):
    def __iter__(self):
        return endless(lambda i: f"k{i}")

    def keys(self):
        return iter(self)

    def items(self):
        return endless(lambda i: (f"k{i}", i))

    def values(self):
        return endless(lambda i: i)


class EndlessMapping(collections.abc.Mapping):
    def __getitem__(self, key):
        return 1

    def __iter__(self):
        return endless(lambda i: f"k{i}")

    def __len__(self):
        return 3  # and it lies


class RaisingGetattribute:
    def __getattribute__(self, name):
        raise ValueError("no attribute for you")


class RaisingClass:
    @property
    def __class__(self):
        raise ValueError("no class for you")


class RaisingRepr:
    def __repr__(self):
        raise ValueError("no repr for you")


class RaisingItems(dict):
    def items(self):
        raise ValueError("no items for you")


class RaisingMapping(collections.abc.Mapping):
    def __getitem__(self, key):
        raise KeyError(key)

    def __iter__(self):
        raise ValueError("no iteration for you")

    def __len__(self):
        raise ValueError("no len for you")

    def items(self):
        raise ValueError("no items for you")


class RaisingLen(list):
    def __len__(self):
        raise ValueError("no len for you")


class FailsMidway(list):
    def __iter__(self):
        yield "one"
        yield "two"
        raise RuntimeError("the iterator broke")


class BadDate(datetime.date):
    def isoformat(self):
        raise ValueError("no date for you")


@dataclasses.dataclass
class GuardedRecord:
    visible: int
    guarded: int

    def __getattribute__(self, name):
        if name == "guarded":
            raise PermissionError("not this field")
        return object.__getattribute__(self, name)


@tracekit.tool
def consume(value):
    return "done"


@tracekit.tool
def identity(value):
    return value


def test_an_endless_list_subclass_returns_at_once_with_a_truncation_marker(tracekit_capture):
    endless = EndlessList()
    assert bounded(consume, endless) == "done"
    assert bounded(identity, endless) is endless  # the return value is the same object
    first, second = tracekit_capture.spans()
    items = first["inputs"]["value"]
    assert items[:1000] == ["again"] * 1000
    assert items[1000:] == ["[truncated: more than 1000 items]"]
    assert second["outputs"]["output"][-1] == "[truncated: more than 1000 items]"
    assert tracekit.stats()["internal_errors"] == 0


@pytest.mark.parametrize("endless", [EndlessDict, EndlessMapping])
def test_an_endless_mapping_returns_at_once_with_a_truncation_marker(tracekit_capture, endless):
    assert bounded(consume, endless()) == "done"
    assert bounded(consume, {"nested": [endless()]}) == "done"
    flat, nested = tracekit_capture.spans()
    keys = flat["inputs"]["value"]
    assert len(keys) == 1001
    assert keys["k999"] == (999 if endless is EndlessDict else 1)
    assert keys["…"] == "[truncated: more than 1000 keys]"
    assert nested["inputs"]["value"]["nested"][0]["…"] == "[truncated: more than 1000 keys]"


def test_every_way_of_giving_an_endless_value_returns(tracekit_capture):
    def give():
        with tracekit.span("manual", inputs=EndlessDict(), metadata=EndlessDict()) as span:
            span.set_inputs(EndlessDict())
            span.set_outputs(EndlessMapping())
            span.set_attribute("list", EndlessList())
            span.add_event("event", EndlessDict())
            span.set_model("m", stop=EndlessList())
            span.add_named_result(EndlessDict(), EndlessList())
        span.set_output(EndlessList())  # ended: nothing, and no hang either
        root = tracekit.Span(
            name="hand-built",
            attributes=EndlessDict(),
            results=endless(lambda i: ({"q": 1}, {"a": 2})),
            child_spans=EndlessList(),
        )
        tracekit.log(root)

    bounded(give)
    manual, hand_built = tracekit_capture.spans()
    assert manual["inputs"]["…"] == "[truncated: more than 1000 keys]"
    assert manual["outputs"]["…"] == "[truncated: more than 1000 keys]"
    assert manual["attributes"]["list"][-1] == "[truncated: more than 1000 items]"
    assert manual["attributes"]["…"] == "[truncated: more than 1000 keys]"  # the metadata
    assert manual["events"][0]["attributes"]["…"] == "[truncated: more than 1000 keys]"
    assert hand_built["inputs"] == {"q": 1}
    assert tracekit.stats()["internal_errors"] == 0


def test_a_generator_yielding_hostile_items_keeps_its_span(tracekit_capture):
    @tracekit.chain
    def stream():
        yield EndlessList()
        yield RaisingRepr()

    items = bounded(lambda: list(stream()))
    assert type(items[0]) is EndlessList
    (record,) = tracekit_capture.spans()
    first, second = record["outputs"]["output"]
    assert first[-1] == "[truncated: more than 1000 items]"
    assert second == "<unrepresentable RaisingRepr>"


HOSTILE = {
    "__getattribute__": (RaisingGetattribute, lambda v: "RaisingGetattribute object" in v),
    "__class__": (RaisingClass, lambda v: "RaisingClass object" in v),
    "__repr__": (RaisingRepr, lambda v: v == "<unrepresentable RaisingRepr>"),
    "items() of a dict": (RaisingItems, lambda v: v == "[unreadable: ValueError]"),
    "a mapping": (RaisingMapping, lambda v: v == "[unreadable: ValueError]"),
    "__len__": (lambda: RaisingLen(["a", "b"]), lambda v: v == ["a", "b"]),
    "an iterator midway": (
        FailsMidway,
        lambda v: v == ["one", "two", "[unreadable: RuntimeError]"],
    ),
    "isoformat": (lambda: BadDate(2024, 1, 2), lambda v: v == "[unreadable: ValueError]"),
    "a dataclass field": (
        lambda: GuardedRecord(1, 2),
        lambda v: (
            v
            == {
                "__type__": "GuardedRecord",
                "visible": 1,
                "guarded": "[unreadable: PermissionError]",
            }
        ),
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_value_that_raises_when_read_is_a_placeholder_and_the_span_is_kept(
    tracekit_capture, case
):
    make, expected = HOSTILE[case]
    value = make()

    @tracekit.tool
    def tool(value, sibling):
        return value

    assert bounded(tool, value, "kept") is value
    assert bounded(tool, [1, value, 3], sibling={"x": value}) is not None
    with tracekit.span("manual") as span:
        span.set_attribute("value", value)
        span.set_inputs({"value": value})
        span.set_outputs(value)
    direct, nested, manual = tracekit_capture.spans()
    assert expected(direct["inputs"]["value"]), direct["inputs"]
    assert direct["inputs"]["sibling"] == "kept"
    assert expected(direct["outputs"]["output"]) or expected(direct["outputs"]), direct["outputs"]
    listed = nested["inputs"]["value"]
    assert (listed[0], listed[2]) == (1, 3)  # the siblings are kept
    assert expected(listed[1]), listed
    assert expected(nested["inputs"]["sibling"]["x"])
    assert expected(manual["attributes"]["value"])
    assert expected(manual["inputs"]["value"])
    assert tracekit.stats()["internal_errors"] == 0


def test_the_traced_functions_exception_is_unchanged_with_hostile_arguments(tracekit_capture):
    error = KeyError("the original")

    @tracekit.tool
    def fails(*values):
        raise error

    with pytest.raises(KeyError) as caught:
        bounded(fails, EndlessList(), RaisingClass(), RaisingGetattribute(), RaisingItems())
    assert caught.value is error
    (record,) = tracekit_capture.spans()
    assert record["status"] == "ERROR"
    assert record["inputs"]["values"][0][-1] == "[truncated: more than 1000 items]"
    assert tracekit.stats()["internal_errors"] == 0


class SlowRepr:
    def __repr__(self):
        time.sleep(0.002)  # a slow object: 1,000 of them take 2 s, far past the walk's budget
        return "slow"


def test_a_walk_stops_at_its_time_budget_with_a_marker(tracekit_capture):
    assert bounded(consume, [SlowRepr() for _ in range(1000)]) == "done"
    (record,) = tracekit_capture.spans()
    items = record["inputs"]["value"]
    assert items[-1] == "[truncated: walk over 100 ms]"
    assert 1 < len(items) < 1000
    assert items[:-1] == ["slow"] * (len(items) - 1)


def test_a_walk_converts_a_bounded_number_of_values():
    matrix = [list(range(1000)) for _ in range(1000)]  # a million values, within every cap
    result = bounded(to_jsonable, matrix)
    assert result[-1] == f"[truncated: walk over {WALK_MAX_VALUES} values]"
    rows = result[:-1]
    assert rows[0] == list(range(1000))
    assert sum(len(row) for row in rows) <= WALK_MAX_VALUES
