// The model dashboard: a shell that loads the model and hands it to its panels.
//
// A panel is a module of its own (panel-*.js) whose default export is
//   { id, title, mount(section, dashboard) -> { model(model), version(v) } }
// The shell makes the panel's <section> (heading `${id}-title`), calls mount once, then
// calls `model` each time the model is (re)loaded and `version` each time a version is
// chosen (both optional). A panel fetches what it shows from JSON endpoints itself, with
// `api` from common.js and `dashboard.name`. To add one (a rollout panel on
// /models/<name>/rollout, a live-accuracy curve, a drift panel on /models/<name>/drift):
// write panel-<id>.js and add it to PANELS.

import { api } from "./common.js";
import drift from "./panel-drift.js";
import live from "./panel-live.js";
import pictures from "./panel-pictures.js";
import rollout from "./panel-rollout.js";
import training from "./panel-training.js";
import versions from "./panel-versions.js";

const PANELS = [versions, rollout, pictures, live, drift, training];

const $ = (id) => document.getElementById(id);
const details = new Map();  // version -> Promise of GET /models/<name>/versions/<v>
const mounted = [];

export const dashboard = {
  name: decodeURIComponent(location.pathname.split("/").filter(Boolean).pop()),
  model: null,  // GET /models/<name>
  chosen: null,

  // One version's metadata, metrics and training record (asked once).
  detail(v) {
    if (!details.has(v)) {
      details.set(v, api("GET", `/models/${encodeURIComponent(this.name)}/versions/${v}`)
        .catch(() => { details.delete(v); return null; }));  // asked again next time
    }
    return details.get(v);
  },

  choose(v) {
    this.chosen = v;
    for (const panel of mounted) if (panel.version) panel.version(v);
  },

  async reload() {
    this.model = await api("GET", `/models/${encodeURIComponent(this.name)}`);
    summarise(this.model);
    for (const panel of mounted) if (panel.model) panel.model(this.model);
    if (this.chosen === null || !this.model.versions.includes(this.chosen)) this.choose(this.model.served_version);
  },
};

function summarise(model) {
  document.title = `tinymlp: ${model.name}`;
  $("title").textContent = model.name;
  const labels = Object.entries(model.labels).map(([l, v]) => `${l} → v${v}`).join(", ") || "none";
  const failed = Object.keys(model.failures);
  $("summary").textContent = `${model.task || model.name} · serving version ${model.served_version} · labels: ${labels}`
    + (failed.length ? `; files that failed their checks: ${failed.join(", ")}` : "");
}

for (const panel of PANELS) {
  const heading = Object.assign(document.createElement("h2"), { id: `${panel.id}-title`, textContent: panel.title });
  const section = document.createElement("section");
  section.className = "panel";
  section.id = `panel-${panel.id}`;
  section.setAttribute("aria-labelledby", heading.id);
  section.append(heading);
  $("panels").append(section);
  mounted.push(panel.mount(section, dashboard));
}

dashboard.reload().catch((e) => { $("summary").textContent = e.message; });
