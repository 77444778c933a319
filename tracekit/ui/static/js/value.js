// Structured rendering of traced values (inputs, outputs, attributes): JSON as
// a readable tree, chat messages as a conversation, tool calls spelled out.
// Every string is a text node: markup, markdown and URLs in data stay inert.
import { h } from "./dom.js";

const ROLES = { user: "user", human: "user", assistant: "assistant", ai: "assistant", system: "system", tool: "tool", function: "tool", developer: "system" };
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

/** The chat role of a message-shaped object (OpenAI or LangChain), else null. */
export function messageRole(value) {
  if (!isObject(value) || !(has(value, "content") || has(value, "tool_calls"))) return null;
  const role = typeof value.role === "string" ? value.role : typeof value.type === "string" ? value.type : null;
  if (role === null) return null;
  return has(ROLES, role.toLowerCase()) ? ROLES[role.toLowerCase()] : "other";
}

/** Whether `value` is a list of chat messages. */
export function isConversation(value) {
  return Array.isArray(value) && value.length > 0 && value.every((m) => messageRole(m) !== null);
}

function parseArguments(text) {
  if (typeof text !== "string") return text;
  try {
    return JSON.parse(text);
  } catch (err) {
    return text;
  }
}

function toolCall(call) {
  const fn = isObject(call) && isObject(call.function) ? call.function : call;
  const name = isObject(fn) ? fn.name : null;
  const args = isObject(fn) ? (has(fn, "arguments") ? fn.arguments : fn.args) : call;
  return h("div", { class: "tool-call" },
    h("div", { class: "tool-call-head" },
      h("span", { class: "tag" }, "tool call"), " ",
      h("strong", null, typeof name === "string" ? name : "?"),
      isObject(call) && typeof call.id === "string" ? h("span", { class: "muted" }, " " + call.id) : null),
    renderValue(parseArguments(args), 1));
}

function contentPart(part) {
  if (typeof part === "string") return h("div", { class: "text" }, part);
  if (isObject(part) && part.type === "text" && typeof part.text === "string") {
    return h("div", { class: "text" }, part.text);
  }
  if (isObject(part) && (part.type === "image_url" || part.type === "input_image")) {
    // Shown as text: the UI never loads what a trace points at.
    const url = isObject(part.image_url) ? part.image_url.url : part.image_url || part.url;
    return h("div", { class: "muted" }, "[image] ", String(url === undefined ? "" : url));
  }
  return renderValue(part, 1);
}

/** One chat message. */
export function message(value) {
  const role = messageRole(value) || "other";
  const label = typeof value.role === "string" ? value.role : String(value.type);
  const parts = [];
  if (typeof value.content === "string") parts.push(h("div", { class: "text" }, value.content));
  else if (Array.isArray(value.content)) parts.push(...value.content.map(contentPart));
  else if (value.content !== null && value.content !== undefined) parts.push(renderValue(value.content, 1));
  const calls = Array.isArray(value.tool_calls) ? value.tool_calls : [];
  const extra = [];
  for (const [key, item] of Object.entries(value)) {
    if (!["role", "type", "content", "tool_calls", "name", "tool_call_id", "__type__", "id"].includes(key)) {
      extra.push([key, item]);
    }
  }
  return h("div", { class: "message role-" + role },
    h("div", { class: "message-head" },
      h("span", { class: "role" }, label),
      typeof value.name === "string" ? h("span", { class: "muted" }, " " + value.name) : null,
      typeof value.tool_call_id === "string" ? h("span", { class: "muted" }, " result of " + value.tool_call_id) : null),
    parts,
    calls.map(toolCall),
    extra.length ? objectTable(extra, 1) : null);
}

/** A list of chat messages as a conversation. */
export function conversation(messages) {
  return h("div", { class: "conversation" }, messages.map(message));
}

function objectTable(entries, depth) {
  return h("table", { class: "kv" },
    h("tbody", null, entries.map(([key, item]) =>
      h("tr", null, h("th", null, key), h("td", null, renderValue(item, depth + 1))))));
}

function collapsible(summary, body, depth) {
  const details = h("details", null, h("summary", null, summary), body);
  details.open = depth < 3;
  return details;
}

/** Any JSON value as DOM. */
export function renderValue(value, depth = 0) {
  if (value === null || value === undefined) return h("span", { class: "null" }, "null");
  if (typeof value === "string") {
    return h(value.length > 80 || value.includes("\n") ? "div" : "span", { class: "str" }, value);
  }
  if (typeof value !== "object") return h("span", { class: "scalar" }, String(value));
  if (messageRole(value) !== null) return conversation([value]);
  if (isConversation(value)) return conversation(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return h("span", { class: "null" }, "[]");
    if (value.every((v) => isObject(v) && (isObject(v.function) || has(v, "arguments")))) {
      return h("div", null, value.map(toolCall));
    }
    const list = h("ol", { class: "list", start: "0" }, value.map((v) => h("li", null, renderValue(v, depth + 1))));
    return depth === 0 ? list : collapsible(`[${value.length} ${value.length === 1 ? "item" : "items"}]`, list, depth);
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return h("span", { class: "null" }, "{}");
  const table = objectTable(entries, depth);
  return depth === 0 ? table : collapsible(`{${entries.length} ${entries.length === 1 ? "key" : "keys"}}`, table, depth);
}
