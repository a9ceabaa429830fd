// Panel: the model's rollout (running, or its last) and its figures from GET
// /models/<name>/rollout: the two versions, the share, requests per arm, rows compared and
// agreed, the differences, errors, latency per arm, and why it ended. It asks again every
// second while the rollout runs (every worker's counts, added up in the shared database),
// and every five seconds otherwise, so a rollout started elsewhere shows up.

import { api, el, pct, sleep } from "./common.js";

const RUNNING_EVERY = 1000, IDLE_EVERY = 5000;  // ms

function ms(v) { return v === null || v === undefined ? "–" : `${v.toFixed(3)} ms`; }
function num(v) { return Number(v).toLocaleString("en"); }

function row(id, label, value) {
  return el("tr", {}, el("th", { scope: "row", text: label }), el("td", { id, text: value }));
}

export default {
  id: "rollout",
  title: "Rollout",
  mount(section, dashboard) {
    const status = el("p", { id: "rollout-status", "aria-live": "polite", text: "Loading…" });
    const table = el("table", { id: "rollout-figures", hidden: "" },
      el("caption", { class: "sr-only", text: "The rollout's figures, the same on every replica" }), el("tbody"));
    const reason = el("p", { id: "rollout-reason", class: "muted", hidden: "" });
    const how = el("p", { id: "rollout-how", class: "muted", hidden: "",
      text: "Start one with PUT /models/<name>/rollout (the training token), python -m trainer rollout "
        + "<name> --candidate V (--percent P | --shadow), or tinymlp rollout <name> --candidate V." });
    section.append(status, table, reason, how);
    const name = encodeURIComponent(dashboard.name);
    let served = null;

    function show(r) {
      const share = r.mode === "split" ? `v${r.candidate} answers ${r.percent}% of unpinned requests`
        : `v${r.candidate} shadows ${r.percent === 100 ? "every request" : `${r.percent}% of requests`}, unseen`;
      status.textContent = `${r.status.replace("_", " ")}: ${r.mode}, v${r.candidate} against v${r.stable} `
        + `(${share}), started ${r.started_at}${r.ended_at ? `, ended ${r.ended_at}` : ""}`;
      status.dataset.status = r.status;
      const agreement = r.agreement === null ? "–" : `${pct(r.agreement)} (${num(r.rows_agreed)} of ${num(r.rows_compared)} rows)`;
      const diff = r.mean_abs_diff === null ? "–" : `mean ${r.mean_abs_diff.toFixed(4)}, max ${r.max_abs_diff.toFixed(4)}`;
      const lat = (arm) => `p50 ${ms(r.latency_ms[arm].p50)}, p99 ${ms(r.latency_ms[arm].p99)}`;
      table.querySelector("tbody").replaceChildren(
        row("rollout-requests", "Requests", `stable ${num(r.requests.stable)}, candidate ${num(r.requests.candidate)}`),
        row("rollout-compared", "Rows compared", num(r.rows_compared)),
        row("rollout-agreement", "Agreement", agreement),
        row("rollout-diff", "Difference per row", diff),
        row("rollout-errors", "Errors", `candidate ${num(r.errors.candidate)} of ${num(r.runs.candidate)} runs, `
          + `stable ${num(r.errors.stable)} of ${num(r.runs.stable)}`),
        row("rollout-latency-stable", `Latency, stable v${r.stable}`, lat("stable")),
        row("rollout-latency-candidate", `Latency, candidate v${r.candidate}`, lat("candidate")),
        row("rollout-guards", "Guards", `after ${num(r.guards.min_rows)} rows: agreement ≥ ${r.guards.min_agreement}, `
          + "errors no more often than the stable"
          + (r.guards.max_p99_ratio === null ? "" : `, p99 ≤ ${r.guards.max_p99_ratio}× the stable's`)
          + (r.guards.auto_promote_after === null ? "" : `; promoted after ${num(r.guards.auto_promote_after)} rows`)));
      table.hidden = false;
      reason.hidden = !r.reason;
      reason.textContent = r.reason ? `Why it ended: ${r.reason}` : "";
      how.hidden = r.status === "running";
    }

    async function follow() {
      for (;;) {
        let running = false;
        try {
          const r = await api("GET", `/models/${name}/rollout`);
          show(r);
          running = r.status === "running";
          // a promotion moves the default label: the other panels follow once it is served
          if (served !== null && r.status === "promoted" && served !== r.candidate) dashboard.reload().catch(() => {});
        } catch (e) {
          status.textContent = e.status === 404 ? "No rollout yet." : `Could not read the rollout: ${e.message}`;
          status.dataset.status = e.status === 404 ? "none" : "error";
          table.hidden = true;
          reason.hidden = true;
          how.hidden = e.status !== 404;
        }
        await sleep(running ? RUNNING_EVERY : IDLE_EVERY);
      }
    }
    follow();
    return { model(model) { served = model.served_version; } };
  },
};
