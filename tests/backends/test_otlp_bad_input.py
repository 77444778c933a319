"""Bad strings, huge ints and unencodable records over OTLP: the batch is always sent.

Protobuf refuses a string with a lone surrogate and an int outside int64, and
an int of more than 4,300 digits cannot even be printed: any of them lost the
whole request before.
"""

from __future__ import annotations

import json
import os

import tracekit
from tracekit.backends.otlp import OtlpBackend

LONE = json.loads('"\\ud800"')
ESCAPED = os.fsdecode(b"\xff")
REPLACED = "\ufffd"
HUGE = 10**5000
NEGATIVE = -(2**70)


@tracekit.tool
def innocent(question):
    return f"answer to {question}"


@tracekit.tool(name=f"lookup {LONE}")
def bad(short, huge, nested):
    span = tracekit.current_span()
    span.set_attribute(f"path {ESCAPED}", HUGE)
    span.set_attribute("low", NEGATIVE)
    span.add_event(f"chunk {LONE}", {"delta": LONE})
    raise ValueError(f"cannot read {LONE}")


def test_lone_surrogates_and_huge_ints_cost_no_span_over_otlp(receiver):
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=5))
    innocent("first")
    try:
        bad(LONE, HUGE, {"low": NEGATIVE, "text": ESCAPED})
    except ValueError:
        pass
    innocent("last")
    assert tracekit.flush()
    spans = receiver.wait_for_spans(3)
    assert sorted(span["name"] for span in spans) == ["innocent", "innocent", f"lookup {REPLACED}"]
    tool = receiver.by_name()[f"lookup {REPLACED}"]
    attributes = tool["attributes"]
    assert attributes[f"path {REPLACED}"] == "[int: about 5001 digits]"
    assert attributes["low"] == f"[int: {NEGATIVE}]"
    assert json.loads(attributes["input.value"]) == {
        "short": REPLACED,
        "huge": "[int: about 5001 digits]",
        "nested": {"low": f"[int: {NEGATIVE}]", "text": REPLACED},
    }
    assert tool["status"]["message"] == f"ValueError: cannot read {REPLACED}"
    assert tool["events"][0]["name"] == f"chunk {REPLACED}"
    stats = tracekit.stats()
    assert stats["exported"] == 3
    assert not any(stats["dropped"].values())


def break_one(record):
    """A user processor that leaves one record beyond repair (its time is not a number)."""
    if record["name"] == "broken":
        record["start_ns"] = "yesterday"
    return record


def test_a_record_beyond_repair_is_sent_as_a_counted_placeholder(receiver):
    tracekit.init(OtlpBackend(receiver.url + "/v1/traces", timeout=5), redact=break_one)

    @tracekit.agent
    def agent():
        innocent("before")
        with tracekit.span("broken", kind="TOOL", inputs={"q": "lost"}):
            pass

    agent()
    tracekit.flush()
    spans = receiver.wait_for_spans(3)
    by_name = {span["name"]: span for span in spans}
    assert set(by_name) == {"innocent", "broken", "agent"}
    broken = by_name["broken"]
    assert broken["parent_id"] == by_name["agent"]["span_id"]  # the tree stays whole
    assert "could not be encoded" in broken["attributes"]["tracekit.unencodable"]
    stats = tracekit.stats()
    assert stats["dropped"]["unencodable"] == 1
    assert stats["exported"] == 2
