// Panel: how the chosen version does in production, from the feedback users sent by request
// id (POST /feedback/<name>): accuracy and recall per true label (or MAE and RMSE) over its
// latest feedback rows and since it started serving, and a curve of the latest rows in runs.

import { el, pct } from "./common.js";
import { svg } from "./curve.js";

const W = 600, H = 220, L = 56, R = 16, T = 16, B = 40;

// The curve: each run of consecutive feedback rows (oldest left), its accuracy (or RMSE).
function liveCurve(curve, figure) {
  const title = `Live ${figure} over the latest feedback rows, in runs, oldest first`;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "curve", id: "live-curve", "aria-label": title });
  root.append(svg("title", {}, title));
  const ys = curve.map((p) => p[figure]);
  const lo = figure === "accuracy" ? 0 : Math.min(...ys), hi = figure === "accuracy" ? 1 : Math.max(...ys);
  const last = curve[curve.length - 1].rows;
  const x = (rows) => L + (last <= 1 ? (W - L - R) / 2 : ((rows - 1) / (last - 1)) * (W - L - R));
  const y = (v) => (hi === lo ? (T + H - B) / 2 : H - B - ((v - lo) / (hi - lo)) * (H - B - T));
  root.append(svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#c9d1d9" }));
  root.append(svg("polyline", { fill: "none", stroke: "#b5400b", "stroke-width": 2,
    points: curve.map((p) => `${x(p.rows)},${y(p[figure])}`).join(" ") }));
  for (const p of curve) root.append(svg("circle", { cx: x(p.rows), cy: y(p[figure]), r: 3, fill: "#b5400b" }));
  const label = (v) => (figure === "accuracy" ? pct(v) : v.toPrecision(3));
  root.append(svg("text", { x: L - 6, y: y(hi) + 4, "text-anchor": "end", "font-size": 11 }, label(hi)),
    svg("text", { x: L - 6, y: y(lo) + 4, "text-anchor": "end", "font-size": 11 }, label(lo)),
    svg("text", { x: (L + W - R) / 2, y: H - 10, "text-anchor": "middle", "font-size": 12 },
      `feedback rows (latest ${last}), oldest left`));
  return root;
}

function quality(q) {
  if (!q || !q.feedback_rows) return "no feedback yet";
  if (q.accuracy !== undefined && q.accuracy !== null) return `accuracy ${pct(q.accuracy)} over ${q.feedback_rows} rows`;
  return `MAE ${Number(q.mae).toPrecision(4)}, RMSE ${Number(q.rmse).toPrecision(4)} over ${q.feedback_rows} rows`;
}

export default {
  id: "live",
  title: "Live quality from feedback",
  mount(section, dashboard) {
    const status = el("p", { id: "live-status", class: "muted", "aria-live": "polite", text: "Loading…" });
    const recall = el("table", { id: "live-recall", hidden: "" },
      el("caption", { text: "Recall per true label over the latest feedback rows" }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "True label" }),
        el("th", { scope: "col", text: "Recall (latest)" }), el("th", { scope: "col", text: "Recall (since serving)" }))),
      el("tbody"));
    const figure = el("div", { id: "live-figure" });
    const help = el("p", { class: "muted", text: "Send the true answers of earlier predictions to POST /feedback/"
      + `${dashboard.name} by their request id (the X-Request-ID of each answer), with TINYMLP_FEEDBACK_TOKEN.` });
    section.append(status, recall, figure, help);

    return {
      async version(v) {
        status.textContent = "Loading…";
        const d = await dashboard.detail(v);
        if (dashboard.chosen !== v) return;
        const live = d && d.live;
        figure.replaceChildren();
        recall.hidden = true;
        if (!live) { status.textContent = `Version ${v}: no live figures.`; return; }
        if (live.error) { status.textContent = `Version ${v}: ${live.error}`; return; }
        status.textContent = `Version ${v}: latest ${live.window}: ${quality(live)}; since serving: ${quality(live.since_serving)}.`;
        const labels = Object.keys({ ...(live.recall || {}), ...((live.since_serving || {}).recall || {}) }).sort();
        if (labels.length) {
          recall.hidden = false;
          const r = (q, l) => (q && q.recall && q.recall[l] !== undefined ? pct(q.recall[l]) : "–");
          recall.querySelector("tbody").replaceChildren(...labels.map((l) => el("tr", {},
            el("th", { scope: "row", text: l }), el("td", { text: r(live, l) }), el("td", { text: r(live.since_serving, l) }))));
        }
        if (live.curve && live.curve.length) figure.append(liveCurve(live.curve, live.accuracy !== undefined ? "accuracy" : "rmse"));
      },
    };
  },
};
