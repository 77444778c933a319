// The runnable graph (LangChain / LangGraph) as an SVG: nodes in layers by
// their distance from the entry, edges as arrows, conditional ones dashed.
import { s } from "./dom.js";

const NODE_W = 170;
const NODE_H = 34;
const GAP_X = 30;
const GAP_Y = 56;

/** Layer of each node: breadth-first distance from the sources (cycles are fine). */
export function layers(graph) {
  const incoming = new Map(graph.nodes.map((n) => [n.id, 0]));
  const out = new Map(graph.nodes.map((n) => [n.id, []]));
  for (const e of graph.edges) {
    incoming.set(e.target, incoming.get(e.target) + 1);
    out.get(e.source).push(e.target);
  }
  let sources = graph.nodes.filter((n) => n.id === "__start__" || incoming.get(n.id) === 0).map((n) => n.id);
  if (!sources.length) sources = [graph.nodes[0].id];
  const layer = new Map(sources.map((id) => [id, 0]));
  const queue = sources.slice();
  while (queue.length) {
    const id = queue.shift();
    for (const next of out.get(id)) {
      if (!layer.has(next)) {
        layer.set(next, layer.get(id) + 1);
        queue.push(next);
      }
    }
  }
  const deepest = Math.max(0, ...layer.values());
  for (const n of graph.nodes) if (!layer.has(n.id)) layer.set(n.id, deepest + 1);
  return layer;
}

function clip(text, n) {
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

/** An <svg> drawing of `graph` ({nodes, edges}). */
export function drawGraph(graph) {
  const layer = layers(graph);
  const rows = [];
  for (const n of graph.nodes) {
    const l = layer.get(n.id);
    (rows[l] = rows[l] || []).push(n);
  }
  const widest = Math.max(...rows.map((r) => (r ? r.length : 0)));
  const width = widest * (NODE_W + GAP_X) + GAP_X;
  const pos = new Map();
  rows.forEach((row, l) => {
    if (!row) return;
    const offset = (width - row.length * (NODE_W + GAP_X) + GAP_X) / 2;
    row.forEach((n, i) => pos.set(n.id, { x: offset + i * (NODE_W + GAP_X), y: GAP_Y / 2 + l * (NODE_H + GAP_Y) }));
  });
  const height = rows.length * (NODE_H + GAP_Y);
  const edges = graph.edges.map((e) => {
    const a = pos.get(e.source);
    const b = pos.get(e.target);
    const x1 = a.x + NODE_W / 2;
    const x2 = b.x + NODE_W / 2;
    let d;
    if (b.y > a.y) d = `M${x1},${a.y + NODE_H} C${x1},${a.y + NODE_H + GAP_Y / 2} ${x2},${b.y - GAP_Y / 2} ${x2},${b.y}`;
    else {
      // back edge (a loop, or a node to itself): around the side
      const side = Math.max(a.x, b.x) + NODE_W + GAP_X / 2;
      d = `M${a.x + NODE_W},${a.y + NODE_H / 2} C${side},${a.y + NODE_H / 2} ${side},${b.y + NODE_H / 2} ${b.x + NODE_W},${b.y + NODE_H / 2}`;
    }
    return s("path", { class: "edge" + (e.conditional ? " conditional" : ""), d, "marker-end": "url(#arrow)", dataset: { source: e.source, target: e.target } });
  });
  const nodes = graph.nodes.map((n) => {
    const p = pos.get(n.id);
    const special = n.id === "__start__" || n.id === "__end__";
    return s("g", { class: "node" + (special ? " terminal" : ""), transform: `translate(${p.x},${p.y})`, dataset: { nodeId: n.id } },
      s("title", null, n.name === n.id ? n.id : `${n.name} (${n.id})`),
      s("rect", { width: NODE_W, height: NODE_H, rx: 6 }),
      s("text", { x: NODE_W / 2, y: NODE_H / 2 + 4, "text-anchor": "middle" }, clip(n.name, 22)));
  });
  return s("svg", { class: "graph", width: width + NODE_W, height, viewBox: `0 0 ${width + NODE_W} ${height}`, role: "img", "aria-label": "runnable graph" },
    s("defs", null, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))),
    edges, nodes);
}
