// The trace table: filters, search, a time range, cursor pagination, live refresh.
import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { KINDS, count, kindClass, lostText, preview, statusClass, statusText, timestamp, took } from "./format.js";
import { poll } from "./poll.js";

const PAGE = 50;
// Quick choices for the start of the range ("that long ago"); from/to give any range.
const RANGES = [
  ["", "any time"],
  ["15m", "last 15 minutes"],
  ["1h", "last hour"],
  ["24h", "last 24 hours"],
  ["7d", "last 7 days"],
];
const FILTERS = ["q", "status", "kind", "project", "since", "from", "to", "sort"];
const SORTS = [
  ["", "newest first"],
  ["duration", "longest first"],
  ["tokens", "most tokens first"],
  ["spans", "most spans first"],
];

/** Unix nanoseconds (as digits, exact) for a datetime-local value in the browser's time zone. */
export function localToNs(value) {
  const ms = new Date(value).getTime();
  if (!Number.isFinite(ms)) return null;
  return ms >= 0 ? String(BigInt(ms) * 1000000n) : null;
}

/** The order the server sorts by (descending), for merging a refreshed first page. */
function sortKey(sort, trace) {
  if (sort === "tokens") return Number(trace.total_tokens) || 0;
  if (sort === "spans") return Number(trace.span_count) || 0;
  if (sort === "duration") return Number(trace.duration_ns) || 0;
  return Number(trace.start_ns) || 0;
}

function select(name, label, options, value) {
  return h(
    "select",
    { name, "aria-label": label, "data-filter": name },
    options.map(([v, text]) => {
      const option = h("option", { value: v }, text);
      option.selected = v === value;
      return option;
    }),
  );
}

function row(trace) {
  const open = () => {
    window.location.hash = "#/trace/" + encodeURIComponent(trace.trace_id);
  };
  return h(
    "tr",
    {
      class: "trace-row",
      tabindex: "0",
      dataset: { traceId: trace.trace_id },
      onclick: open,
      onkeydown: (e) => e.key === "Enter" && open(),
    },
    h("td", { class: "root" },
      h("span", { class: "kind " + kindClass(trace.root_kind) }, trace.root_kind || "?"),
      h("span", { class: "name" }, trace.root_name || "(root not stored yet)")),
    h("td", { class: "start" }, timestamp(trace.start_ns)),
    h("td", { class: "num" }, took(trace)),
    h("td", null,
      h("span", { class: "status " + statusClass(trace.status) }, statusText(trace.status)),
      // a trace missing spans is never shown as whole (D110)
      lostText(trace) ? h("span", { class: "incomplete", title: "spans tracekit lost before they reached the store" }, lostText(trace)) : null),
    h("td", { class: "num" }, count(trace.span_count)),
    h("td", { class: "num" }, trace.total_tokens ? count(trace.total_tokens) : "–"),
    h("td", { class: "preview", title: preview(trace.input_preview, 200) }, preview(trace.input_preview)),
    h("td", { class: "preview", title: preview(trace.output_preview, 200) }, preview(trace.output_preview)),
  );
}

/** Mount the table in `root`; returns a function that unmounts it. */
export function mountTable(root, { showError, query }) {
  const filters = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) || ""]));
  let rows = [];
  let cursor = null;
  let pages = 0; // pages shown beyond the first ("Load more")
  let generation = 0;
  let drawn = new Map(); // trace id -> {json, tr}: rows kept as they are while unchanged

  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "more hidden" }, "Load more");
  const empty = h("p", { class: "empty hidden" }, "No traces match.");
  const search = h("input", {
    type: "search",
    name: "q",
    placeholder: "Search names, inputs and outputs",
    "aria-label": "Search",
    "data-filter": "q",
  });
  search.value = filters.q;
  const projects = select("project", "Project", [["", "all projects"]], filters.project);
  const quick = select("since", "Time range", RANGES, filters.since);
  const from = h("input", { type: "datetime-local", step: "1", name: "from", "aria-label": "From", title: "started at or after", "data-filter": "from" });
  const to = h("input", { type: "datetime-local", step: "1", name: "to", "aria-label": "To", title: "started before", "data-filter": "to" });
  from.value = filters.from;
  to.value = filters.to;
  const form = h(
    "form",
    { class: "filters", onsubmit: (e) => e.preventDefault() },
    search,
    select("status", "Status", [["", "any status"], ["OK", "OK"], ["ERROR", "error"], ["RUNNING", "running or unfinished"]], filters.status),
    select("kind", "Kind", [["", "any kind"], ...KINDS.map((k) => [k, k])], filters.kind),
    projects,
    quick,
    h("label", { class: "range" }, "from ", from),
    h("label", { class: "range" }, "to ", to),
    select("sort", "Sort", SORTS, filters.sort),
  );

  function params(extra) {
    const { from: start, to: end, since, ...rest } = filters;
    return {
      ...rest,
      since: start ? localToNs(start) : since,
      until: end ? localToNs(end) : "",
      ...extra,
    };
  }

  // Patch the rows in place: an unchanged row keeps its element, so focus and a
  // text selection inside it survive a refresh.
  function render() {
    const next = new Map();
    const wanted = rows.map((trace) => {
      const json = JSON.stringify(trace);
      const old = drawn.get(trace.trace_id);
      const tr = old && old.json === json ? old.tr : row(trace);
      next.set(trace.trace_id, { json, tr });
      return tr;
    });
    const keep = new Set(wanted);
    const focused = document.activeElement;
    const focusedId = focused && tbody.contains(focused) ? focused.closest("tr").dataset.traceId : null;
    for (const child of Array.from(tbody.children)) if (!keep.has(child)) child.remove();
    wanted.forEach((tr, i) => {
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    drawn = next;
    // A focused row whose data changed was replaced: the new one takes the focus.
    const refocus = focusedId !== null && drawn.get(focusedId);
    if (refocus && document.activeElement !== focused) refocus.tr.focus({ preventScroll: true });
    more.classList.toggle("hidden", !cursor);
    empty.classList.toggle("hidden", rows.length > 0);
  }

  // From the top: the first page (filters changed, or a live refresh).
  async function load({ refresh = false } = {}) {
    const mine = ++generation;
    try {
      const page = await api.traces(params({ limit: PAGE }));
      if (mine !== generation) return; // a newer request superseded this one
      if (refresh && pages > 0) {
        // Later pages stay as loaded (and the cursor after them): the fresh first
        // page replaces the rows that sort before its last one.
        const fresh = new Set(page.traces.map((t) => t.trace_id));
        const last = page.traces[page.traces.length - 1];
        const after = (t) => {
          if (!last) return true;
          const a = sortKey(filters.sort, t);
          const b = sortKey(filters.sort, last);
          return a < b || (a === b && t.trace_id < last.trace_id);
        };
        rows = page.traces.concat(rows.filter((t) => !fresh.has(t.trace_id) && after(t)));
      } else {
        rows = page.traces;
        cursor = page.next_cursor;
        pages = 0;
      }
      showError(null);
      render();
    } catch (err) {
      showError(err.message);
    }
  }

  more.addEventListener("click", async () => {
    const mine = ++generation;
    try {
      const page = await api.traces(params({ limit: PAGE, cursor }));
      if (mine !== generation) return;
      const shown = new Set(rows.map((t) => t.trace_id));
      rows = rows.concat(page.traces.filter((t) => !shown.has(t.trace_id)));
      cursor = page.next_cursor;
      pages++;
      render();
    } catch (err) {
      showError(err.message);
    }
  });

  let debounce = null;
  function changed(event) {
    const name = event.target.dataset.filter;
    if (!name) return;
    filters[name] = event.target.value;
    // A quick choice and an explicit range exclude each other.
    if (name === "since" && filters.since) {
      filters.from = filters.to = from.value = to.value = "";
    } else if ((name === "from" || name === "to") && filters[name]) {
      filters.since = quick.value = "";
    }
    const kept = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    history.replaceState(null, "", "#/" + (kept.toString() ? "?" + kept : ""));
    window.clearTimeout(debounce);
    debounce = window.setTimeout(() => load(), name === "q" ? 250 : 0);
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);

  replace(
    root,
    h("section", { class: "table-view" },
      form,
      h("table", { class: "traces" },
        h("thead", null, h("tr", null,
          ["Root", "Started", "Duration", "Status", "Spans", "Tokens", "Input", "Output"].map((t) => h("th", null, t)))),
        tbody),
      empty,
      more),
  );

  api
    .projects()
    .then(({ projects: names }) => {
      for (const name of names) {
        const option = h("option", { value: name }, name);
        option.selected = name === filters.project;
        projects.appendChild(option);
      }
    })
    .catch(() => {});
  load();
  const stop = poll(() => load({ refresh: true }));
  return () => {
    stop();
    window.clearTimeout(debounce);
    generation++;
  };
}
