// One trace: header, tabs (timeline | architecture), span tree + timeline with
// the selected span's detail beside it. Refreshed live while the trace runs.
// The trace endpoint sends light span records; the detail panel fetches the
// selected span's full record (inputs, outputs, attributes, events).
import { api } from "./api.js";
import { renderArchitecture } from "./architecture.js";
import { h, link, replace } from "./dom.js";
import { count, kindClass, lostText, statusClass, statusText, timestamp, took } from "./format.js";
import { spanDetail } from "./detail.js";
import { poll } from "./poll.js";
import { ZOOM_MAX, renderWaterfall } from "./timeline.js";

/**
 * Whether a trace may still change: a span runs, or the trace has not ended and
 * none of its open spans is known to be orphaned (a failed trace still running
 * reports ERROR, so its status alone does not say).
 */
export function isLive(data) {
  if (data.trace.status === "RUNNING" || data.spans.some((s) => s.status === "RUNNING")) return true;
  return data.trace.end_ns === null && !data.spans.some((s) => s.status === "UNFINISHED");
}

function header(trace, live, onDelete) {
  return h("header", { class: "trace-head" },
    h("div", { class: "crumbs" }, link("/", { class: "back" }, "← traces")),
    h("h1", null,
      h("span", { class: "kind " + kindClass(trace.root_kind) }, trace.root_kind || "?"), " ",
      h("span", { class: "trace-name" }, trace.root_name || "(root not stored yet)")),
    h("div", { class: "trace-facts" },
      h("span", { class: "status " + statusClass(trace.status) }, statusText(trace.status)),
      lostText(trace) ? h("span", { class: "incomplete", title: "spans tracekit lost before they reached the store" }, lostText(trace)) : null,
      h("span", null, took(trace)),
      h("span", null, `${count(trace.span_count)} spans`),
      h("span", null, trace.total_tokens ? `${count(trace.total_tokens)} tokens` : "no tokens"),
      h("span", null, timestamp(trace.start_ns)),
      h("span", { class: "muted" }, "project ", trace.project),
      h("span", { class: "mono muted" }, trace.trace_id),
      // Deleting a trace a process still writes to would lose its last spans.
      live
        ? h("span", { class: "muted delete-note" }, "can be deleted once it has ended")
        : h("button", { type: "button", class: "danger delete", onclick: onDelete }, "Delete trace")));
}

/** Mount the trace view; returns a function that unmounts it. */
export function mountTrace(root, traceId, tab, { showError, query }) {
  const state = { collapsed: new Set(), selected: query.get("span"), zoom: 1 };
  let data = null;
  let stopped = false;
  const head = h("div");
  const main = h("div", { class: "trace-main" });
  const waterfall = h("div", { class: "waterfall-box" });
  const detail = h("aside", { class: "detail" }, h("p", { class: "muted" }, "Select a span to see its detail."));
  const tabs = h("nav", { class: "tabs" },
    link(`/trace/${traceId}`, { class: tab === "timeline" ? "tab active" : "tab", dataset: { tab: "timeline" } }, "Timeline"),
    link(`/trace/${traceId}/architecture`, { class: tab === "architecture" ? "tab active" : "tab", dataset: { tab: "architecture" } }, "Architecture"));
  replace(root, h("section", { class: "trace-view" }, head, tabs, main));

  const running = () => data !== null && isLive(data);
  const full = new Map(); // span id -> {version, record}: full records fetched for the detail

  function drawDetail() {
    const span = data && data.spans.find((s) => s.span_id === state.selected);
    if (!span) return;
    const version = `${span.status}|${span.end_ns}`; // a span changes only when it ends
    const cached = full.get(span.span_id);
    if (cached) replace(detail, spanDetail(cached.record, data.trace.start_ns));
    else replace(detail, spanDetail(span, data.trace.start_ns, { loading: true }));
    if (cached && cached.version === version) return;
    const spanId = span.span_id;
    api.span(traceId, spanId).then(
      (record) => {
        full.set(spanId, { version, record });
        if (!stopped && state.selected === spanId) replace(detail, spanDetail(record, data.trace.start_ns));
      },
      (err) => {
        if (!stopped && state.selected === spanId) {
          replace(detail, h("p", { class: "error-line" }, "cannot load this span: ", err.message));
        }
      },
    );
  }

  function draw() {
    renderWaterfall(waterfall, data.spans, running(), state, {
      select(spanId) {
        state.selected = spanId;
        history.replaceState(null, "", `#/trace/${encodeURIComponent(traceId)}?span=${encodeURIComponent(spanId)}`);
        // Only the highlight moves: no redraw of thousands of rows.
        for (const row of waterfall.querySelectorAll(".selected")) row.classList.remove("selected");
        for (const row of waterfall.querySelectorAll(`[data-span-id="${CSS.escape(spanId)}"]:not(.bar)`)) {
          row.classList.add("selected");
        }
        drawDetail();
      },
      toggle(spanId) {
        if (state.collapsed.has(spanId)) state.collapsed.delete(spanId);
        else state.collapsed.add(spanId);
        draw();
      },
      zoom(factor) {
        state.zoom = factor === 0 ? 1 : Math.min(ZOOM_MAX, Math.max(1, state.zoom * factor));
        draw();
      },
    });
    drawDetail();
    document.documentElement.dataset.rendered = "trace";
  }

  async function onDelete() {
    if (!window.confirm("Delete this trace from the store? This cannot be undone.")) return;
    try {
      await api.deleteTrace(data.trace.trace_id);
      window.location.hash = "#/";
    } catch (err) {
      showError(err.message);
    }
  }

  async function load() {
    try {
      data = await api.trace(traceId);
    } catch (err) {
      showError(err.message);
      return;
    }
    if (stopped) return;
    showError(null);
    replace(head, header(data.trace, running(), onDelete));
    if (tab === "timeline") {
      if (!main.firstChild) replace(main, waterfall, detail);
      draw();
    }
  }

  let stop = () => {};
  load().then(() => {
    if (stopped) return;
    if (tab === "architecture") renderArchitecture(main, traceId, showError);
    // Live while some span runs; a finished trace does not change.
    else if (running()) {
      stop = poll(async () => {
        await load();
        if (!running()) stop();
      });
    }
  });
  return () => {
    stopped = true;
    stop();
    delete document.documentElement.dataset.rendered;
  };
}
