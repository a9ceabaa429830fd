// The demo page: the red colour picker, a batch table, and any other model by its inputs:
// a 2-D classifier over its plane, its decision regions shown at once (the served version's
// picture, drawn when it was published), with a legend; the fields start at a real input.

import { api, el, humanLabel, pct } from "./common.js";
import { legend, pictureRecord, regionMaps } from "./pictures.js";

// Colours are set through CSSOM, never a style attribute: the pages run under a CSP without 'unsafe-inline'.
function colourChip(rgb) {
  const chip = el("span", { class: "swatch small" });
  chip.style.background = `rgb(${rgb.join(",")})`;
  return chip;
}

const $ = (id) => document.getElementById(id);
const channels = ["r", "g", "b"];
const hex = (v) => v.toString(16).padStart(2, "0");
let pending = 0;

function rgb() { return channels.map((c) => Number($(c).value)); }

function showColour([r, g, b]) {
  $("swatch").style.background = `rgb(${r}, ${g}, ${b})`;
  $("colour").value = `#${hex(r)}${hex(g)}${hex(b)}`;
  channels.forEach((c, i) => { $(`${c}-value`).textContent = [r, g, b][i]; });
}

async function askRed() {
  const colour = rgb();
  showColour(colour);
  const ticket = ++pending;
  try {
    const answer = await api("POST", "/predict/red", { inputs: [colour] });
    if (ticket !== pending) return; // a newer colour was picked meanwhile
    const p = answer.predictions[0];
    $("verdict").textContent = humanLabel(p.label);
    $("verdict").className = `verdict ${p.label === "red" ? "is-red" : "not-red"}`;
    $("verdict-detail").textContent =
      `P(red) = ${pct(p.probabilities.red)} · rgb(${colour.join(", ")}) · answered by red version ${answer.version}`;
  } catch (e) {
    $("verdict").textContent = "";
    $("verdict-detail").textContent = e.message;
  }
}

$("colour").addEventListener("input", () => {
  const v = $("colour").value;
  channels.forEach((c, i) => { $(c).value = parseInt(v.slice(1 + 2 * i, 3 + 2 * i), 16); });
  askRed();
});
channels.forEach((c) => $(c).addEventListener("input", askRed));

$("classify").addEventListener("click", async () => {
  $("many-error").textContent = "";
  const lines = $("triples").value.split("\n").map((l) => l.trim()).filter(Boolean);
  const rows = lines.map((l) => l.split(/[\s,;]+/).map(Number));
  const bad = rows.findIndex((r) => r.length !== 3 || r.some((v) => !Number.isInteger(v) || v < 0 || v > 255));
  if (bad >= 0) {
    $("many-error").textContent = `Line ${bad + 1}: give three whole numbers 0..255.`;
    $("many-table").hidden = true;
    return;
  }
  $("classify").disabled = true;
  try {
    const answer = await api("POST", "/predict/red", { inputs: rows });
    const body = $("many-table").querySelector("tbody");
    body.replaceChildren(...answer.predictions.map((p, i) => el("tr", {},
      el("td", {}, colourChip(rows[i])),
      el("td", { text: rows[i].join(", ") }), el("td", { text: humanLabel(p.label) }),
      el("td", { text: pct(p.probabilities.red) }))));
    $("many-table").hidden = false;
  } catch (e) {
    $("many-error").textContent = e.message;
  } finally {
    $("classify").disabled = false;
  }
});

// --- other models ---------------------------------------------------------------------
let current = null;  // GET /models/<name>, and what is drawn for it
const marks = [];
const FALLBACK = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

function colourOf(label) {
  const legend = current.map ? current.map.regions.legend : [];
  const found = legend.find(([l]) => l === label);
  return found ? found[1] : FALLBACK[current.output.labels.indexOf(label) % FALLBACK.length];
}

function drawPlane() {
  const cv = $("plane"), ctx = cv.getContext("2d"), spec = current.input;
  ctx.clearRect(0, 0, cv.width, cv.height);
  if (current.image) {
    ctx.imageSmoothingEnabled = false;  // one pixel a grid point: crisp regions
    ctx.drawImage(current.image, 0, 0, cv.width, cv.height);
  } else {
    ctx.strokeStyle = "#c9d1d9";
    for (let i = 1; i < 4; i++) {
      ctx.beginPath(); ctx.moveTo((i * cv.width) / 4, 0); ctx.lineTo((i * cv.width) / 4, cv.height); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(0, (i * cv.height) / 4); ctx.lineTo(cv.width, (i * cv.height) / 4); ctx.stroke();
    }
  }
  ctx.font = "12px system-ui, sans-serif";
  const labelAt = (text, x, y) => {
    ctx.fillStyle = "rgba(255, 255, 255, 0.8)";
    ctx.fillRect(x - 3, y - 11, ctx.measureText(text).width + 6, 15);
    ctx.fillStyle = "#1b1f24";
    ctx.fillText(text, x, y);
  };
  labelAt(`→ ${spec.features[0]}: ${spec.low[0]} .. ${spec.high[0]}`, 6, cv.height - 6);
  labelAt(`↑ ${spec.features[1]}: ${spec.low[1]} .. ${spec.high[1]}`, 6, 14);
  for (const m of marks) {
    const [px, py] = toPixel(m.point);
    ctx.fillStyle = colourOf(m.label);
    ctx.strokeStyle = "#1b1f24";
    ctx.beginPath(); ctx.arc(px, py, 5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
  }
}

function toPixel([x, y]) {
  const s = current.input, cv = $("plane");
  return [((x - s.low[0]) / (s.high[0] - s.low[0])) * cv.width, (1 - (y - s.low[1]) / (s.high[1] - s.low[1])) * cv.height];
}

function loadImage(url) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => resolve(null);
    img.src = url;
  });
}

async function askOther(values) {
  try {
    const answer = await api("POST", `/predict/${current.name}`, { inputs: [values] });
    const p = answer.predictions[0];
    if (p.label !== undefined) {
      $("other-verdict").textContent = humanLabel(p.label);
      $("other-detail").textContent = `${Object.entries(p.probabilities).map(([k, v]) => `${k}: ${pct(v)}`).join(" · ")}`
        + ` · ${current.name} version ${answer.version}`;
      if (!$("plane-box").hidden) { marks.push({ point: values, label: p.label }); drawPlane(); }
    } else {
      $("other-verdict").textContent = String(Array.isArray(p.value) ? p.value.map((v) => v.toFixed(3)).join(", ") : p.value.toFixed(3));
      $("other-detail").textContent = `${current.name} version ${answer.version}`;
    }
  } catch (e) {
    $("other-verdict").textContent = "";
    $("other-detail").textContent = e.message;
  }
}

function buildFields(example) {
  const spec = current.input, form = $("fields");
  form.replaceChildren();
  spec.features.forEach((f, i) => {
    // A bound is null where the model has none (an imported model may have none at all).
    const lo = spec.low[i], hi = spec.high[i];
    const mid = lo !== null && hi !== null ? (lo + hi) / 2 : lo !== null ? lo : hi !== null ? hi : 0;
    const start = example ? example.input[i] : spec.dtype === "int" ? Math.round(mid) : mid;
    const attrs = { type: "number", id: `f-${f}`, name: f, value: String(start), step: spec.dtype === "int" ? "1" : "any" };
    if (lo !== null) attrs.min = String(lo);
    if (hi !== null) attrs.max = String(hi);
    form.append(el("label", { for: `f-${f}`, text: f }), el("input", attrs), " ");
  });
  form.append(el("button", { type: "submit", text: "Predict" }));
  $("fields-note").textContent = example ? `The fields start at ${example.note}.` : "";
}

$("fields").addEventListener("submit", (ev) => {
  ev.preventDefault();
  askOther(current.input.features.map((f) => Number($(`f-${f}`).value)));
});

$("plane").addEventListener("click", (ev) => {
  const cv = $("plane"), rect = cv.getBoundingClientRect(), s = current.input;
  const fx = (ev.clientX - rect.left) / rect.width, fy = 1 - (ev.clientY - rect.top) / rect.height;
  const point = [s.low[0] + fx * (s.high[0] - s.low[0]), s.low[1] + fy * (s.high[1] - s.low[1])];
  s.features.forEach((f, i) => { $(`f-${f}`).value = point[i].toFixed(3); });
  askOther(point);
});

async function chooseModel(name) {
  const model = await api("GET", `/models/${encodeURIComponent(name)}`);
  const record = model.served_version ? await pictureRecord(name, model.served_version) : { error: "", pictures: [] };
  const map = regionMaps(record).find((p) => Object.keys(p.regions.fixed).length === 0) || null;
  const image = map ? await loadImage(map.url) : null;
  if ($("model").value !== name) return;  // another model was chosen meanwhile
  current = { ...model, map, image };
  marks.length = 0;
  $("model-dashboard").href = `/ui/models/${encodeURIComponent(name)}`;
  const out = current.output || {};
  $("model-about").textContent = `${current.task || name}: inputs ${current.input.features.join(", ")}; `
    + (out.kind === "classifier" ? `classes ${out.labels.join(", ")}` : "a number") + `; serving version ${current.served_version}`;
  const bounded = [...current.input.low, ...current.input.high].every((v) => v !== null);
  const plane = current.input.features.length === 2 && bounded;
  $("plane-box").hidden = !plane;
  $("plane").dataset.regions = image ? "drawn" : "none";
  if (plane && image) {
    $("plane-legend").replaceChildren("Regions of version ", String(current.served_version), ": ", legend(map.regions),
      ` ${pct(map.regions.agreement)} of the plane agrees with the true boundary.`);
  } else if (plane) {
    $("plane-legend").replaceChildren(`No picture of the regions: ${record.error || "it could not be drawn"}`);
  }
  buildFields(record.example || null);
  if (plane) drawPlane();
  $("other-verdict").textContent = ""; $("other-detail").textContent = "";
}

async function start() {
  showColour(rgb());
  askRed();
  const list = await api("GET", "/models");
  const names = list.models.map((m) => m.name).filter((n) => n !== "red");
  $("model").replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  $("model").addEventListener("change", () => chooseModel($("model").value));
  if (names.length) chooseModel(names[0]);
}

start();
