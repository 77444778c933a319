// The JSON API (documented in docs/ui.md). Every call is same-origin.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, params) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  let response;
  try {
    response = await fetch(url, { method, headers: { Accept: "application/json" } });
  } catch (err) {
    throw new ApiError("the tracekit ui server is not answering (was it stopped?)", 0);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) {
    const message = body && typeof body.error === "string" ? body.error : response.statusText;
    throw new ApiError(message, response.status);
  }
  return body;
}

const id = (traceId) => encodeURIComponent(traceId);

export const api = {
  info: () => call("GET", "/api/info"),
  projects: () => call("GET", "/api/projects"),
  traces: (params) => call("GET", "/api/traces", params),
  trace: (traceId) => call("GET", `/api/traces/${id(traceId)}`),
  span: (traceId, spanId) => call("GET", `/api/traces/${id(traceId)}/spans/${id(spanId)}`),
  architecture: (traceId) => call("GET", `/api/traces/${id(traceId)}/architecture`),
  deleteTrace: (traceId) => call("DELETE", `/api/traces/${id(traceId)}`),
};
