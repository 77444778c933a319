// Structured rendering of traced values (inputs, outputs, attributes): JSON as
// a readable tree, chat messages as a conversation, tool calls spelled out,
// tool definitions (the tools offered to a model) with their JSON schema.
// Every string is a text node: markup, markdown and URLs in data stay inert.
import { h } from "./dom.js";

const ROLES = { user: "user", human: "user", assistant: "assistant", ai: "assistant", system: "system", tool: "tool", function: "tool", developer: "system" };
// How a LangChain chunk type stored as a role ("AIMessageChunk", by traces
// recorded before the adapter mapped chunks) reads: the role of its message.
const CHUNK = "messagechunk";
const CHUNK_LABELS = { human: "user", ai: "assistant" };
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

/** A stored role with a "...MessageChunk" suffix as the prefix's key ("ai"), else lower-cased. */
function roleKey(role) {
  const key = role.toLowerCase();
  return key.endsWith(CHUNK) && key.length > CHUNK.length ? key.slice(0, -CHUNK.length) : key;
}

/** The role as shown: the stored one, except a chunk type, which reads as its role. */
function roleLabel(role) {
  if (!role.toLowerCase().endsWith(CHUNK) || role.length === CHUNK.length) return role;
  const key = roleKey(role);
  return has(CHUNK_LABELS, key) ? CHUNK_LABELS[key] : key;
}

/** The chat role of a message-shaped object (OpenAI or LangChain), else null. */
export function messageRole(value) {
  if (!isObject(value) || !(has(value, "content") || has(value, "tool_calls"))) return null;
  const role = typeof value.role === "string" ? value.role : typeof value.type === "string" ? value.type : null;
  if (role === null) return null;
  const key = roleKey(role);
  return has(ROLES, key) ? ROLES[key] : "other";
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

// Where a call keeps its arguments: OpenAI (arguments, a JSON string),
// LangChain (args), Anthropic's tool_use (input).
const ARGUMENT_KEYS = ["arguments", "args", "input"];
// The keys that make an item a call by themselves ("input" only with a call type).
const CALL_KEYS = ["arguments", "args"];
// Where a definition keeps its arguments' JSON schema: OpenAI and LangChain
// (parameters), Anthropic (input_schema), Bedrock (inputSchema.json).
const SCHEMA_KEYS = ["parameters", "input_schema", "inputSchema", "args_schema"];
// The keys under which a list is the tools offered to a model.
const TOOL_LIST_KEYS = ["tools", "functions"];
// Item types that are calls: Anthropic's tool_use and server_tool_use, the
// Responses API's function_call, web_search_call, ...
const isCallType = (type) => typeof type === "string" && /_(use|call)$/.test(type);
const wrapperOf = (item) => (isObject(item.function) ? "function" : isObject(item.toolSpec) ? "toolSpec" : null);
const declarationsOf = (item) => {
  const found = isObject(item) ? item.function_declarations ?? item.functionDeclarations : undefined;
  return Array.isArray(found) ? found : null;
};

/**
 * Whether `item` (in a list of tools) is a call: a call type (tool_use,
 * function_call, ...), arguments, or a named function with an id and no schema.
 */
function isToolCall(item) {
  if (!isObject(item)) return false;
  if (isCallType(item.type)) return true;
  const wrapper = wrapperOf(item);
  const fn = wrapper ? item[wrapper] : item;
  if (CALL_KEYS.some((key) => has(item, key) || has(fn, key))) return true;
  const identified = has(item, "id") || has(item, "call_id");
  return identified && (wrapper !== null || has(fn, "name")) && !SCHEMA_KEYS.some((key) => has(fn, key));
}

/** Whether a list item outside a tool list is a call (the shapes a model answers with). */
const looksLikeCall = (v) => isObject(v) && (isObject(v.function) || has(v, "arguments") || isCallType(v.type));

/** `entries` of `obj` whose keys are not in `shown`, each key prefixed with `prefix`. */
function unshown(obj, shown, prefix = "") {
  return Object.entries(obj).filter(([key]) => !shown.has(key)).map(([key, v]) => [prefix + key, v]);
}

/** One tool call, with every field it has: the ones not in its head are listed below it. */
function toolCall(call) {
  if (!isObject(call)) {
    return h("div", { class: "tool-call" },
      h("div", { class: "tool-call-head" }, h("span", { class: "tag" }, "tool call")),
      renderValue(parseArguments(call), 1));
  }
  const wrapper = isObject(call.function) ? "function" : null;
  const fn = wrapper ? call.function : call;
  const argKey = ARGUMENT_KEYS.find((key) => has(fn, key));
  const named = typeof fn.name === "string";
  const id = typeof call.id === "string" ? call.id : null;
  const type = typeof call.type === "string" ? call.type : null;
  const typeShown = type !== null && !(wrapper && type === "function");
  const shownFn = new Set([argKey, named ? "name" : null]);
  const shownCall = new Set([wrapper, id !== null ? "id" : null, type !== null ? "type" : null]);
  const extra = wrapper
    ? [...unshown(call, shownCall), ...unshown(fn, shownFn, "function.")]
    : unshown(call, new Set([...shownFn, ...shownCall]));
  return h("div", { class: "tool-call" },
    h("div", { class: "tool-call-head" },
      h("span", { class: "tag" }, "tool call"), " ",
      h("strong", { class: "tool-name" }, named ? fn.name : "?"),
      id !== null ? h("span", { class: "muted" }, " " + id) : null,
      typeShown ? h("span", { class: "muted" }, " " + type) : null),
    argKey !== undefined ? renderValue(parseArguments(fn[argKey]), 1) : null,
    extra.length ? objectTable(extra, 1) : null);
}

/**
 * A tool definition as {name, type, description, schema, extra}, else null.
 * Shapes: {type: "function", function: {name, description, parameters}} (OpenAI
 * chat), {type: "function", name, parameters} (Responses), {name, description,
 * parameters} (LangChain, OpenAI functions), {name, input_schema} (Anthropic),
 * {toolSpec: {...}} (Bedrock). A call (see isToolCall) is not a definition.
 * `loose` (a list under a "tools" key) also takes a bare {name} and a built-in
 * tool such as {type: "web_search"}. No field is dropped: what the head does
 * not show (a name that is not a string, the wrapper's fields) is in `extra`.
 */
function toolDefinition(item, loose) {
  if (!isObject(item) || isToolCall(item) || declarationsOf(item)) return null;
  const wrapper = wrapperOf(item);
  const fn = wrapper ? item[wrapper] : item;
  const schemaKey = SCHEMA_KEYS.find((key) => has(fn, key));
  const named = typeof fn.name === "string";
  const strict = (has(fn, "name") && (wrapper || schemaKey)) || (wrapper && schemaKey);
  if (!strict && !(loose && (has(fn, "name") || typeof item.type === "string"))) return null;
  let schema = schemaKey ? fn[schemaKey] : undefined;
  if (schemaKey === "inputSchema" && isObject(schema) && isObject(schema.json) && Object.keys(schema).length === 1) {
    schema = schema.json;
  }
  const type = typeof item.type === "string" ? item.type : null;
  const shownFn = new Set([named ? "name" : null, "description", schemaKey]);
  const shownItem = new Set([wrapper, type !== null ? "type" : null]);
  const extra = wrapper
    ? [...unshown(fn, shownFn, wrapper + "."), ...unshown(item, shownItem)]
    : unshown(fn, new Set([...shownFn, ...shownItem]));
  return {
    name: named ? fn.name : null,
    type,
    description: has(fn, "description") ? fn.description : undefined,
    schema,
    extra,
  };
}

/** What an item of a tool list is: "group" (Gemini's), "call", "def", or null. */
function toolItemKind(item, loose) {
  if (declarationsOf(item)) return "group";
  if (isToolCall(item)) return "call";
  return toolDefinition(item, loose) ? "def" : null;
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
      kind && def.name !== null ? h("span", { class: "muted" }, " " + kind) : null),
    typeof def.description === "string" && def.description
      ? h("div", { class: "text tool-description" }, def.description)
      : def.description !== undefined ? renderValue(def.description, 1) : null,
    def.schema !== undefined && def.schema !== null
      ? h("pre", { class: "tool-schema" }, schemaText(def.schema))
      : null,
    def.extra.length ? objectTable(def.extra, 1) : null);
}

/** One item of a tool list, as what it is (a definition, a call, a group, or a value). */
function toolItem(item, kind, loose) {
  if (kind === "def") return toolOffered(toolDefinition(item, loose));
  if (kind === "call") return toolCall(item);
  if (kind === "group") {
    const group = declarationsOf(item);
    const key = has(item, "function_declarations") ? "function_declarations" : "functionDeclarations";
    const extra = unshown(item, new Set([key]));
    return h("div", { class: "tool-defs tool-group" },
      group.map((d) => toolItem(d, toolItemKind(d, true), true)),
      extra.length ? objectTable(extra, 1) : null);
  }
  return h("div", { class: "tool-other" }, renderValue(item, 1));
}

/**
 * A list that offers tools, drawn item by item (each decided on its own), or
 * null when it offers none. Outside a "tools" key (`loose` false) every item
 * must be a definition or a call; under one, anything else is shown as it is.
 */
function toolList(value, loose) {
  if (!Array.isArray(value) || value.length === 0) return null;
  const kinds = value.map((item) => toolItemKind(item, loose));
  if (!kinds.some((k) => k === "def" || k === "group")) return null;
  if (!loose && kinds.includes(null)) return null;
  return h("div", { class: "tool-defs" }, value.map((item, i) => toolItem(item, kinds[i], loose)));
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
  if (isObject(part) && isCallType(part.type)) return toolCall(part);
  return renderValue(part, 1);
}

/** One chat message. */
export function message(value) {
  const role = messageRole(value) || "other";
  const label = roleLabel(typeof value.role === "string" ? value.role : String(value.type));
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
  const tools = TOOL_LIST_KEYS.includes(key) ? toolList(item, true) : null;
  return tools ?? renderValue(item, depth + 1);
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
    const tools = toolList(value, false);
    if (tools) return tools;
    if (value.every(looksLikeCall)) return h("div", null, value.map(toolCall));
    const list = h("ol", { class: "list", start: "0" }, value.map((v) => h("li", null, renderValue(v, depth + 1))));
    return depth === 0 ? list : collapsible(`[${value.length} ${value.length === 1 ? "item" : "items"}]`, list, depth);
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return h("span", { class: "null" }, "{}");
  const table = objectTable(entries, depth);
  return depth === 0 ? table : collapsible(`{${entries.length} ${entries.length === 1 ? "key" : "keys"}}`, table, depth);
}
