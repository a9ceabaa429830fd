// A version's pictures as the service keeps them: drawn when the version was published and
// listed in its record (GET /ui/models/<name>/versions/<v>/pictures.json). A decision-region
// map is bare, one pixel a grid point; its axes and legend come from the record.

import { api, el, humanLabel, pct } from "./common.js";

// The record, or { error } saying why there is none and how to draw it (the service's 404).
export async function pictureRecord(name, version) {
  try {
    return await api("GET", `/ui/models/${encodeURIComponent(name)}/versions/${version}/pictures.json`);
  } catch (e) {
    return { error: e.message, pictures: [], missing: [] };
  }
}

export function regionMaps(record) { return record.pictures.filter((p) => p.regions); }

// Colours are set through CSSOM, never a style attribute: the pages run under a CSP without 'unsafe-inline'.
export function legend(regions) {
  return el("span", { class: "legend" }, ...regions.legend.map(([label, colour]) => {
    const swatch = el("span", { class: "legend-swatch" });
    swatch.style.background = colour;
    return el("span", { class: "legend-label" }, swatch, humanLabel(label));
  }));
}

export function atText(regions) {
  const fixed = Object.entries(regions.fixed);
  return fixed.length ? ` at ${fixed.map(([k, v]) => `${k} = ${v}`).join(", ")}` : "";
}

export function caption(regions) {
  const { x, y } = regions;
  return el("figcaption", {},
    el("span", { text: `→ ${x.feature} from ${x.low} to ${x.high}; ↑ ${y.feature} from ${y.low} to ${y.high}`
      + `${atText(regions)}. ` }),
    legend(regions),
    el("span", { text: ` Black line: the true boundary; ${pct(regions.agreement)} of the plane agrees with it.` }));
}
