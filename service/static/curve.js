// A training curve drawn by the page, as SVG, from a version's training record: what the
// dashboard shows where the publisher had no matplotlib to draw the picture. Loss on a log
// scale (left) and the training metric (right) per epoch; epochs are whole numbers.

const NS = "http://www.w3.org/2000/svg";
const W = 600, H = 340, L = 64, R = 64, T = 20, B = 44;

export function svg(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function scale(lo, hi, a, b) {
  return (v) => (hi === lo ? (a + b) / 2 : a + ((v - lo) / (hi - lo)) * (b - a));
}

// Up to `most` whole-number ticks from lo to hi.
function epochTicks(lo, hi, most = 8) {
  const step = Math.max(1, Math.ceil((hi - lo + 1) / most));
  const ticks = [];
  for (let e = lo; e <= hi; e += step) ticks.push(e);
  return ticks;
}

export function curveSvg(curve, title) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "curve", "aria-label": title });
  root.append(svg("title", {}, title));
  const epochs = curve.map((r) => r.epoch);
  const losses = curve.map((r) => Math.log10(Math.max(r.loss, 1e-12)));
  const metrics = curve.map((r) => r.metric);
  const x = scale(Math.min(...epochs), Math.max(...epochs), L, W - R);
  const yl = scale(Math.min(...losses), Math.max(...losses), H - B, T);
  const ym = scale(Math.min(...metrics), Math.max(...metrics), H - B, T);
  root.append(svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#c9d1d9" }));
  for (const e of epochTicks(Math.min(...epochs), Math.max(...epochs))) {
    root.append(svg("text", { x: x(e), y: H - B + 16, "text-anchor": "middle", "font-size": 12 }, String(e)));
  }
  root.append(svg("text", { x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle", "font-size": 13 }, "epoch"));
  const line = (ys, colour, values) => svg("polyline", {
    fill: "none", stroke: colour, "stroke-width": 2, points: epochs.map((e, i) => `${x(e)},${ys(values[i])}`).join(" "),
  });
  root.append(line(yl, "#1f5fa8", losses), line(ym, "#b5400b", metrics));
  if (epochs.length <= 20) {  // a short run's points, one an epoch, stay visible (one epoch is no line)
    epochs.forEach((e, i) => root.append(svg("circle", { cx: x(e), cy: yl(losses[i]), r: 3, fill: "#1f5fa8" }),
      svg("circle", { cx: x(e), cy: ym(metrics[i]), r: 3, fill: "#b5400b" })));
  }
  const edge = (v, ys, side, colour, text) => svg("text", {
    x: side === "left" ? L - 6 : W - R + 6, y: ys(v) + 4, "text-anchor": side === "left" ? "end" : "start",
    "font-size": 11, fill: colour }, text);
  const [lmin, lmax] = [Math.min(...losses), Math.max(...losses)], [mmin, mmax] = [Math.min(...metrics), Math.max(...metrics)];
  root.append(edge(lmax, yl, "left", "#1f5fa8", (10 ** lmax).toPrecision(3)),
    edge(lmin, yl, "left", "#1f5fa8", (10 ** lmin).toPrecision(3)),
    edge(mmax, ym, "right", "#b5400b", mmax.toFixed(4)), edge(mmin, ym, "right", "#b5400b", mmin.toFixed(4)));
  root.append(svg("text", { x: L + 8, y: T + 16, "font-size": 12, fill: "#1f5fa8" }, "loss (log scale)"),
    svg("text", { x: W - R - 8, y: T + 16, "font-size": 12, fill: "#b5400b", "text-anchor": "end" }, "training metric"));
  return root;
}
