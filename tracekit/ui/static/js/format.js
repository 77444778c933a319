// Formatting of times, durations and numbers for display.

export const KINDS = ["AGENT", "CHAIN", "LLM", "TOOL", "RETRIEVER", "EMBEDDING"];

/** The CSS class for a span kind; unknown kinds share one class. */
export function kindClass(kind) {
  return "kind-" + (KINDS.includes(kind) ? kind : "OTHER");
}

export const STATUSES = ["OK", "ERROR", "RUNNING", "UNFINISHED"];

/** The CSS class for a record's status; anything else (a record is data) shares one class. */
export function statusClass(status) {
  return "status-" + (STATUSES.includes(status) ? status : "OTHER");
}

/** A status for display: records are data, so it may be anything. */
export function statusText(status) {
  return typeof status === "string" && status ? status : "?";
}

/** "incomplete · 3 spans lost" for a trace tracekit lost spans of, else "" (D110). */
export function lostText(trace) {
  const n = Number(trace.lost_count) || 0;
  if (n <= 0) return "";
  return `incomplete · ${count(n)} ${n === 1 ? "span" : "spans"} lost`;
}

/** Whether `ns` is a usable instant (records are data: a time may be a string or missing). */
export const isTime = (ns) => typeof ns === "number" && Number.isFinite(ns);

/** "1.2 s", "35 ms", "410 µs" for nanoseconds. */
export function duration(ns) {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return "";
  const abs = Math.abs(ns);
  if (abs >= 60e9) {
    const minutes = Math.floor(ns / 60e9);
    return `${minutes} min ${Math.round((ns - minutes * 60e9) / 1e9)} s`;
  }
  if (abs >= 1e9) return `${(ns / 1e9).toFixed(abs >= 10e9 ? 1 : 2)} s`;
  if (abs >= 1e6) return `${(ns / 1e6).toFixed(abs >= 100e6 ? 0 : 1)} ms`;
  if (abs >= 1e3) return `${Math.round(ns / 1e3)} µs`;
  return `${Math.round(ns)} ns`;
}

/** Local date and time of a Unix-nanosecond instant. */
export function timestamp(ns) {
  if (!isTime(ns)) return "?";
  const d = new Date(ns / 1e6);
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** Thousands separators. */
export function count(n) {
  return n === null || n === undefined ? "" : Number(n).toLocaleString("en-US");
}

/** At most `limit` characters of `text`, on one line. */
export function preview(text, limit = 80) {
  if (text === null || text === undefined) return "";
  const flat = String(text).replace(/\s+/g, " ").trim();
  return flat.length > limit ? flat.slice(0, limit - 1) + "…" : flat;
}

/** How long a trace or span took, or how it stands while open. */
export function took(item) {
  if (item.end_ns === null) {
    return item.status === "UNFINISHED" ? "unfinished" : "running";
  }
  if (!isTime(item.start_ns) || !isTime(item.end_ns)) return "bad times";
  if (item.end_ns < item.start_ns) return "ends before it starts";
  return duration(item.end_ns - item.start_ns);
}
