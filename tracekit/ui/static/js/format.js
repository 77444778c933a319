// Formatting of times, durations and numbers for display.

export const KINDS = ["AGENT", "CHAIN", "LLM", "TOOL", "RETRIEVER", "EMBEDDING"];

/** The CSS class for a span kind; unknown kinds share one class. */
export function kindClass(kind) {
  return "kind-" + (KINDS.includes(kind) ? kind : "OTHER");
}

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
  if (item.end_ns === null || item.end_ns === undefined) {
    return item.status === "UNFINISHED" ? "unfinished" : "running";
  }
  return duration(item.end_ns - item.start_ns);
}
