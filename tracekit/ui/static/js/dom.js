// DOM helpers: the only way the UI builds elements. Traced text only ever
// becomes text nodes or attribute values (never innerHTML, never a URL).

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

function apply(node, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "href" || key === "src" || key.startsWith("on") || key === "style") {
      // Never from data: links are built by the app only, styles through CSSOM.
      throw new Error(`dom: attribute ${key} is not allowed`);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
}

/** An HTML element: h("div", {class: "row"}, "text", child, [more]). */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  apply(node, props);
  append(node, children);
  return node;
}

/** An SVG element, with the same rules as h(). */
export function s(tag, props, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  apply(node, props);
  append(node, children);
  return node;
}

/** A link to a place inside the app (a "#/..." route built by the app). */
export function link(route, props, ...children) {
  const node = h("a", props, ...children);
  node.href = "#" + route.split("/").map(encodeURIComponent).join("/");
  return node;
}

/** Replace the children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}
