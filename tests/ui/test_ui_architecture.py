"""The model architecture of a trace: components, their configuration, the runnable graph."""

from __future__ import annotations

from ui_helpers import GRAPH, langchain_trace, rec, research_trace


# Imported when used, not at collection: tests/test_public_api.py checks the names
# on the tracekit package, and importing tracekit.ui adds "ui" there.
def architecture(records):
    from tracekit.ui._architecture import architecture

    return architecture(records)


def clean_graph(value):
    from tracekit.ui._architecture import clean_graph

    return clean_graph(value)


def by_name(result):
    return {c["name"]: c for c in result["components"]}


def test_decorated_functions_give_kind_metadata_and_tags():
    result = architecture(sorted(research_trace(1), key=lambda r: r["start_ns"]))
    comps = by_name(result)
    agent = comps["research-agent"]
    assert agent["kind"] == "AGENT"
    assert agent["parent"] is None
    assert agent["metadata"] == {"team": "search"}
    assert agent["tags"] == ["demo"]
    assert comps["web_search"]["metadata"] == {"provider": "local-index"}
    assert comps["web_search"]["parent"] == agent["id"]
    llm = comps["plan"]
    assert llm["models"] == ["gpt-4o-mini"]
    assert llm["parameters"] == {"model_parameters": {"temperature": 0.2, "max_tokens": 256}}
    assert result["graph"] is None


def test_repeated_calls_in_one_place_are_one_component():
    records = [rec(1, 0, None, name="agent", kind="AGENT")]
    records += [rec(1, i, 0, name="search", kind="TOOL") for i in range(1, 6)]
    records += [rec(1, 6, 1, name="search", kind="TOOL")]  # nested: a different place
    result = architecture(records)
    searches = [c for c in result["components"] if c["name"] == "search"]
    assert [c["calls"] for c in searches] == [5, 1]
    assert searches[1]["parent"] == searches[0]["id"]


def test_langchain_parameters_and_graph_from_the_root():
    result = architecture(sorted(langchain_trace(2), key=lambda r: r["start_ns"]))
    comps = by_name(result)
    assert comps["ChatOpenAI"]["parameters"]["langchain.parameters"]["temperature"] == 0.0
    assert comps["ChatOpenAI"]["metadata"] == {}  # langchain.* attributes are not metadata
    assert result["graph"]["nodes"] == GRAPH["nodes"]
    assert [e["conditional"] for e in result["graph"]["edges"]] == [False, True, True, False]


def test_a_child_stored_before_its_parent_still_nests():
    parent = rec(1, 0, None, name="root", start_ns=10)
    child = rec(1, 1, 0, name="early-child", start_ns=5)  # clock skew between threads
    result = architecture([child, parent])
    comps = by_name(result)
    assert comps["early-child"]["parent"] == comps["root"]["id"]


def test_deep_traces_do_not_recurse():
    records = [rec(1, 0, None, name="n0")]
    records += [rec(1, i, i - 1, name=f"n{i}") for i in range(1, 5000)]
    result = architecture(records)
    assert len(result["components"]) == 5000
    assert result["components"][-1]["parent"] == 4998


def test_malformed_graphs_are_trimmed_or_ignored():
    assert clean_graph(None) is None
    assert clean_graph({"nodes": "x"}) is None
    assert clean_graph({"nodes": [], "edges": []}) is None
    graph = clean_graph(
        {
            "nodes": [{"id": "a"}, {"id": "a"}, {"name": "no id"}, "junk", {"id": "b", "name": 3}],
            "edges": [
                {"source": "a", "target": "b", "conditional": "yes"},
                {"source": "a", "target": "missing"},
                "junk",
            ],
        }
    )
    assert graph == {
        "nodes": [{"id": "a", "name": "a"}, {"id": "b", "name": "b"}],
        "edges": [{"source": "a", "target": "b", "conditional": False}],
        "dropped": 5,
    }


def test_graph_on_a_child_is_used_when_the_root_has_none():
    root = rec(1, 0, None, name="root")
    child = rec(1, 1, 0, name="graph", attributes={"langchain.graph": GRAPH})
    assert architecture([root, child])["graph"]["nodes"][1]["id"] == "agent"


def _shape(records):
    """The components as (name, parent name) pairs, parents before children."""
    result = architecture(records)
    names = {c["id"]: c["name"] for c in result["components"]}
    return [(c["name"], names.get(c["parent"])) for c in result["components"]]


def _tree_shape(records):
    """The same pairs from the tree ``tracekit show`` and the trace view draw."""
    from tracekit._record import build_tree

    pairs = []
    stack = [(node, None) for node in reversed(build_tree(records))]
    while stack:
        node, parent = stack.pop()
        pairs.append((node["record"]["name"], parent))
        stack.extend((child, node["record"]["name"]) for child in reversed(node["children"]))
    return pairs


def test_a_parent_cycle_is_cut_where_the_trace_view_cuts_it():
    # c1 <-> c2, and c3 under c2: build_tree cuts the loop at c1 (the earliest) and
    # draws one chain c1 > c2 > c3; the architecture shows that chain, not three roots.
    c1 = rec(1, 1, 2, name="c1")
    c2 = rec(1, 2, 1, name="c2")
    c3 = rec(1, 3, 2, name="c3")
    for records in ([c1, c2, c3], [c3, c2, c1], [c2, c3, c1]):
        assert _shape(records) == [("c1", None), ("c2", "c1"), ("c3", "c2")]
        assert _shape(records) == _tree_shape(records)


def test_self_parents_orphans_and_skew_match_the_tree():
    records = [
        rec(1, 0, None, name="root", start_ns=50),
        rec(1, 1, 0, name="early", start_ns=10),  # starts before its parent
        rec(1, 2, 2, name="self"),  # names itself as parent: a root
        rec(1, 3, 9, name="orphan"),  # parent never stored: a root
        rec(1, 4, 3, name="under-orphan"),
        rec(1, 5, 6, name="loop-a"),
        rec(1, 6, 7, name="loop-b"),
        rec(1, 7, 5, name="loop-c"),
        rec(1, 8, 6, name="below-loop"),
    ]
    for order in (records, records[::-1]):
        assert _shape(order) == _tree_shape(order)
    assert ("self", None) in _shape(records)
    assert ("under-orphan", "orphan") in _shape(records)


def test_a_deep_chain_under_a_cycle_does_not_recurse():
    records = [rec(1, 0, 1, name="top"), rec(1, 1, 0, name="n1")]
    records += [rec(1, i, i - 1, name=f"n{i}") for i in range(2, 3000)]
    result = architecture(records)
    assert len(result["components"]) == 3000
    assert [c["parent"] for c in result["components"][:3]] == [None, 0, 1]
