// Panel: every version (newest 30), with its parent, who trained it, its held-out metric and
// labels; "Show" chooses it for the other panels.

import { el } from "./common.js";

function headline(d) {
  const h = d && d.metrics && d.metrics.headline;
  return h && h.value !== null && h.value !== undefined ? `${h.metric} ${Number(h.value).toFixed(4)} (${h.eval_set})` : "–";
}

export default {
  id: "versions",
  title: "Versions",
  mount(section, dashboard) {
    const table = el("table", { id: "versions" },
      el("caption", { class: "sr-only", text: "Every version, newest first, with its parent, labels and held-out metric" }),
      el("thead", {}, el("tr", {}, ...["Version", "Created", "Parent", "Trained by", "Held-out metric", "Labels", "Show"]
        .map((h) => el("th", { scope: "col", text: h })))),
      el("tbody"));
    section.append(table);

    function row(model, v, d, byVersion) {
      const t = (d && d.training) || {};
      const served = v === model.served_version ? " (served)" : "";
      const button = el("button", { type: "button", text: `Show v${v}`, "aria-label": `Show version ${v}` });
      button.addEventListener("click", () => dashboard.choose(v));
      return el("tr", { "data-version": String(v) }, el("th", { scope: "row", text: `v${v}${served}` }),
        el("td", { text: (d && d.created_at) || "–" }), el("td", { text: d && d.parent ? `v${d.parent}` : "–" }),
        el("td", { text: (t.trained_by || "–") + (t.job ? ` (job ${t.job})` : "") }), el("td", { text: headline(d) }),
        el("td", { text: (byVersion[v] || []).join(", ") || "–" }), el("td", {}, button));
    }

    return {
      async model(model) {
        const newest = [...model.versions].reverse().slice(0, 30);
        const byVersion = {};
        for (const [l, v] of Object.entries(model.labels)) (byVersion[v] = byVersion[v] || []).push(l);
        const body = table.querySelector("tbody");
        body.replaceChildren(...newest.map((v) => row(model, v, null, byVersion)));
        // a version this process has not loaded yet keeps its row of what is known
        const found = await Promise.all(newest.map((v) => dashboard.detail(v)));
        body.replaceChildren(...newest.map((v, i) => row(model, v, found[i], byVersion)));
      },
    };
  },
};
