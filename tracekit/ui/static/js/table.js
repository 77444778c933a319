// The trace table: filters, search, cursor pagination, live refresh.
import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { KINDS, count, kindClass, preview, timestamp, took } from "./format.js";
import { poll } from "./poll.js";

const PAGE = 50;
const RANGES = [
  ["", "any time"],
  ["15m", "last 15 minutes"],
  ["1h", "last hour"],
  ["24h", "last 24 hours"],
  ["7d", "last 7 days"],
];
const FILTERS = ["q", "status", "kind", "project", "since", "sort"];
const SORTS = [
  ["", "newest first"],
  ["duration", "longest first"],
  ["tokens", "most tokens first"],
  ["spans", "most spans first"],
];

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
    h("td", null, h("span", { class: "status " + "status-" + trace.status }, trace.status)),
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
  let generation = 0;

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
  const form = h(
    "form",
    { class: "filters", onsubmit: (e) => e.preventDefault() },
    search,
    select("status", "Status", [["", "any status"], ["OK", "OK"], ["ERROR", "error"], ["RUNNING", "running or unfinished"]], filters.status),
    select("kind", "Kind", [["", "any kind"], ...KINDS.map((k) => [k, k])], filters.kind),
    projects,
    select("since", "Time range", RANGES, filters.since),
    select("sort", "Sort", SORTS, filters.sort),
  );

  function params(extra) {
    return { ...filters, ...extra };
  }

  function render() {
    replace(tbody, rows.map(row));
    more.classList.toggle("hidden", !cursor);
    empty.classList.toggle("hidden", rows.length > 0);
  }

  // (Re)load from the top, as many rows as are shown (so a refresh keeps "load more" pages).
  async function load(limit = PAGE) {
    const mine = ++generation;
    try {
      const page = await api.traces(params({ limit: Math.min(Math.max(limit, PAGE), 1000) }));
      if (mine !== generation) return; // a newer request superseded this one
      rows = page.traces;
      cursor = page.next_cursor;
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
      rows = rows.concat(page.traces);
      cursor = page.next_cursor;
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
  const stop = poll(() => load(rows.length));
  return () => {
    stop();
    window.clearTimeout(debounce);
    generation++;
  };
}
