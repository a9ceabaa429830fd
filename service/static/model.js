// The model dashboard: versions and their lineage, training curve and decision regions of
// a chosen version, and a panel that runs a continue-training job and follows it.
"use strict";

const $ = (id) => document.getElementById(id);
const name = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
let model = null;
const details = new Map();
let chosen = null;

function headline(d) {
  const h = d && d.metrics && d.metrics.headline;
  return h && h.value !== null && h.value !== undefined ? `${h.metric} ${Number(h.value).toFixed(4)} (${h.eval_set})` : "–";
}

function lineage(v) {
  const chain = [];
  let cur = v;
  while (cur !== null && cur !== undefined && chain.length < 50) {
    chain.push(`v${cur}`);
    const d = details.get(cur);
    cur = d ? d.parent : null;
  }
  return chain.join(" ← ");
}

async function loadModel() {
  model = await api("GET", `/models/${name}`);
  document.title = `tinymlp: ${name}`;
  $("title").textContent = `${name}`;
  const labels = Object.entries(model.labels).map(([l, v]) => `${l} → v${v}`).join(", ") || "none";
  const failures = Object.keys(model.failures).length ? `; files that failed their checks: ${Object.keys(model.failures).join(", ")}` : "";
  $("summary").textContent = `${model.task || name} · serving version ${model.served_version} · labels: ${labels}${failures}`;
  const newest = [...model.versions].reverse().slice(0, 30);
  await Promise.all(newest.filter((v) => !details.has(v)).map(async (v) => {
    try {
      details.set(v, await api("GET", `/models/${name}/versions/${v}`));
    } catch (e) { /* a version this process has not loaded yet: its row shows what is known */ }
  }));
  const byVersion = {};
  for (const [l, v] of Object.entries(model.labels)) (byVersion[v] = byVersion[v] || []).push(l);
  $("versions").querySelector("tbody").replaceChildren(...newest.map((v) => {
    const d = details.get(v), t = (d && d.training) || {};
    const served = v === model.served_version ? " (served)" : "";
    const button = el("button", { type: "button", text: `Show v${v}`, "aria-label": `Show version ${v}` });
    button.addEventListener("click", () => choose(v));
    return el("tr", { "data-version": String(v) }, el("th", { scope: "row", text: `v${v}${served}` }),
      el("td", { text: (d && d.created_at) || "–" }), el("td", { text: d && d.parent ? `v${d.parent}` : "–" }),
      el("td", { text: (t.trained_by || "–") + (t.job ? ` (job ${t.job})` : "") }), el("td", { text: headline(d) }),
      el("td", { text: (byVersion[v] || []).join(", ") || "–" }), el("td", {}, button));
  }));
  // A job trains on fresh data drawn from the model's task; an imported model has none.
  $("train-form").hidden = model.task === null;
  $("train-note").hidden = model.task !== null;
  if (chosen === null || !model.versions.includes(chosen)) choose(model.served_version);
}

// A picture is fetched rather than linked: the service draws one at a time and answers 429
// with Retry-After meanwhile, so the page waits and asks again (a few times) before giving up.
// A decision-region map comes bare; its axes and legend arrive in X-Regions-* headers.
function picture(src, alt) {
  const img = el("img", { class: "picture", alt, "data-src": src });
  const figure = el("figure", { class: "figure" }, img);
  const unavailable = () => figure.replaceWith(el("p", { class: "error", text: `${alt}: not available` }));
  (async () => {
    for (let attempt = 0; attempt < 10; attempt++) {
      let resp;
      try { resp = await fetch(src); } catch (e) { break; }
      if (resp.status === 429) {
        const wait = Number(resp.headers.get("Retry-After")) || 1;
        await new Promise((r) => setTimeout(r, wait * 1000 * (0.5 + Math.random())));
        continue;
      }
      if (!resp.ok) break;
      const axes = resp.headers.get("X-Regions-Axes");
      if (axes) {
        img.classList.add("map");
        figure.append(regionsCaption(resp.headers));
      }
      img.src = URL.createObjectURL(await resp.blob());
      return;
    }
    unavailable();
  })();
  img.addEventListener("error", unavailable);
  return figure;
}

function regionsCaption(headers) {
  const [x, y] = headers.get("X-Regions-Axes").split(",").map((a) => a.split(":"));
  const fixed = headers.get("X-Regions-Fixed");
  const legend = headers.get("X-Regions-Legend").split(",").map((pair) => pair.split("="));
  const agree = Number(headers.get("X-Regions-Agreement"));
  return el("figcaption", {},
    el("span", { text: `→ ${x[0]} from ${x[1]} to ${x[2]}; ↑ ${y[0]} from ${y[1]} to ${y[2]}`
      + (fixed ? ` (at ${fixed.replace(/=/g, " = ")})` : "") + ". " }),
    ...legend.map(([label, colour]) => {
      const swatch = el("span", { class: "legend-swatch" });
      swatch.style.background = colour;  // CSSOM: allowed by a CSP without 'unsafe-inline'
      return el("span", { class: "legend-label" }, swatch, humanLabel(label));
    }),
    el("span", { text: ` Black line: the true boundary. ${pct(agree)} of the plane agrees with it.` }));
}

function choose(v) {
  chosen = v;
  $("chosen").textContent = `v${v}`;
  $("lineage").textContent = `lineage: ${lineage(v)}`;
  const d = details.get(v);
  // An imported version (task null) has no training curve and no task to draw regions against.
  if ((d ? d.task : model.task) === null) {
    $("slice-control").hidden = true;
    const from = (d && d.training && d.training.estimator) || "another tool";
    $("pictures").replaceChildren(el("p", { class: "muted", id: "no-pictures",
      text: `v${v} was imported (${from}): it has no training curve, and no task to draw its decision regions against.` }));
    return;
  }
  const base = `/ui/models/${name}/versions/${v}`;
  const pics = [picture(`${base}/curve.png`, `training curve of ${name} version ${v}`)];
  const isRed = name === "red" || (model.task === "red");
  $("slice-control").hidden = !isRed;
  if (isRed) {
    pics.push(picture(`${base}/regions.png?b=${$("slice").value}`,
      `${name} version ${v}: predicted red region in the red-green plane at blue ${$("slice").value}`));
  } else if (model.input && model.input.features.length === 2 && model.output && model.output.kind === "classifier") {
    pics.push(picture(`${base}/regions.png`, `${name} version ${v}: decision regions with the true boundary`));
  }
  $("pictures").replaceChildren(...pics);
}

// Each server process notices a new version within its reload interval (about a second):
// ask until several answers in a row (from whichever processes answer) know it.
async function untilServed(version) {
  let inARow = 0;
  for (let i = 0; i < 60 && inARow < 3; i++) {
    const m = await api("GET", `/models/${name}`);
    inARow = m.versions.includes(version) ? inARow + 1 : 0;
    if (inARow < 3) await new Promise((r) => setTimeout(r, 200));
  }
}

$("slice").addEventListener("change", () => choose(chosen));
$("slice").addEventListener("input", () => { $("slice-value").textContent = $("slice").value; });

$("train-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const auth = { Authorization: `Bearer ${$("token").value}` };
  $("submit").disabled = true;
  $("job-progress").replaceChildren();
  try {
    let job = await api("POST", `/train/${name}`, {
      epochs: Number($("epochs").value), samples: Number($("samples").value), promote: $("promote").value }, auth);
    $("job-status").textContent = `Job ${job.id} queued (from version ${job.parent_version}).`;
    while (job.status === "queued" || job.status === "running") {
      await new Promise((r) => setTimeout(r, 400));
      job = await api("GET", `/train/jobs/${job.id}`, undefined, auth);
      $("job-status").textContent = `Job ${job.id}: ${job.status}, epoch ${job.progress.length} of ${job.params.epochs || 10}`;
      $("job-progress").replaceChildren(...job.progress.map((p) =>
        el("li", { text: `epoch ${p.epoch}: loss ${p.loss.toFixed(4)}, metric ${p.metric.toFixed(4)}` })));
    }
    if (job.status === "succeeded") {
      $("job-status").textContent = `Job ${job.id} succeeded: published version ${job.published_version}`
        + ` (${job.promoted ? "promoted" : "not promoted"}: ${job.promotion.reason}).`;
      await untilServed(job.published_version);
      await loadModel();
      choose(job.published_version);
    } else {
      $("job-status").textContent = `Job ${job.id} ${job.status}: ${job.error}`;
    }
  } catch (e) {
    $("job-status").textContent = `Could not run the job: ${e.message}`;
  } finally {
    $("submit").disabled = false;
  }
});

loadModel().catch((e) => { $("summary").textContent = e.message; });
