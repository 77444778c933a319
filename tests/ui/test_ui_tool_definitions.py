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
