"""The demo agent behind ``tracekit demo``: a small traced agent with a simulated model.

Everything runs locally: the "model" is a deterministic function that
returns canned answers, takes a little time and reports token usage counted
the way chat APIs count it (about four characters a token, plus a few tokens
of overhead per message), so the demo needs no network and no API key.

The trace: a planner AGENT that asks the model for a plan (a CHAIN around an
LLM call), calls a search TOOL that times out, retries it successfully,
computes with a calculator TOOL and asks the model for the final answer.
"""

from __future__ import annotations

import re
import time
from typing import Any

import tracekit
from tracekit.backends.sqlite import SqliteBackend

MODEL = "demo-gpt-sim"
QUESTION = "How old is Google?"
_trace_ids: list[str | None] = []  # the agent's trace ids, for run() to read back
_PLAN_PROMPT = (
    "You are a planning agent. Break the user's question into short numbered steps "
    "that can be carried out with the tools available:\n"
    "- web_search(query): returns results with a title and a snippet\n"
    "- calculator(expression): evaluates 'a - b' on integers\n"
    "Answer with the steps only, one per line."
)
_ANSWER_PROMPT = (
    "You are a helpful assistant. Answer the user's question in one sentence, "
    "using only the facts gathered by the tools."
)


def count_tokens(messages: list[dict[str, str]]) -> int:
    """Prompt tokens as chat APIs count them: ~4 characters a token, 4 per message, 3 to prime."""
    return sum(4 + max(1, round(len(m["content"]) / 4)) for m in messages) + 3


def _simulate(messages: list[dict[str, str]]) -> str:
    """The canned model: a plan for the planning prompt, else an answer from the facts given."""
    if messages[0]["content"] == _PLAN_PROMPT:
        return (
            "1. Search the web for the year Google was founded\n"
            "2. Compute its age from the current year"
        )
    facts = dict(re.findall(r"(\w+)=(\d+)", messages[-1]["content"]))
    return (
        f"Google was founded in {facts.get('founded', '1998')}, "
        f"so it is {facts.get('age', '?')} years old in {facts.get('year', '?')}."
    )


@tracekit.llm(name="chat-completion")
def call_model(messages: list[dict[str, str]], model: str = MODEL, temperature: float = 0.2) -> str:
    """One chat completion from the simulated model, with its latency and token usage."""
    span = tracekit.current_span()
    span.set_model(model, temperature=temperature)
    answer = _simulate(messages)
    time.sleep(0.06)  # a model takes time; the timeline should show it
    span.set_usage(
        prompt_tokens=count_tokens(messages),
        completion_tokens=max(1, round(len(answer) / 4)),
    )
    return answer


@tracekit.tool
def web_search(query: str) -> dict[str, Any]:
    """Pretend to search the web; the first attempt times out."""
    time.sleep(0.01)
    if "retry" not in query:
        raise TimeoutError("search backend did not answer in 5 s")
    return {
        "results": [
            {"title": "Google - Wikipedia", "snippet": "Founded: September 4, 1998"},
            {"title": "Our history - About Google", "snippet": "Google was founded in 1998"},
        ]
    }


@tracekit.tool
def calculator(expression: str) -> int:
    """Evaluate 'a - b' on integers."""
    left, _, right = expression.partition("-")
    return int(left) - int(right)


@tracekit.chain
def plan(question: str) -> list[str]:
    """Ask the model for a plan, one step a line."""
    text = call_model(
        [{"role": "system", "content": _PLAN_PROMPT}, {"role": "user", "content": question}]
    )
    return text.splitlines()


@tracekit.agent(name="planner-agent", tags=["demo"])
def run_agent(question: str) -> str:
    """Plan, search (recovering from a failed call), compute, answer."""
    _trace_ids.append(tracekit.current_trace_id())
    steps = plan(question)
    try:
        found = web_search("google founded year")
    except TimeoutError:
        found = web_search("google founded year (retry)")
    founded = int(found["results"][0]["snippet"].rsplit(" ", 1)[-1])
    year = time.localtime().tm_year
    age = calculator(f"{year} - {founded}")
    facts = f"founded={founded} age={age} year={year}"
    return call_model(
        [
            {"role": "system", "content": _ANSWER_PROMPT},
            {"role": "user", "content": f"{question}\nPlan: {' / '.join(steps)}\nFacts: {facts}"},
        ]
    )


def run(path: str) -> str | None:
    """Trace the demo agent into the store at ``path``; returns the trace id.

    Tracing is configured here (and shut down, which flushes the store), so the
    demo is stored whatever ``TRACEKIT_DISABLED`` or ``TRACEKIT_SAMPLE_RATE`` say.
    The command reports a failure to store in one line of its own: no drop notice.
    """
    _trace_ids.clear()
    # The URL form, as users write it; a "?" in the path would read as URL options.
    backend = SqliteBackend(path) if "?" in path else f"sqlite:///{path}"
    tracekit.init(backend, project="demo", enabled=True, sample_rate=1.0, drop_notice=False)
    try:
        run_agent(QUESTION)
    finally:
        tracekit.shutdown()
    return _trace_ids[-1] if _trace_ids else None
