// Structured rendering of traced values (inputs, outputs, attributes): JSON as
// a readable tree, chat messages as a conversation, tool calls spelled out,
// tool definitions (the tools offered to a model) with their JSON schema.
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

// Where a definition keeps its arguments' JSON schema: OpenAI and LangChain
// (parameters), Anthropic (input_schema), Bedrock (inputSchema.json).
const SCHEMA_KEYS = ["parameters", "input_schema", "inputSchema", "args_schema"];
// The keys under which a list is the tools offered to a model.
const TOOL_LIST_KEYS = ["tools", "functions"];

/**
 * A tool definition as {name, type, description, schema, extra}, else null.
 * Shapes: {type: "function", function: {name, description, parameters}} (OpenAI
 * chat), {type: "function", name, parameters} (Responses), {name, description,
 * parameters} (LangChain, OpenAI functions), {name, input_schema} (Anthropic),
 * {toolSpec: {...}} (Bedrock). Anything with arguments is a call, not a definition.
 * `loose` (a list under a "tools" key) also takes a bare {name} and a built-in
 * tool such as {type: "web_search"}.
 */
function toolDefinition(item, loose) {
  if (!isObject(item) || has(item, "arguments") || has(item, "args")) return null;
  const wrapper = isObject(item.function) ? "function" : isObject(item.toolSpec) ? "toolSpec" : null;
  const fn = wrapper ? item[wrapper] : item;
  if (has(fn, "arguments") || has(fn, "args")) return null;
  const schemaKey = SCHEMA_KEYS.find((key) => has(fn, key));
  const named = typeof fn.name === "string";
  if (!(named && (wrapper || schemaKey)) && !(loose && (named || typeof item.type === "string"))) return null;
  let schema = schemaKey ? fn[schemaKey] : undefined;
  if (schemaKey === "inputSchema" && isObject(schema) && isObject(schema.json)) schema = schema.json;
  const shown = new Set(["name", "description", "type", schemaKey]);
  const extra = Object.entries(fn).filter(([key]) => !shown.has(key));
  if (wrapper) extra.push(...Object.entries(item).filter(([key]) => key !== wrapper && key !== "type"));
  return {
    name: named ? fn.name : null,
    type: typeof item.type === "string" ? item.type : null,
    description: fn.description,
    schema,
    extra,
  };
}

/** The definitions of a list of tools, or null when it is not one. */
function toolDefinitions(value, loose) {
  if (!Array.isArray(value) || value.length === 0) return null;
  const found = [];
  for (const item of value) {
    // Gemini groups its definitions: {function_declarations: [...]}.
    const group = isObject(item) ? item.function_declarations || item.functionDeclarations : undefined;
    const defs = Array.isArray(group) ? group.map((d) => toolDefinition(d, loose)) : [toolDefinition(item, loose)];
    if (defs.length === 0 || defs.includes(null)) return null;
    found.push(...defs);
  }
  return found;
}

function schemaText(schema) {
  return typeof schema === "string" ? schema : JSON.stringify(schema, null, 2);
}

function toolOffered(def) {
  const kind = def.type && def.type !== "function" ? def.type : null;
  return h("div", { class: "tool-def" },
    h("div", { class: "tool-def-head" },
      h("span", { class: "tag" }, "tool"), " ",
      h("strong", { class: "tool-name" }, def.name ?? kind ?? "?"),
      kind && def.name ? h("span", { class: "muted" }, " " + kind) : null),
    typeof def.description === "string" && def.description
      ? h("div", { class: "text tool-description" }, def.description)
      : def.description !== undefined ? renderValue(def.description, 1) : null,
    def.schema !== undefined && def.schema !== null
      ? h("pre", { class: "tool-schema" }, schemaText(def.schema))
      : null,
    def.extra.length ? objectTable(def.extra, 1) : null);
}

/** The tools offered to a model, each with its name, description and JSON schema. */
function toolsOffered(defs) {
  return h("div", { class: "tool-defs" }, defs.map(toolOffered));
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

function entryValue(key, item, depth) {
  const defs = TOOL_LIST_KEYS.includes(key) ? toolDefinitions(item, true) : null;
  return defs ? toolsOffered(defs) : renderValue(item, depth + 1);
}

function objectTable(entries, depth) {
  return h("table", { class: "kv" },
    h("tbody", null, entries.map(([key, item]) =>
      h("tr", null, h("th", null, key), h("td", null, entryValue(key, item, depth))))));
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
    const defs = toolDefinitions(value, false);
    if (defs) return toolsOffered(defs);
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
