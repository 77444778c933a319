// Entry point: hash routes to views, the banner, the header.
//   #/                  the trace table (filters in the route's query)
//   #/trace/<id>        one trace: span tree + timeline, span detail
//   #/trace/<id>/architecture   the trace's model architecture
import { api } from "./api.js";
import { h, link, replace } from "./dom.js";
import { mountTable } from "./table.js";
import { mountTrace } from "./trace.js";

const view = document.getElementById("view");
const banner = document.getElementById("banner");
let dispose = () => {};

/** Show a message above the view (or hide it with null). */
export function showError(message) {
  banner.classList.toggle("hidden", !message);
  replace(banner, message || "");
}

function parseRoute() {
  const [path, query = ""] = window.location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

function route() {
  dispose();
  dispose = () => {};
  showError(null);
  let parsed;
  try {
    parsed = parseRoute();
  } catch (err) {
    // A mangled link (bad percent-encoding): say so rather than show nothing.
    showError("This link is malformed: it does not name a trace or a view.");
    replace(view, h("p", null, link("/", null, "← all traces")));
    return;
  }
  const { parts, query } = parsed;
  const context = { showError, query };
  if (parts[0] === "trace" && parts[1]) {
    dispose = mountTrace(view, parts[1], parts[2] === "architecture" ? "architecture" : "timeline", context);
  } else {
    dispose = mountTable(view, context);
  }
}

window.addEventListener("hashchange", route);
api
  .info()
  .then((info) => {
    document.getElementById("db-path").textContent = info.db;
  })
  .catch((err) => showError(err.message));
route();
