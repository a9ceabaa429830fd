// Panel: what the chosen version learned: its lineage, its training curve and its decision
// regions, from the version's picture record (drawn when it was published). Red's maps are
// the red-green plane at the blues drawn, chosen with a slider. A picture is a file, there
// or not: nothing is asked twice; what is missing says why and how to draw it.

import { el } from "./common.js";
import { curveSvg } from "./curve.js";
import { caption, pictureRecord, regionMaps } from "./pictures.js";

const FEATURE_NAMES = { b: "Blue" };

export default {
  id: "pictures",
  title: "Version",
  mount(section, dashboard) {
    const chosen = el("span", { id: "chosen", text: "…" });
    section.querySelector("h2").replaceChildren("Version ", chosen);
    const lineage = el("p", { id: "lineage", class: "muted" });
    const slider = el("input", { type: "range", id: "slice", min: "0", max: "0", step: "1", value: "0",
                                 "aria-describedby": "slice-value slice-note" });
    const label = el("label", { for: "slice", text: "Blue" });
    const value = el("output", { id: "slice-value", for: "slice" });
    const note = el("span", { id: "slice-note", class: "muted" });
    const control = el("div", { id: "slice-control", class: "row" }, label, slider, value, note);
    control.hidden = true;
    const box = el("div", { class: "pictures", id: "pictures" });
    section.append(lineage, control, box);
    let ticket = 0;  // a later choice wins over one still loading
    let maps = [], mapFigure = null, wanted = null;

    async function showLineage(v) {
      const chain = [];
      for (let cur = v; cur !== null && cur !== undefined && chain.length < 50;) {
        chain.push(`v${cur}`);
        const d = await dashboard.detail(cur);
        cur = d ? d.parent : null;
      }
      if (dashboard.chosen === v) lineage.textContent = `lineage: ${chain.join(" ← ")}`;
    }

    function image(p, extra) {
      return el("img", { class: `picture${extra ? ` ${extra}` : ""}`, src: p.url, alt: p.title,
                         width: String(p.width), height: String(p.height) });
    }

    function showMap(i) {
      const p = maps[i];
      const feature = Object.keys(p.regions.fixed)[0];
      if (feature !== undefined) {
        wanted = p.regions.fixed[feature];
        value.textContent = String(wanted);
        slider.setAttribute("aria-valuetext", `${feature} = ${wanted}`);
      }
      mapFigure.replaceChildren(image(p, "map"), caption(p.regions));
    }

    slider.addEventListener("input", () => showMap(Number(slider.value)));

    async function curveFromRecord(v, record) {
      const d = await dashboard.detail(v);
      const missing = record.missing.find((m) => m.kind === "curve");
      const title = `training curve of ${dashboard.name} version ${v}`;
      if (d && d.curve && d.curve.length) {
        return el("figure", { class: "figure" }, curveSvg(d.curve, title),
          el("figcaption", { text: `Drawn by this page from the training record${missing ? `: ${missing.reason}` : ""}.` }));
      }
      const imported = d && d.training && d.training.trained_by === "imported";
      return el("p", { class: "muted", text: `No training curve: ${imported ? "an imported model has no training record"
        : (missing && missing.reason) || "this version has no training record"}.` });
    }

    return {
      async version(v) {
        const mine = ++ticket;
        chosen.textContent = `v${v}`;
        lineage.textContent = "";
        showLineage(v);
        const d = await dashboard.detail(v);
        if (mine !== ticket) return;
        if (d && d.task === null) {  // imported: no training record, no task to draw regions against
          control.hidden = true;
          const from = (d.training && d.training.estimator) || "another tool";
          box.replaceChildren(el("p", { class: "muted", id: "no-pictures",
            text: `v${v} was imported (${from}): it has no training curve, and no task to draw its decision regions against.` }));
          return;
        }
        const record = await pictureRecord(dashboard.name, v);
        const curve = record.pictures.find((p) => p.kind === "curve");
        const items = [curve ? el("figure", { class: "figure" }, image(curve)) : await curveFromRecord(v, record)];
        if (mine !== ticket) return;
        maps = regionMaps(record);
        const feature = maps.length > 1 ? Object.keys(maps[0].regions.fixed)[0] : undefined;
        control.hidden = feature === undefined;
        if (feature !== undefined) {
          maps.sort((a, b) => a.regions.fixed[feature] - b.regions.fixed[feature]);
          const values = maps.map((m) => m.regions.fixed[feature]);
          // the value shown before, else a quarter up the range (red: blue 64, its sphere still wide)
          const keep = values.indexOf(wanted);
          slider.max = String(maps.length - 1);
          slider.value = String(keep >= 0 ? keep : Math.floor((maps.length - 1) / 4));
          label.textContent = FEATURE_NAMES[feature] || feature;
          const { x, y } = maps[0].regions;
          note.textContent = `the ${x.feature}–${y.feature} plane at ${values.length} values of ${feature}`
            + ` (${values[0]} to ${values[values.length - 1]}); the black line is the true boundary`;
        }
        if (maps.length) {
          mapFigure = el("figure", { class: "figure" });
          items.push(mapFigure);
          showMap(feature !== undefined ? Number(slider.value) : 0);
        }
        for (const m of record.missing.filter((m) => m.kind !== "curve")) {
          items.push(el("p", { class: "muted", text: `No picture ${m.kind}: ${m.reason}` }));
        }
        if (record.error) items.push(el("p", { class: "muted", id: "no-pictures", text: `No pictures: ${record.error}` }));
        box.replaceChildren(...items);
        // the other maps once these are shown, so that the slider answers at once
        const shown = [...box.querySelectorAll("img")].map((img) => img.decode().catch(() => null));
        Promise.all(shown).then(() => { if (mine === ticket) for (const m of maps) new Image().src = m.url; });
      },
    };
  },
};
