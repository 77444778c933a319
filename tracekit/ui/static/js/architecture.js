// The model architecture view: the trace's components (what ran, under what,
// configured how) as a tree, and the runnable graph when one was recorded.
import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { kindClass } from "./format.js";
import { drawGraph } from "./graph.js";
import { renderValue } from "./value.js";

const SOURCES = { model_parameters: "request parameters", "langchain.parameters": "configuration (LangChain)" };

function card(c) {
  const facts = [];
  if (c.models.length) facts.push(h("div", { class: "facts-line" }, h("span", { class: "muted" }, "model "), h("strong", { class: "model" }, c.models.join(", "))));
  for (const [source, params] of Object.entries(c.parameters)) {
    facts.push(h("div", { class: "params", dataset: { source } }, h("div", { class: "muted" }, SOURCES[source] || source), renderValue(params, 1)));
  }
  if (Object.keys(c.metadata).length) facts.push(h("div", { class: "params", dataset: { source: "metadata" } }, h("div", { class: "muted" }, "metadata"), renderValue(c.metadata, 1)));
  if (c.tags.length) facts.push(h("div", { class: "tags" }, c.tags.map((t) => h("span", { class: "tag" }, t))));
  return h("div", { class: "component", dataset: { component: String(c.id), kind: c.kind } },
    h("div", { class: "component-head" },
      h("span", { class: "kind " + kindClass(c.kind) }, c.kind),
      h("span", { class: "name" }, c.name),
      c.calls > 1 ? h("span", { class: "muted" }, ` ×${c.calls}`) : null),
    facts);
}

/** The components as nested lists (built without recursion: traces can nest deep). */
export function componentTree(components) {
  const items = new Map();
  const top = h("ul", { class: "components" });
  for (const c of components) {
    const li = h("li", null, card(c));
    items.set(c.id, li);
    const parent = c.parent === null ? null : items.get(c.parent);
    if (!parent) top.appendChild(li);
    else {
      let list = parent.querySelector(":scope > ul");
      if (!list) list = parent.appendChild(h("ul", { class: "components" }));
      list.appendChild(li);
    }
  }
  return top;
}

/** Fill `root` with the architecture of trace `traceId`. */
export async function renderArchitecture(root, traceId, showError) {
  let data;
  try {
    data = await api.architecture(traceId);
  } catch (err) {
    showError(err.message);
    return;
  }
  const parts = [];
  if (data.graph) {
    parts.push(h("section", { class: "arch-graph" },
      h("h3", null, "Runnable graph"),
      h("p", { class: "muted" }, `${data.graph.nodes.length} nodes, ${data.graph.edges.length} edges; dashed: conditional`
        + (data.graph.dropped ? `; ${data.graph.dropped} malformed entries left out` : "")),
      h("div", { class: "graph-box" }, drawGraph(data.graph))));
  }
  parts.push(h("section", { class: "arch-components" },
    h("h3", null, "Components"),
    h("p", { class: "muted" }, "Each callable once per place in the call tree, with what it was configured with."),
    componentTree(data.components)));
  replace(root, h("div", { class: "architecture", dataset: { ready: "1" } }, parts));
}
