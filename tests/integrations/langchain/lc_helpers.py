"""Helpers of the LangChain adapter's tests (a module name no other test folder uses).

``call`` runs a runnable in one mode of the matrix (invoke, ainvoke, stream,
astream, batch) and returns what the mode returns; ``shape`` is a trace as an
outline whose siblings are sorted by name, for modes where siblings start in
a different order (streamed sequences start every step before the first
chunk flows).
"""

from __future__ import annotations

import inspect

MODES = ["invoke", "ainvoke", "stream", "astream", "batch"]


async def call(runnable, mode, value):
    """Run ``runnable`` on ``value`` in ``mode``; a stream is consumed (its chunks returned)."""
    if mode == "invoke":
        return runnable.invoke(value)
    if mode == "ainvoke":
        return await runnable.ainvoke(value)
    if mode == "stream":
        return list(runnable.stream(value))
    if mode == "astream":
        return [chunk async for chunk in runnable.astream(value)]
    if mode == "batch":
        return runnable.batch([value])[0]
    if mode == "abatch":
        return (await runnable.abatch([value]))[0]
    raise ValueError(mode)


def shape(capture, trace_id=None):
    """The recorded trees as ``KIND name`` outlines, siblings sorted (one string)."""
    lines = []

    def walk(node, depth):
        lines.append(f"{'  ' * depth}{node['kind']} {node['name']}")
        for child in sorted(node["children"], key=lambda n: (n["name"], n["kind"])):
            walk(child, depth + 1)

    for root in capture.tree(trace_id):
        walk(root, 0)
    return "\n".join(lines)


def outline(text):
    """An expected outline written indented in a test, normalised like :func:`shape`."""
    return inspect.cleandoc(text)
