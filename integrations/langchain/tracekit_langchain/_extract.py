"""What a LangChain run says, as tracekit wants it: pure functions over plain data.

Nothing here imports langchain-core or touches a span: the handler
(:mod:`tracekit_langchain._handler`) passes in a run's fields (its type, name,
invocation parameters and ``metadata``) or an ``LLMResult``, and gets back a kind, a model
name with its parameters, token usage and a component's configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# LangChain's run types and the tracekit kind each becomes; unknown ones are CHAIN.
RUN_KINDS: dict[str, str] = {
    "chain": "CHAIN",
    "prompt": "CHAIN",
    "parser": "CHAIN",
    "llm": "LLM",
    "chat_model": "LLM",
    "tool": "TOOL",
    "retriever": "RETRIEVER",
    "embedding": "EMBEDDING",
}

# A chain whose name is one of these (or ends with "Agent") is an agent.
AGENT_NAMES = frozenset({"AgentExecutor", "LangGraph", "CompiledStateGraph", "CompiledGraph"})

# Invocation parameters that are not model parameters.
_NOT_PARAMS = frozenset({"model", "model_name", "_type", "stop", "stream", "api_key"})


def kind_for(run_type: str, name: str) -> str:
    """The tracekit kind of a run: its run type's, AGENT for agent executors and graphs."""
    kind = RUN_KINDS.get(run_type, "CHAIN")
    if kind == "CHAIN" and (name in AGENT_NAMES or name.endswith("Agent")):
        return "AGENT"
    return kind


def model_and_params(
    invocation_params: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None
) -> tuple[str | None, dict[str, Any]]:
    """The model name and its request parameters, from a run's invocation parameters."""
    params = dict(invocation_params or {})
    model = params.get("model") or params.get("model_name") or params.get("model_id")
    if model is None and metadata:
        model = metadata.get("ls_model_name")
    kept = {k: v for k, v in params.items() if k not in _NOT_PARAMS and v is not None}
    return (str(model) if model is not None else None), kept


def _message(generation: Any) -> Any:
    return getattr(generation, "message", None)


def usage(result: Any) -> dict[str, int] | None:
    """Token usage of an ``LLMResult``: ``llm_output.token_usage``, else messages' metadata.

    The provider's ``token_usage`` (the raw counters) wins; otherwise the
    ``usage_metadata`` of every generated message is summed.
    """
    llm_output = getattr(result, "llm_output", None) or {}
    raw = llm_output.get("token_usage") or llm_output.get("usage")
    if isinstance(raw, Mapping) and raw:
        prompt = int(raw.get("prompt_tokens") or raw.get("input_tokens") or 0)
        completion = int(raw.get("completion_tokens") or raw.get("output_tokens") or 0)
        total = int(raw.get("total_tokens") or prompt + completion)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
    found = False
    prompt = completion = total = 0
    for batch in getattr(result, "generations", None) or ():
        for generation in batch:
            meta = getattr(_message(generation), "usage_metadata", None)
            if not meta:
                continue
            found = True
            prompt += int(meta.get("input_tokens") or 0)
            completion += int(meta.get("output_tokens") or 0)
            total += int(meta.get("total_tokens") or 0)
    if not found:
        return None
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total or prompt + completion,
    }


REDACTED = "[REDACTED]"  # what a secret marker becomes (as tracekit redacts)


def _simplify(value: Any, depth: int = 0) -> Any:
    """LangChain's serialized form made readable: constructors as their kwargs, secrets cut."""
    if depth > 20:
        return "..."
    if isinstance(value, Mapping):
        if value.get("lc") == 1 and "type" in value:
            kind = value.get("type")
            if kind == "secret":
                return REDACTED
            ident = value.get("id") or ["?"]
            found: dict[str, Any] = {"_type": str(ident[-1])}
            if kind == "constructor":
                for key, item in (value.get("kwargs") or {}).items():
                    found[str(key)] = _simplify(item, depth + 1)
            return found
        return {str(k): _simplify(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_simplify(v, depth + 1) for v in value]
    return value


def parameters(serialized: Any) -> dict[str, Any] | None:
    """A component's configuration: its serialized constructor arguments, secrets redacted.

    None when LangChain did not serialize the component (it passes None for
    most chains, and a ``not_implemented`` marker, whose ``repr`` is not
    recorded, for objects it cannot serialize).
    """
    if not isinstance(serialized, Mapping) or serialized.get("type") != "constructor":
        return None
    kwargs = serialized.get("kwargs")
    if not isinstance(kwargs, Mapping) or not kwargs:
        return None
    simplified = _simplify(kwargs)
    return simplified if isinstance(simplified, dict) else None
