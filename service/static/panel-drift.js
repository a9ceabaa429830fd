// Panel: drift of the served version, from GET /models/<name>/drift: per input feature the
// PSI and KS statistic of its latest logged rows (of every worker and replica) against its
// training data, and the PSI of its predictions. PSI under 0.1 is stable, 0.1 to 0.2 a
// moderate shift, over 0.2 a shift worth acting on.

import { api, el } from "./common.js";

function level(psi) {
  if (psi === null || psi === undefined) return "–";
  return psi >= 0.2 ? "shifted" : psi >= 0.1 ? "moderate" : "stable";
}

const fixed = (v, n) => (v === null || v === undefined ? "–" : Number(v).toFixed(n));

export default {
  id: "drift",
  title: "Drift against the training data",
  mount(section, dashboard) {
    const status = el("p", { id: "drift-status", class: "muted", "aria-live": "polite", text: "Loading…" });
    const table = el("table", { id: "drift", hidden: "" },
      el("caption", { text: "PSI and KS of the latest rows against the training data" }),
      el("thead", {}, el("tr", {}, ...["Feature", "PSI", "KS", ""].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody"));
    const refresh = el("button", { type: "button", id: "drift-refresh", text: "Measure again" });
    section.append(status, table, refresh);

    async function load() {
      try {
        const d = await api("GET", `/models/${encodeURIComponent(dashboard.name)}/drift`);
        table.hidden = !d.available || !d.window_rows;
        if (!d.available) { status.textContent = `Version ${d.version}: drift unavailable: ${d.reason}`; return; }
        if (!d.window_rows) { status.textContent = `Version ${d.version}: no predictions logged yet.`; return; }
        status.textContent = `Version ${d.version} (served): its latest ${d.window_rows} rows against ${d.reference_rows} training rows.`;
        const row = (name, f, head) => el("tr", { class: level(f.psi) }, el(head ? "th" : "th", { scope: "row", text: name }),
          el("td", { text: fixed(f.psi, 3) }), el("td", { text: fixed(f.ks, 3) }), el("td", { text: level(f.psi) }));
        table.querySelector("tbody").replaceChildren(
          ...Object.entries(d.features).map(([name, f]) => row(name, f)),
          row("predictions", { psi: d.prediction && d.prediction.psi, ks: null }, true));
      } catch (e) {
        table.hidden = true;
        status.textContent = `Drift cannot be shown: ${e.message}`;
      }
    }
    refresh.addEventListener("click", load);
    return { model: load };
  },
};
