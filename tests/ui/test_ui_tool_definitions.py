"""The span detail shows the tools offered to a model as definitions, not as tool calls.

``attributes.model_parameters.tools`` holds definitions (OpenAI's chat shape,
as LangChain's ``bind_tools`` records it too, the Responses API's flat shape,
Anthropic's ``input_schema``): each is drawn with its name, description and
JSON schema, as text; the model's answer keeps its tool calls.
"""

from __future__ import annotations

import json

from playwright.sync_api import expect
from ui_helpers import MS, rec, screenshot, start, tid, write

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "a city name"}},
    "required": ["city"],
}
PAYLOAD = "<img src=x onerror=\"window.__xss = 'tool'\">"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": WEATHER_SCHEMA,
        },
    },
    {
        "type": "function",
        "name": "search_web",
        "description": "Search the web. " + PAYLOAD,
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        "strict": True,
    },
    {
        "name": "calculator",
        "description": "Evaluate arithmetic.",
        "input_schema": {"type": "object", "properties": {"expression": {"type": "string"}}},
    },
]


def tools_trace(n=1):
    t0 = start(n)
    answer = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "call_paris", "name": "get_weather", "arguments": {"city": "Paris"}}],
    }
    llm = rec(
        n,
        1,
        0,
        name="ChatOpenAI",
        kind="LLM",
        start_ns=t0 + MS,
        end_ns=t0 + 20 * MS,
        model="gpt-4o-mini",
        inputs={"messages": [{"role": "user", "content": "Weather in Paris?"}]},
        outputs={"message": answer, "finish_reason": "tool_calls"},
        attributes={"model_parameters": {"temperature": 0.0, "tools": TOOLS}},
    )
    root = rec(n, 0, None, name="planner", kind="CHAIN", start_ns=t0, end_ns=t0 + 30 * MS)
    return [llm, root]


def test_tool_definitions_show_name_description_and_schema(db, serve, browse):
    write(db, tools_trace(1))
    page, watch = browse(serve(db).url + f"#/trace/{tid(1)}")
    page.locator(".label-row", has_text="ChatOpenAI").click()
    model = page.locator(".span-detail [data-section=model]")
    defs = model.locator(".tool-def")
    expect(defs).to_have_count(3)
    assert model.locator(".tool-call").count() == 0  # offered, not called
    assert defs.locator(".tool-name").all_inner_texts() == [
        "get_weather",
        "search_web",
        "calculator",
    ]
    weather = defs.nth(0)
    assert weather.locator(".tool-description").inner_text() == "The weather in a city."
    assert json.loads(weather.locator(".tool-schema").inner_text()) == WEATHER_SCHEMA
    search = defs.nth(1)
    assert PAYLOAD in search.locator(".tool-description").inner_text()  # text, never markup
    assert "strict" in search.inner_text()
    calculator = json.loads(defs.nth(2).locator(".tool-schema").inner_text())
    assert calculator["properties"] == {"expression": {"type": "string"}}
    # the attributes section draws the same definitions
    expect(page.locator("[data-section=attributes] .tool-def")).to_have_count(3)
    # the answer's tool call is still a call, with its arguments
    call = page.locator("[data-section=outputs] .tool-call")
    expect(call).to_have_count(1)
    assert "get_weather" in call.inner_text()
    assert "Paris" in call.inner_text()
    screenshot(page, "ui-tool-definitions")
    assert page.evaluate("window.__xss") is None
    assert page.locator(".span-detail img").count() == 0
    assert page.evaluate("window.__csp") == []
    assert watch.console_errors == []
    assert watch.off_loopback() == []


# -- every field shown, each item decided on its own --------------------------------------

ODD_TOOLS = [
    {  # a name that is not a string, and the wrapper's own fields
        "type": "function",
        "function": {"name": 42, "type": "strange", "parameters": WEATHER_SCHEMA},
        "cache_control": {"type": "ephemeral"},
    },
    {"type": ["not", "a", "string"], "name": "typed_oddly", "parameters": {"type": "object"}},
    {  # Anthropic's tool_use is a call, even under a "tools" key
        "type": "tool_use",
        "id": "toolu_1",
        "name": "lookup_anthropic",
        "input": {"q": "tea " + PAYLOAD},
    },
    {"type": "function", "function": {"name": "called_f", "arguments": '{"x": 1}'}},
    {"type": "web_search"},  # a built-in tool, no name
    "a bare string",
]
MIXED = [  # not under a tools key: a definition and a call, each drawn as what it is
    {"type": "function", "function": {"name": "defined_g", "description": "Defined."}},
    {"id": "call_9", "type": "function", "function": {"name": "called_h", "arguments": "{}"}},
]


def odd_trace(n=1):
    t0 = start(n)
    llm = rec(
        n,
        1,
        0,
        name="odd-model",
        kind="LLM",
        start_ns=t0 + MS,
        end_ns=t0 + 20 * MS,
        inputs={"messages": [{"role": "user", "content": "hi"}], "items": MIXED},
        outputs={"message": {"role": "AIMessageChunk", "content": "streamed answer"}},
        attributes={"model_parameters": {"tools": ODD_TOOLS}},
    )
    root = rec(n, 0, None, name="root", kind="CHAIN", start_ns=t0, end_ns=t0 + 30 * MS)
    return [llm, root]


def test_odd_tool_lists_lose_no_field_and_each_item_is_what_it_is(db, serve, browse):
    write(db, odd_trace(1))
    page, watch = browse(serve(db).url + f"#/trace/{tid(1)}")
    page.locator(".label-row", has_text="odd-model").click()
    model = page.locator(".span-detail [data-section=model]")
    expect(model.locator(".tool-defs").first).to_be_visible()
    tools = model.locator(".tool-defs").first
    defs = tools.locator(":scope > .tool-def")
    calls = tools.locator(":scope > .tool-call")
    expect(defs).to_have_count(3)
    expect(calls).to_have_count(2)
    expect(tools.locator(":scope > .tool-other")).to_have_count(1)
    assert "a bare string" in tools.locator(":scope > .tool-other").inner_text()
    # the non-string name, function.type and the wrapper's fields are all there
    first = defs.nth(0).inner_text()
    assert "42" in first
    assert "strange" in first
    assert "ephemeral" in first
    assert json.loads(defs.nth(0).locator(".tool-schema").inner_text()) == WEATHER_SCHEMA
    # a type that is not a string is shown as it is
    second = defs.nth(1)
    assert second.locator(".tool-name").inner_text() == "typed_oddly"
    assert "not" in second.inner_text()
    assert "string" in second.inner_text()
    assert defs.nth(2).locator(".tool-name").inner_text() == "web_search"
    # the tool_use and the OpenAI-shaped call are calls, with their arguments
    assert calls.locator(".tool-name").all_inner_texts() == ["lookup_anthropic", "called_f"]
    anthropic = calls.nth(0).inner_text()
    assert "toolu_1" in anthropic
    assert PAYLOAD in anthropic  # text, never markup
    assert "null" not in calls.nth(1).inner_text()
    # a list mixing a definition and a call (the original bug: "tool call defined_g null")
    mixed = page.locator("[data-section=inputs] .tool-defs")
    expect(mixed).to_have_count(1)
    assert mixed.locator(".tool-def .tool-name").all_inner_texts() == ["defined_g"]
    assert "Defined." in mixed.locator(".tool-def").inner_text()
    assert mixed.locator(".tool-call .tool-name").all_inner_texts() == ["called_h"]
    assert "defined_g" not in " ".join(mixed.locator(".tool-call").all_inner_texts())
    screenshot(page, "ui-tool-definitions-odd")
    assert page.evaluate("window.__xss") is None
    assert page.locator(".span-detail img").count() == 0
    assert page.evaluate("window.__csp") == []
    assert watch.console_errors == []
    assert watch.off_loopback() == []


def test_a_role_stored_as_a_langchain_chunk_type_reads_as_its_role(db, serve, browse):
    # traces recorded before the adapter mapped chunk types keep "AIMessageChunk"
    t0 = start(1)
    stored = [
        ("AIMessageChunk", "assistant", "assistant"),
        ("HumanMessageChunk", "user", "user"),
        ("SystemMessageChunk", "system", "system"),
        ("ToolMessageChunk", "tool", "tool"),
        ("DeveloperMessageChunk", "developer", "system"),
        ("CriticMessageChunk", "critic", "other"),
    ]
    messages = [{"role": role, "content": f"said by {role}"} for role, _, _ in stored]
    llm = rec(1, 1, 0, name="chunky", kind="LLM", start_ns=t0 + MS, end_ns=t0 + 20 * MS,
              inputs={"messages": messages})  # fmt: skip
    root = rec(1, 0, None, name="root", start_ns=t0, end_ns=t0 + 30 * MS)
    write(db, [llm, root])
    page, watch = browse(serve(db).url + f"#/trace/{tid(1)}")
    page.locator(".label-row", has_text="chunky").click()
    shown = page.locator("[data-section=inputs] .message")
    expect(shown).to_have_count(len(stored))
    for i, (_, label, role_class) in enumerate(stored):
        item = shown.nth(i)
        assert item.locator(".role").text_content() == label  # CSS upper-cases it
        assert f"role-{role_class}" in (item.get_attribute("class") or "").split()
    assert watch.console_errors == []
