// The span detail panel: what one span received, returned and recorded.
import { h } from "./dom.js";
import { count, duration, isTime, kindClass, statusClass, statusText, took } from "./format.js";
import { renderValue } from "./value.js";

function section(title, ...body) {
  return h("section", { class: "detail-section", dataset: { section: title.toLowerCase() } }, h("h3", null, title), ...body);
}

const isEmpty = (v) => v === null || v === undefined || (typeof v === "object" && Object.keys(v).length === 0);

/**
 * The detail panel for `span` (a span record) of a trace that starts at `traceStart`.
 * With `loading`, `span` is the light record and its payloads are on their way.
 */
export function spanDetail(span, traceStart, { loading = false } = {}) {
  const attributes = span.attributes && typeof span.attributes === "object" ? span.attributes : {};
  const usage = span.usage && typeof span.usage === "object" ? span.usage : null;
  const parts = [
    h("header", { class: "detail-head" },
      h("span", { class: "kind " + kindClass(span.kind) }, String(span.kind ?? "?")),
      h("h2", { class: "detail-name" }, String(span.name ?? "(no name)")),
      h("span", { class: "status " + statusClass(span.status) }, statusText(span.status))),
    h("table", { class: "kv facts" }, h("tbody", null,
      h("tr", null, h("th", null, "duration"), h("td", null, took(span))),
      h("tr", null, h("th", null, "starts at"), h("td", null, isTime(span.start_ns) ? "+" + duration(span.start_ns - traceStart) : "?")),
      h("tr", null, h("th", null, "span id"), h("td", { class: "mono" }, span.span_id)),
      h("tr", null, h("th", null, "parent id"), h("td", { class: "mono" }, span.parent_id || "none (root)")),
      span.status === "UNFINISHED"
        ? h("tr", null, h("th", null, "note"), h("td", null, "the process that ran this span is gone: it never ended"))
        : null)),
  ];
  if (span.error) {
    // Recorded as {type, message, stack}; anything else is shown as it is.
    const error = span.error && typeof span.error === "object" ? span.error : { message: span.error };
    parts.push(section("Error",
      h("p", { class: "error-line" }, h("strong", null, String(error.type || "Error")), ": ", String(error.message ?? "")),
      error.stack ? h("pre", { class: "stack" }, String(error.stack)) : null));
  }
  if (span.model || attributes.model_parameters) {
    const model = typeof span.model === "string" ? span.model : span.model ? renderValue(span.model) : "(model not recorded)";
    parts.push(section("Model",
      h("p", null, h("strong", { class: "model" }, model)),
      attributes.model_parameters ? renderValue(attributes.model_parameters) : null));
  }
  if (usage) {
    parts.push(section("Usage", h("table", { class: "kv usage" }, h("tbody", null,
      Object.entries(usage).map(([k, v]) => h("tr", null, h("th", null, k), h("td", { class: "num" }, typeof v === "number" ? count(v) : renderValue(v))))))));
  }
  if (loading) {
    parts.push(h("p", { class: "muted loading" }, "loading inputs and outputs…"));
    return h("div", { class: "span-detail-loading", dataset: { spanId: span.span_id } }, parts);
  }
  parts.push(section("Inputs", isEmpty(span.inputs) ? h("p", { class: "muted" }, "none recorded") : renderValue(span.inputs)));
  if (span.end_ns === null) {
    parts.push(section("Outputs", h("p", { class: "muted" }, span.status === "UNFINISHED" ? "none: the span never ended" : "none yet: still running")));
  } else {
    parts.push(section("Outputs", isEmpty(span.outputs) ? h("p", { class: "muted" }, "none recorded") : renderValue(span.outputs)));
  }
  if (!isEmpty(attributes)) parts.push(section("Attributes", renderValue(attributes)));
  if (Array.isArray(span.events) && span.events.length) {
    parts.push(section("Events", h("ol", { class: "events" }, span.events.map((event) => {
      const when = event && typeof event.time_ns === "number" ? "+" + duration(event.time_ns - traceStart) : "";
      return h("li", null,
        h("div", { class: "event-head" }, h("strong", null, String(event && event.name)), " ", h("span", { class: "muted" }, when)),
        event && !isEmpty(event.attributes) ? renderValue(event.attributes, 1) : null);
    }))));
  }
  return h("div", { class: "span-detail", dataset: { spanId: span.span_id } }, parts);
}
