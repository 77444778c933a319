"""Arguments and results are snapshotted at call time: later changes by the caller do not show.

Containers of plain values (chat message lists, tool arguments, retrieved
documents) are copied on the caller's thread rather than encoded to JSON
there (D108); these tests hold the copy to what a user relies on.
"""

from __future__ import annotations

import json

import tracekit
from tracekit import _serialize


@tracekit.llm
def chat(messages, options=None):
    return "Terminal 1"


@tracekit.tool
def retrieve(query):
    return [{"id": 1, "text": "Lisbon has two terminals."}, {"id": 2, "text": "Shuttle."}]


def test_mutating_a_message_list_after_the_call_does_not_change_its_record(tracekit_capture):
    messages = [{"role": "user", "content": "Which terminal?"}]
    options = {"temperature": 0.2, "stop": ["\n"], "tools": ({"name": "search"},)}
    chat(messages, options)
    # the application keeps building its conversation, in place
    messages[0]["content"] = "changed"
    messages.append({"role": "assistant", "content": "Terminal 1"})
    options["stop"].append("END")
    options["tools"][0]["name"] = "renamed"
    (record,) = tracekit_capture.spans("chat")
    assert record["inputs"] == {
        "messages": [{"role": "user", "content": "Which terminal?"}],
        "options": {"temperature": 0.2, "stop": ["\n"], "tools": [{"name": "search"}]},
    }


def test_a_returned_list_changed_by_the_caller_keeps_what_was_returned(tracekit_capture):
    documents = retrieve("terminals")
    documents[0]["text"] = "changed"
    documents.clear()
    (record,) = tracekit_capture.spans("retrieve")
    assert record["outputs"]["output"] == [
        {"id": 1, "text": "Lisbon has two terminals."},
        {"id": 2, "text": "Shuttle."},
    ]


def test_a_returned_dict_with_nested_containers_is_copied(tracekit_capture):
    state = {"messages": [{"role": "user", "content": "hi"}], "step": 1}

    @tracekit.chain
    def node():
        return state

    node()
    state["messages"].append({"role": "assistant", "content": "hello"})
    state["step"] = 2
    (record,) = tracekit_capture.spans("node")
    assert record["outputs"] == {"messages": [{"role": "user", "content": "hi"}], "step": 1}


def test_the_function_changing_its_own_argument_leaves_the_inputs_as_called(tracekit_capture):
    @tracekit.tool
    def grow(items):
        items.append("added inside")
        return len(items)

    grow(["first"])
    (record,) = tracekit_capture.spans("grow")
    assert record["inputs"] == {"items": ["first"]}
    assert record["outputs"] == {"output": 2}


def test_secrets_inside_copied_containers_are_redacted(tracekit_capture):
    chat(
        [{"role": "user", "content": "my key is sk-abcdefghijklmnopqrstuvwx"}],
        {"headers": {"Authorization": "Bearer abc"}, "api_key": "hunter2hunter2"},
    )
    (record,) = tracekit_capture.spans("chat")
    assert record["inputs"]["messages"][0]["content"] == "my key is [REDACTED]"
    assert record["inputs"]["options"]["headers"]["Authorization"] == "[REDACTED]"
    assert record["inputs"]["options"]["api_key"] == "[REDACTED]"


def test_values_the_copy_does_not_take_are_still_recorded(tracekit_capture):
    class Doc:
        def __repr__(self):
            return "Doc(1)"

    cycle: list = ["start"]
    cycle.append(cycle)
    deep: list = []
    inner = deep
    for _ in range(40):
        inner.append([])
        inner = inner[0]
    chat([Doc()], {"cycle": cycle, "deep": deep, "big": 1 << 80, "nan": float("nan")})
    (record,) = tracekit_capture.spans("chat")
    assert record["inputs"]["messages"] == ["Doc(1)"]
    options = record["inputs"]["options"]
    assert options["cycle"] == ["start", "[cycle]"]
    assert "[truncated: deeper than 20 levels]" in str(options["deep"])
    assert options["big"] == f"[int: {1 << 80}]"
    assert options["nan"] == "NaN"
    assert tracekit.stats()["internal_errors"] == 0


def test_long_strings_are_kept_whole_and_counted_in_the_queue_bytes(tracekit_capture):
    document = "Lisbon's airport has two terminals. " * 100  # 3.6 KB
    retrieve(document)
    (record,) = tracekit_capture.spans("retrieve")
    assert record["inputs"] == {"query": document}


def test_copy_plain_refuses_what_it_cannot_copy_without_running_user_code():
    class Sneaky(list):
        def __iter__(self):
            raise AssertionError("user code ran")

    limits = _serialize.DEFAULT_LIMITS
    copied, size, _ = _serialize.copy_plain([{"a": "xyz"}, (1, 2.5, None, True)], limits)
    assert copied == [{"a": "xyz"}, [1, 2.5, None, True]]
    assert size > 0
    for value in (Sneaky([1]), [object()], {1: "non-string key"}, [[0] * 1001]):
        try:
            _serialize.copy_plain(value, limits)
        except _serialize.NotPlain:
            pass
        else:
            raise AssertionError(f"copied {value!r}")


def test_text_found_clean_once_is_not_searched_again_but_secrets_always_are(tracekit_capture):
    prompt = "You are a travel assistant. Answer briefly, in one sentence."
    for _ in range(3):  # later calls reuse what redaction found the first time
        chat(
            [
                {"role": "system", "content": prompt},
                {"role": "user", "content": "token: abc123xyz"},
            ],
            {"api_key": "hunter2hunter2", "note": "call with sk-abcdefghijklmnopqrstuvwx"},
        )
        tracekit.flush()
    for record in tracekit_capture.spans("chat"):
        messages = record["inputs"]["messages"]
        assert messages[0]["content"] == prompt
        assert messages[1]["content"] == "token: [REDACTED]"
        assert record["inputs"]["options"] == {
            "api_key": "[REDACTED]",
            "note": "call with [REDACTED]",
        }


def test_extra_positional_arguments_under_a_secret_name_are_redacted(tracekit_capture):
    @tracekit.tool
    def login(user, *password):
        return "ok"

    login("bob", "hunter2", "s3cr3t!")
    (record,) = tracekit_capture.spans("login")
    assert record["inputs"] == {"user": "bob", "password": "[REDACTED]"}


def test_a_key_with_a_lone_surrogate_is_repaired_even_once_judged(tracekit_capture):
    odd = "\udc80k"
    for _ in range(2):  # the second call finds the key judged (not secret) before
        chat([{odd: "v"}], {odd: 1})
        tracekit.flush()
    for record in tracekit_capture.spans("chat"):
        assert record["inputs"]["messages"] == [{"\ufffdk": "v"}]
        assert record["inputs"]["options"] == {"\ufffdk": 1}


def test_text_that_json_escapes_cannot_make_a_record_over_the_cap(tracekit_capture):
    tracekit.init(tracekit_capture.backend, max_record_bytes=1 << 16)

    @tracekit.tool
    def control(a, b, c):
        return None

    chunk = "\x01" * 5_000  # 5,000 characters, 30,000 bytes of JSON (\u0001 each)
    control(chunk, chunk, chunk)
    tracekit.flush()
    (record,) = tracekit_capture.backend.records
    assert len(json.dumps(record)) <= 1 << 16
    assert record["inputs"]["…"].startswith("[truncated: record of")
    assert tracekit.stats()["dropped"]["oversize"] == 1
