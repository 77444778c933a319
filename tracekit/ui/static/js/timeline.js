// The span tree and its timeline (waterfall), side by side: one row per span,
// a bar placed by start and end, coloured by kind. Collapsing a span hides its
// subtree; zooming widens the bar column, which scrolls sideways.
import { h, replace } from "./dom.js";
import { KINDS, duration, isTime, kindClass, statusClass, statusText, took } from "./format.js";

export const ZOOM_MAX = 256;

/**
 * Parent -> children and the roots, for light records in start order. The
 * server applies the tree's rules (tracekit/_record.py build_tree): a span whose
 * parent link loops back comes marked `cycle` and is a root; one whose parent
 * is not in the trace is a root too.
 */
export function spanTree(spans) {
  const byId = new Map(spans.map((s) => [s.span_id, s]));
  const children = new Map();
  const roots = [];
  for (const span of spans) {
    if (!span.cycle && span.parent_id && byId.has(span.parent_id)) {
      if (!children.has(span.parent_id)) children.set(span.parent_id, []);
      children.get(span.parent_id).push(span);
    } else {
      roots.push(span);
    }
  }
  return { byId, children, roots };
}

/** The visible spans in tree order with their depth (iterative: traces can nest deep). */
function visibleRows(tree, collapsed) {
  const rows = [];
  const seen = new Set();
  const stack = tree.roots.slice().reverse().map((span) => [span, 0]);
  while (stack.length) {
    const [span, depth] = stack.pop();
    if (seen.has(span.span_id)) continue; // a span id stored twice: show it once
    seen.add(span.span_id);
    rows.push([span, depth]);
    const kids = tree.children.get(span.span_id);
    if (kids && !collapsed.has(span.span_id)) {
      for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], depth + 1]);
    }
  }
  return rows;
}

/** The time window of a trace: first start to last end (now, while running); bad times skipped. */
export function timeWindow(spans, running) {
  let start = Infinity;
  let end = -Infinity;
  for (const s of spans) {
    if (!isTime(s.start_ns)) continue;
    start = Math.min(start, s.start_ns);
    end = Math.max(end, isTime(s.end_ns) ? s.end_ns : s.start_ns);
  }
  if (running) end = Math.max(end, Date.now() * 1e6);
  if (!Number.isFinite(start)) start = 0; // no span has a usable time
  if (!(end > start)) end = start + 1;
  return { start, end };
}

export function legend() {
  return h("div", { class: "legend" }, KINDS.map((k) =>
    h("span", { class: "legend-item" }, h("span", { class: "swatch " + kindClass(k) }), k)));
}

function axis(win, zoom) {
  const ticks = Math.min(5 * zoom, 400);
  const marks = [];
  for (let i = 0; i <= ticks; i++) {
    const tick = h("span", { class: "tick" }, duration(((win.end - win.start) * i) / ticks));
    tick.style.left = (100 * i) / ticks + "%";
    if (i === ticks) tick.classList.add("last");
    marks.push(tick);
  }
  return h("div", { class: "axis" }, marks);
}

/**
 * Render the waterfall of `spans` into `root`.
 * state: {collapsed: Set, selected: span id | null, zoom: number}
 * on: {select(spanId), toggle(spanId), zoom(factor)}
 */
export function renderWaterfall(root, spans, running, state, on) {
  const tree = spanTree(spans);
  const win = timeWindow(spans, running);
  const span_ = win.end - win.start;
  const rows = visibleRows(tree, state.collapsed);
  const labels = [];
  const tracks = [];
  for (const [span, depth] of rows) {
    const kids = tree.children.get(span.span_id);
    const selected = span.span_id === state.selected;
    const open = span.end_ns === null;
    const toggle = kids
      ? h("button", { type: "button", class: "toggle", "aria-label": "collapse or expand", dataset: { toggle: span.span_id } },
          state.collapsed.has(span.span_id) ? "▸" : "▾")
      : h("span", { class: "toggle-space" });
    const label = h("div", { class: "label-row" + (selected ? " selected" : ""), dataset: { spanId: span.span_id } },
      toggle,
      h("span", { class: "kind " + kindClass(span.kind) }, String(span.kind ?? "?")),
      h("span", { class: "name" }, String(span.name ?? "(no name)")),
      typeof span.model === "string" ? h("span", { class: "model-tag" }, span.model) : null,
      span.cycle
        ? h("span", { class: "cycle-tag", title: "its parent id names itself or a span below it: shown as a root" }, "parent loop")
        : null,
      state.collapsed.has(span.span_id) && kids ? h("span", { class: "muted" }, ` +${kids.length}`) : null,
      h("span", { class: "took " + statusClass(span.status) }, took(span)));
    label.style.paddingLeft = Math.min(depth, 40) * 14 + 4 + "px";
    labels.push(label);

    // A span without a usable start gets no bar; one with a bad end, a sliver.
    let bar = null;
    if (isTime(span.start_ns)) {
      const end = open ? win.end : isTime(span.end_ns) ? span.end_ns : span.start_ns;
      bar = h("div", {
        class: `bar ${kindClass(span.kind)} ${statusClass(span.status)}`,
        dataset: { spanId: span.span_id, kind: String(span.kind) },
      });
      bar.style.left = ((100 * (span.start_ns - win.start)) / span_).toFixed(4) + "%";
      bar.style.width = ((100 * Math.max(end - span.start_ns, 0)) / span_).toFixed(4) + "%";
    }
    tracks.push(h("div", { class: "track-row" + (selected ? " selected" : ""), dataset: { spanId: span.span_id } }, bar));
  }

  const tooltip = h("div", { class: "tooltip hidden", role: "tooltip" });
  const inner = h("div", { class: "tracks" }, axis(win, state.zoom), tracks);
  inner.style.width = state.zoom * 100 + "%";
  const scroller = h("div", { class: "tracks-scroll" }, inner);
  const body = h("div", { class: "waterfall", tabindex: "0", "aria-label": "spans: arrow keys move, left and right collapse" },
    h("div", { class: "labels" }, h("div", { class: "axis-space" }), labels),
    scroller,
    tooltip);

  body.addEventListener("click", (event) => {
    const toggleButton = event.target.closest("[data-toggle]");
    if (toggleButton) return on.toggle(toggleButton.dataset.toggle);
    const row = event.target.closest("[data-span-id]");
    if (row) on.select(row.dataset.spanId);
  });
  body.addEventListener("mouseover", (event) => {
    const bar = event.target.closest(".bar");
    if (!bar) return;
    const span = tree.byId.get(bar.dataset.spanId);
    replace(tooltip, h("strong", null, String(span.name)), ` ${String(span.kind)} · ${took(span)} · ${statusText(span.status)}`);
    tooltip.classList.remove("hidden");
  });
  body.addEventListener("mousemove", (event) => {
    tooltip.style.left = event.clientX + 12 + "px"; // position: fixed
    tooltip.style.top = event.clientY + 12 + "px";
  });
  body.addEventListener("mouseout", (event) => {
    if (event.target.closest(".bar")) tooltip.classList.add("hidden");
  });
  // Keyboard: up/down move the selection, left/right collapse and expand.
  body.addEventListener("keydown", (event) => {
    const rows = Array.from(body.querySelectorAll(".label-row"));
    const at = rows.findIndex((row) => row.dataset.spanId === state.selected);
    const id = at >= 0 ? rows[at].dataset.spanId : null;
    let next = null;
    if (event.key === "ArrowDown") next = rows[Math.min(at + 1, rows.length - 1)];
    else if (event.key === "ArrowUp") next = rows[Math.max(at - 1, 0)];
    else if (id && tree.children.has(id) && event.key === (state.collapsed.has(id) ? "ArrowRight" : "ArrowLeft")) {
      event.preventDefault();
      on.toggle(id);
      return;
    } else return;
    event.preventDefault();
    if (next) {
      on.select(next.dataset.spanId);
      next.scrollIntoView({ block: "nearest" });
    }
  });
  scroller.addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return; // ctrl + wheel zooms; plain wheel scrolls
    event.preventDefault();
    on.zoom(event.deltaY < 0 ? 2 : 0.5);
  }, { passive: false });

  const toolbar = h("div", { class: "toolbar" },
    h("button", { type: "button", class: "zoom-out", title: "zoom out", onclick: () => on.zoom(0.5) }, "−"),
    h("span", { class: "zoom-level" }, `${state.zoom}×`),
    h("button", { type: "button", class: "zoom-in", title: "zoom in (or ctrl + wheel)", onclick: () => on.zoom(2) }, "+"),
    h("button", { type: "button", class: "zoom-fit", onclick: () => on.zoom(0) }, "fit"),
    h("span", { class: "muted" }, `${spans.length} spans · ${duration(span_)}`),
    legend());
  const previousScroll = root.querySelector(".tracks-scroll");
  const left = previousScroll ? previousScroll.scrollLeft : 0;
  const previous = root.querySelector(".waterfall");
  const top = previous ? previous.scrollTop : 0;
  const focused = previous !== null && previous === document.activeElement;
  replace(root, toolbar, body);
  scroller.scrollLeft = left;
  body.scrollTop = top;
  if (focused) body.focus({ preventScroll: true });
  return { scroller };
}
