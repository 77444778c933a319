"""What the LangChain adapter adds to a small LCEL chain's ``invoke`` (issue #5).

The chain: a prompt template, a fake chat model (langchain-core's
``FakeListChatModel``, no network), an output parser and a ``RunnableLambda``
(five runs with the sequence itself). Measured in the same run: the chain with
tracekit before ``init()``, with a LangChain callback handler that does
nothing (what LangChain's callback machinery costs any tracer), with
``init()`` but no adapter, and with the LangChain adapter on (memory
backend, ``tracekit.flush()`` included).

    python benchmarks/langchain_overhead.py [--calls N] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import tracekit
from tracekit import _config, integrations
from tracekit.backends import MemoryBackend


def build_chain() -> Any:
    from langchain_core.language_models import FakeListChatModel
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableLambda

    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{question}")])
    model = FakeListChatModel(responses=["Paris is the capital of France."])
    return prompt | model | StrOutputParser() | RunnableLambda(lambda text: text.upper())


def noop_handler() -> Any:
    """A LangChain callback handler that does nothing: the cost of LangChain's callbacks."""
    from langchain_core.callbacks import BaseCallbackHandler

    class Noop(BaseCallbackHandler):
        run_inline = True

    return Noop()


def time_calls(chain: Any, calls: int, finish: Callable[[], None], config: Any = None) -> float:
    """Mean microseconds per ``invoke`` (``finish`` is inside the timing)."""
    started = time.perf_counter()
    for i in range(calls):
        chain.invoke({"question": f"capital of France? ({i})"}, config)
    finish()
    return (time.perf_counter() - started) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    chain = build_chain()
    backend = MemoryBackend()

    def untraced() -> None:
        _config._reset()

    def core_only() -> None:
        _config._reset()
        tracekit.init(backend)

    def with_adapter() -> None:
        _config._reset()
        tracekit.init(backend, integrations=["langchain"])

    def flush() -> None:
        tracekit.flush(timeout=60)
        backend.clear()

    variants = {
        "tracekit before init()": untraced,
        "a no-op LangChain handler": untraced,
        "tracekit init(), no adapter": core_only,
        "LangChain adapter on": with_adapter,
    }
    configs = {"a no-op LangChain handler": {"callbacks": [noop_handler()]}}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):  # round-robin, so drift hits every variant alike
        for name, setup in variants.items():
            setup()
            chain.invoke({"question": "warm-up"})
            flush()
            samples[name].append(time_calls(chain, args.calls, flush, configs.get(name)))
    integrations.unpatch(["langchain"])
    _config._reset()

    base = statistics.median(samples["tracekit before init()"])
    print(f"5-run LCEL chain, {args.rounds} rounds x {args.calls} invokes (median us per invoke)")
    for name, values in samples.items():
        value = statistics.median(values)
        print(f"  {name:<28} {value:9.1f} us   +{value - base:7.1f} us")
    added = statistics.median(samples["LangChain adapter on"]) - base
    print(f"overhead: {added:.0f} us per invoke, about {added / 5:.0f} us per run (5 runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
