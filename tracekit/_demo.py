"""The demo agent behind ``tracekit demo``: a small traced agent with a simulated model.

Everything runs locally: the "model" is a deterministic function that
returns canned answers and realistic token counts, so the demo needs no
network and no API key.
"""

from __future__ import annotations

import time
from typing import Any

import tracekit


@tracekit.llm(name="chat-completion")
def _call_model(
    messages: list[dict[str, str]], model: str = "demo-gpt", temperature: float = 0.2
) -> str:
    span = tracekit.current_span()
    span.set_model(model, temperature=temperature)
    prompt = " ".join(m["content"] for m in messages)
    time.sleep(0.02)  # a model takes time; the timeline should show it
    if "plan" in messages[0]["content"]:
        answer = "1. search the founding year\n2. compute the age"
    else:
        answer = "Google was founded in 1998, so it is 27 years old in 2025."
    span.set_usage(
        prompt_tokens=len(prompt.split()) * 4 // 3, completion_tokens=len(answer.split()) * 4 // 3
    )
    return answer


@tracekit.tool
def web_search(query: str) -> dict[str, Any]:
    """Pretend to search the web; the first attempt times out."""
    time.sleep(0.005)
    if "retry" not in query:
        raise TimeoutError("search backend did not answer in 5 s")
    return {"results": [{"title": "Google - Wikipedia", "snippet": "Founded September 4, 1998"}]}


@tracekit.tool
def calculator(expression: str) -> int:
    """Evaluate 'a - b' on integers."""
    left, _, right = expression.partition("-")
    return int(left) - int(right)


@tracekit.chain
def plan(question: str) -> list[str]:
    """Ask the model for a plan."""
    text = _call_model(
        [{"role": "system", "content": "plan the steps"}, {"role": "user", "content": question}]
    )
    return text.splitlines()


@tracekit.agent(name="planner-agent", tags=["demo"])
def run_agent(question: str) -> str:
    """Plan, search (recovering from a failed call), compute, answer."""
    steps = plan(question)
    try:
        found = web_search("google founded year")
    except TimeoutError:
        found = web_search("google founded year (retry)")
    year = int(found["results"][0]["snippet"].rsplit(" ", 1)[-1])
    age = calculator(f"2025 - {year}")
    return _call_model(
        [
            {"role": "system", "content": "answer briefly"},
            {"role": "user", "content": f"{question} steps={steps} age={age}"},
        ]
    )


def main() -> int:
    """Trace the demo agent and print its trace tree."""
    tracekit.init("console")
    answer = run_agent("How old is Google?")
    tracekit.flush()
    print(f"\nagent answered: {answer}")
    return 0
