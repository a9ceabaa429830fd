// Shared by the pages: JSON calls to the service (its error messages shown as they come),
// building elements, and how numbers and labels are written.
// Modules, loaded by <script type="module">: the pages run under a CSP with script-src 'self'.

export async function api(method, path, body, headers) {
  const init = { method, headers: { ...(headers || {}) } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) {
    const message = (data && (data.message || data.error)) || `${resp.status} ${resp.statusText}`;
    const err = new Error(message);
    err.status = resp.status;
    throw err;
  }
  return data;
}

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

export function pct(p) { return `${(100 * p).toFixed(p > 0.999 || p < 0.001 ? 3 : 1)}%`; }
export function humanLabel(label) { return String(label).replace(/_/g, " "); }
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
