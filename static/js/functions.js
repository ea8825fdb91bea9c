// Activation & loss explorer: curves from the server (torch modules + autograd), softmax with
// temperature, and the L1/L2 outlier demo with draggable points. Protocol: docs/protocol-functions.md.
import { LabSocket } from "./ws.js";
import { COLORMAPS, drawGrid } from "./heatmap.js";
import { decodeState, loadState, saveState } from "./state.js";
import { $, $$, fmt, on, pct, rafThrottle, fillChoices } from "./ui.js";
import { LIMITS as limits, DEFAULTS } from "./boot.js";
import { createReadout } from "./functions-readout.js";

const BLUE = "#1f77b4", RED = "#ee4c2c", GREEN = "#079455", PURPLE = "#7a5af8";
// Display labels and notes of the activations and losses the server offers (configured.options).
const ACTIVATION_LABELS = {
  relu: "ReLU", leaky_relu: "Leaky ReLU", prelu: "PReLU", rrelu: "RReLU", tanh: "tanh", sigmoid: "Sigmoid",
};
const LOSS_LABELS = {
  l2: "L2 (MSE)", l1: "L1", huber: "Huber", bce: "Binary CE", ce: "Cross-entropy", kl: "KL divergence",
};
const ACTIVATION_NOTES = {
  relu: "ReLU: max(0, x). The default choice: cheap, and its gradient is exactly 1 for every positive input, so it does not fade with depth. Careful with the learning rate: a neuron pushed to negative inputs everywhere gets gradient 0 and stops learning.",
  leaky_relu: "Leaky ReLU: a small slope for negative inputs keeps some gradient flowing, so neurons cannot die. A good thing to try when ReLU units go silent.",
  prelu: "PReLU: like Leaky ReLU, but the slope a is a parameter the network learns by gradient descent. The dashed curve is ∂f/∂a = min(0, x): only negative inputs teach it.",
  rrelu: "Randomised Leaky ReLU: in train() every input gets its own random slope from [lower, upper] (the scattered dots: a regulariser, like noise); in eval() it uses the fixed average slope.",
  tanh: "tanh: zero-centred and smooth, but it saturates like sigmoid — its derivative is near 0 once |x| > 3. Try it, don't expect much.",
  sigmoid: "Sigmoid: avoid it in hidden layers. Its derivative is at most 0.25, below 0.05 once |x| passes 3 (the shaded bands) and below 0.02 past 4: each layer multiplies the gradient by such a factor, so it vanishes in deep networks. Fine as the output of a binary classifier.",
};
const LOSS_NOTES = {
  l2: "L2 (mean squared error), for regression: the loss grows with the square of the error, and so does its pull (the gradient grows linearly) — large errors dominate.",
  l1: "L1 (mean absolute error), for regression: the loss grows linearly; the gradient is ±1 whatever the error, so an outlier pulls no harder than any other point.",
  huber: "Huber, for regression: L2 near the target (smooth), L1 beyond δ (robust to outliers). The gradient is capped at ±δ.",
  bce: "Binary cross-entropy, for two classes: the prediction is a probability. A confident wrong answer costs a lot — the loss goes to infinity as the prediction reaches the wrong end.",
  ce: "Multi-class cross-entropy: −log of the probability given to the true class (here the rest is shared equally by the other classes). Plotted against that probability.",
  kl: "KL divergence KL(target ‖ prediction), for comparing distributions (density estimation): zero exactly when the predicted distribution equals the target's.",
};

const sortedJSON = (v) => JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

const view = { config: null, frame: null, drag: null };
// The config the server must hold after a (re)connect: a shared link's at first (none: take the
// session as it is), then the page's own (view.config, which every update changes).
let held = decodeState(location.hash) !== null ? loadState({ config: DEFAULTS }).config : null;
function resync(configured) {
  if (!held || sortedJSON(configured.config) === sortedJSON(held)) return null;
  return { type: "configure", lab: "functions", config: held };
}
const sock = new LabSocket("functions", { resync });

// ---- a small canvas plotter -----------------------------------------------------------------
function prepare(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(canvas.clientWidth * dpr), h = Math.round(canvas.clientHeight * dpr);
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext("2d");
  if (canvas.dataset.clipped) ctx.restore();  // drop the previous drawing's clip region
  delete canvas.dataset.clipped;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  return ctx;
}

function niceStep(span) {
  const raw = span / 6, p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

// Frame with axes: returns {ctx, X, Y, inv} mapping data <-> CSS pixels.
function axes(canvas, [x0, x1], [y0, y1], { xLabel = "", yLabel = "" } = {}) {
  const ctx = prepare(canvas);
  const W = canvas.clientWidth, H = canvas.clientHeight;
  const m = { l: 44, r: 10, t: 10, b: 34 };
  const X = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (y) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const inv = (px, py) => [x0 + ((px - m.l) / (W - m.l - m.r)) * (x1 - x0), y0 + ((H - m.b - py) / (H - m.t - m.b)) * (y1 - y0)];
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#667085";
  ctx.strokeStyle = "#eef1f5";
  ctx.lineWidth = 1;
  const sx = niceStep(x1 - x0), sy = niceStep(y1 - y0);
  ctx.textAlign = "center";
  for (let v = Math.ceil(x0 / sx) * sx; v <= x1 + 1e-9; v += sx) {
    ctx.beginPath(); ctx.moveTo(X(v), m.t); ctx.lineTo(X(v), H - m.b); ctx.stroke();
    ctx.fillText(+v.toFixed(3), X(v), H - m.b + 14);
  }
  ctx.textAlign = "right";
  for (let v = Math.ceil(y0 / sy) * sy; v <= y1 + 1e-9; v += sy) {
    ctx.beginPath(); ctx.moveTo(m.l, Y(v)); ctx.lineTo(W - m.r, Y(v)); ctx.stroke();
    ctx.fillText(+v.toFixed(3), m.l - 5, Y(v) + 4);
  }
  ctx.strokeStyle = "#98a2b3";
  if (y0 < 0 && y1 > 0) { ctx.beginPath(); ctx.moveTo(m.l, Y(0)); ctx.lineTo(W - m.r, Y(0)); ctx.stroke(); }
  if (x0 < 0 && x1 > 0) { ctx.beginPath(); ctx.moveTo(X(0), m.t); ctx.lineTo(X(0), H - m.b); ctx.stroke(); }
  ctx.textAlign = "center";
  ctx.fillText(xLabel, (m.l + W - m.r) / 2, H - 4);
  ctx.save(); ctx.translate(11, (m.t + H - m.b) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(yLabel, 0, 0); ctx.restore();
  ctx.save();
  canvas.dataset.clipped = "1";
  ctx.beginPath(); ctx.rect(m.l, m.t, W - m.l - m.r, H - m.t - m.b); ctx.clip();
  return { ctx, X, Y, inv, m, W, H };
}

function line(p, xs, ys, color, { width = 2.2, dash = [] } = {}) {
  const { ctx, X, Y } = p;
  ctx.beginPath();
  for (let i = 0; i < xs.length; i++) (i ? ctx.lineTo(X(xs[i]), Y(ys[i])) : ctx.moveTo(X(xs[i]), Y(ys[i])));
  ctx.setLineDash(dash); ctx.lineWidth = width; ctx.strokeStyle = color; ctx.stroke(); ctx.setLineDash([]);
}

function dots(p, xs, ys, color, r = 2) {
  const { ctx, X, Y } = p;
  ctx.fillStyle = color;
  for (let i = 0; i < xs.length; i++) { ctx.beginPath(); ctx.arc(X(xs[i]), Y(ys[i]), r, 0, 2 * Math.PI); ctx.fill(); }
}

function range(arrays, { include = [], pad = 0.08, clip = Infinity } = {}) {
  let lo = Math.min(...include), hi = Math.max(...include);
  for (const a of arrays) for (const v of a) if (Number.isFinite(v) && Math.abs(v) <= clip) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const span = hi - lo || 1;
  return [lo - pad * span, hi + pad * span];
}

// ---- drawing ------------------------------------------------------------------------------
function drawActivation() {
  const f = view.frame;
  if (!f || !view.config) return; // a frame can come before the `configured` of a shared link
  const { act_x: x, act_y: y, act_dy: dy, act_dparam: dparam } = f.arrays;
  const extra = dparam ? [dparam.data] : [];
  const p = axes($("#act-plot"), [x.data[0], x.data[x.data.length - 1]], range([y.data, dy.data, ...extra], { include: [0, 1] }), { xLabel: "x", yLabel: "f(x), f′(x)" });
  // shade where the derivative is (almost) zero: saturated, nothing flows back
  p.ctx.fillStyle = "rgba(238, 76, 44, .08)";
  const step = x.data[1] - x.data[0];
  for (let i = 0; i < dy.data.length; i++) {
    if (Math.abs(dy.data[i]) < 0.05) p.ctx.fillRect(p.X(x.data[i] - step / 2), 0, p.X(x.data[i] + step / 2) - p.X(x.data[i] - step / 2) + 0.5, p.H);
  }
  const config = view.config.activation;
  const random = config.name === "rrelu" && config.training;
  if (random) {
    dots(p, x.data, dy.data, RED, 1.8);
    dots(p, x.data, y.data, BLUE, 1.8);
  } else {
    line(p, x.data, dy.data, RED);
    line(p, x.data, y.data, BLUE, { width: 2.6 });
  }
  if (dparam) line(p, x.data, dparam.data, PURPLE, { dash: [6, 4] });
  actReadout.mark(p);
  $("#dparam-legend").hidden = !dparam;
  const meta = f.meta.activation;
  $("#max-grad").textContent = fmt(meta.max_grad, 3);
  $("#saturated").textContent = pct(meta.saturated, 0);
  $("#act-note").textContent = ACTIVATION_NOTES[meta.name] ?? "";
}

function drawLoss() {
  const f = view.frame;
  if (!f || !view.config) return;
  const { loss_x: x, loss_y: y, loss_grad: g } = f.arrays;
  const yr = range([y.data], { include: [0] });
  const span = yr[1] - yr[0];
  const p = axes($("#loss-plot"), [x.data[0], x.data[x.data.length - 1]], [Math.min(yr[0], -0.25 * span), yr[1]], { xLabel: view.config.loss.name === "ce" ? "probability given to the true class" : "prediction", yLabel: "loss" });
  const meta = f.meta.loss;
  const target = meta.name === "ce" ? 1 : meta.target;
  p.ctx.strokeStyle = "#344054";
  p.ctx.setLineDash([3, 3]);
  p.ctx.beginPath(); p.ctx.moveTo(p.X(target), 0); p.ctx.lineTo(p.X(target), p.H); p.ctx.stroke();
  p.ctx.setLineDash([]);
  line(p, x.data, g.data, RED, { dash: [6, 4] });
  line(p, x.data, y.data, BLUE, { width: 2.6 });
  lossReadout.mark(p);
  $("#loss-note").textContent = LOSS_NOTES[meta.name] ?? "";
}

function drawSoftmax() {
  const f = view.frame;
  if (!f) return;
  const probs = f.arrays.probs.data;
  const rows = $$(".fx-logit");
  rows.forEach((row, i) => {
    if (i >= probs.length) return;
    row.querySelector(".fx-bar i").style.width = `${(probs[i] * 100).toFixed(1)}%`;
    row.querySelector(".fx-prob").textContent = pct(probs[i], 1);
    row.classList.toggle("top", i === f.meta.softmax.argmax);
  });
  const s = f.meta.softmax;
  const jac = f.arrays.jacobian;
  const k = jac.shape[0];
  let scale = 1e-12;
  for (const v of jac.data) scale = Math.max(scale, Math.abs(v));
  const cells = Uint8Array.from(jac.data, (v) => Math.round((0.5 + (0.5 * v) / scale) * 255));
  drawGrid($("#jacobian"), cells, k, k, COLORMAPS.redblue);
  $("#jacobian-scale").textContent = scale.toFixed(3);
  $("#entropy").textContent = `Entropy ${s.entropy.toFixed(3)} nats of at most ${s.max_entropy.toFixed(3)} (uniform: every class equally likely).`;
}

function fitPoints() { return view.config.fit.points; }

function drawFit() {
  const f = view.frame;
  if (!f || !view.config) return;
  const p = axes($("#fit-plot"), [0, 10], [0, 10], { xLabel: "x", yLabel: "y" });
  view.fitPlot = p;
  const fits = f.meta.fit;
  for (const [name, color] of [["l2", RED], ["l1", GREEN]]) {
    const { slope, intercept } = fits[name];
    line(p, [0, 10], [intercept, intercept + 10 * slope], color, { width: 2.6 });
  }
  const pts = fitPoints();
  const outlier = pts.length - 1;
  pts.forEach(([x, y], i) => {
    p.ctx.beginPath();
    p.ctx.arc(p.X(x), p.Y(y), i === outlier ? 7 : 5, 0, 2 * Math.PI);
    p.ctx.fillStyle = i === outlier ? RED : "#344054";
    p.ctx.fill();
    p.ctx.lineWidth = 2; p.ctx.strokeStyle = "#fff"; p.ctx.stroke();
  });
  for (const name of ["l1", "l2"]) {
    $(`#fit-${name}-slope`).textContent = fits[name].slope.toFixed(3);
    $(`#fit-${name}-intercept`).textContent = fits[name].intercept.toFixed(3);
    $(`#fit-${name}-resid`).textContent = fits[name].outlier_residual.toFixed(2);
  }
}

function drawAll() { drawActivation(); drawLoss(); drawSoftmax(); drawFit(); }

// Hover (or focus and arrow keys) read-outs of the two curve plots: the server's samples.
const actReadout = createReadout($("#act-plot"), $("#act-readout"), {
  series: () => {
    const a = view.frame?.arrays;
    if (!a) return null;
    const columns = [
      { label: "f(x)", values: a.act_y.data, color: BLUE },
      { label: "f′(x)", values: a.act_dy.data, color: RED },
    ];
    if (a.act_dparam) columns.push({ label: "∂f/∂a", values: a.act_dparam.data, color: PURPLE });
    return { xs: a.act_x.data, columns };
  },
  redraw: rafThrottle(() => drawActivation()),
});
const lossReadout = createReadout($("#loss-plot"), $("#loss-readout"), {
  series: () => {
    const a = view.frame?.arrays;
    if (!a) return null;
    return {
      xs: a.loss_x.data,
      columns: [
        { label: "loss", values: a.loss_y.data, color: BLUE },
        { label: "d loss/d prediction", values: a.loss_grad.data, color: RED },
      ],
    };
  },
  xLabel: () => (view.config?.loss.name === "ce" ? "p(true class)" : "prediction"),
  redraw: rafThrottle(() => drawLoss()),
});
new ResizeObserver(rafThrottle(drawAll)).observe($(".fx-grid"));

// ---- controls -----------------------------------------------------------------------------
const slider = (id, value, text) => { $(`#${id}`).value = value; $(`#${id}-label`).textContent = text; };

function buildLogits(logits) {
  const box = $("#logits");
  if (box.children.length !== logits.length) {
    box.replaceChildren(...logits.map((_, i) => {
      const row = document.createElement("div");
      row.className = "fx-logit";
      row.innerHTML = `<span class="fx-z">z<sub>${i + 1}</sub></span><input type="range" min="-6" max="6" step="0.1" aria-label="logit ${i + 1}"><output class="num"></output><span class="fx-bar"><i></i></span><span class="fx-prob num"></span>`;
      row.querySelector("input").dataset.index = i;
      return row;
    }));
  }
  logits.forEach((z, i) => {
    const row = box.children[i];
    row.querySelector("input").value = z;
    row.querySelector("output").textContent = z.toFixed(1);
  });
}

function showControls(c) {
  $$("#activations button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.activation === c.activation.name)));
  $$("#losses button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.loss === c.loss.name)));
  $$("[data-mode]").forEach((b) => b.setAttribute("aria-pressed", String((b.dataset.mode === "train") === c.activation.training)));
  $$(".fx-card [data-for]").forEach((el) => {
    const names = el.dataset.for.split(" ");
    el.hidden = !names.includes(c.activation.name) && !names.includes(c.loss.name);
  });
  const a = c.activation;
  slider("slope", a.slope, a.slope.toFixed(2));
  slider("prelu_init", a.prelu_init, a.prelu_init.toFixed(2));
  slider("lower", a.lower, a.lower.toFixed(2));
  slider("upper", a.upper, a.upper.toFixed(2));
  const l = c.loss;
  const probability = l.name === "bce" || l.name === "kl";
  slider("target", probability ? 0 : l.target, l.target.toFixed(1));
  slider("ptarget", probability ? l.target : 1, (probability ? l.target : 1).toFixed(2));
  slider("delta", l.delta, l.delta.toFixed(2));
  slider("classes", l.classes, String(l.classes));
  slider("temperature", Math.log10(c.softmax.temperature), c.softmax.temperature.toFixed(2));
  buildLogits(c.softmax.logits);
  $("#logit-add").disabled = c.softmax.logits.length >= limits.max_logits;
  $("#logit-remove").disabled = c.softmax.logits.length <= 2;
}

function update(part) {
  for (const [key, value] of Object.entries(part)) view.config[key] = { ...view.config[key], ...value };
  showControls(view.config);
  sock.send({ type: "update", config: part });
  saveState({ config: view.config });
}
const sendFit = rafThrottle(() => update({ fit: { points: fitPoints().map((p) => [...p]) } }));

on(document, "click", "#activations button", (_, b) => update({ activation: { name: b.dataset.activation } }));
on(document, "click", "#losses button", (_, b) => {
  const name = b.dataset.loss;
  const probability = name === "bce" || name === "kl";
  // keep the target valid for the new loss: a probability for BCE and KL
  const target = probability ? Number($("#ptarget").value) : name === "ce" ? 0 : Number($("#target").value);
  update({ loss: { name, target } });
});
on(document, "click", "[data-mode]", (_, b) => update({ activation: { training: b.dataset.mode === "train" } }));
$("#btn-resample").addEventListener("click", () => update({ activation: { seed: (view.config.activation.seed + 1) % 2 ** 31 } }));
const numeric = {
  slope: (v) => ({ activation: { slope: v } }),
  prelu_init: (v) => ({ activation: { prelu_init: v } }),
  lower: (v) => ({ activation: { lower: v, upper: Math.max(v, view.config.activation.upper) } }),
  upper: (v) => ({ activation: { upper: v, lower: Math.min(v, view.config.activation.lower) } }),
  target: (v) => ({ loss: { target: v } }),
  ptarget: (v) => ({ loss: { target: v } }),
  delta: (v) => ({ loss: { delta: v } }),
  classes: (v) => ({ loss: { classes: v } }),
  temperature: (v) => ({ softmax: { temperature: Number((10 ** v).toPrecision(3)) } }),
};
const sendNumeric = rafThrottle((id, v) => update(numeric[id](v)));
on(document, "input", ".fx-params input, #temperature", (_, input) => { if (view.config) sendNumeric(input.id, Number(input.value)); });
on(document, "input", ".fx-logit input", (_, input) => {
  const logits = [...view.config.softmax.logits];
  logits[Number(input.dataset.index)] = Number(input.value);
  update({ softmax: { logits } });
});
$("#logit-add").addEventListener("click", () => update({ softmax: { logits: [...view.config.softmax.logits, 0] } }));
$("#logit-remove").addEventListener("click", () => update({ softmax: { logits: view.config.softmax.logits.slice(0, -1) } }));
$("#btn-points").addEventListener("click", () => sock.send({ type: "configure", lab: "functions", config: { ...view.config, fit: { points: null } } }));

// dragging points of the outlier demo
const fitCanvas = $("#fit-plot");
function localXY(event) {
  const rect = fitCanvas.getBoundingClientRect();
  return [event.clientX - rect.left, event.clientY - rect.top];
}
fitCanvas.addEventListener("pointerdown", (event) => {
  const p = view.fitPlot;
  if (!p) return;
  const [px, py] = localXY(event);
  let best = -1, bestD = 14;
  fitPoints().forEach(([x, y], i) => {
    const d = Math.hypot(p.X(x) - px, p.Y(y) - py);
    if (d < bestD || (d <= bestD && i === fitPoints().length - 1)) { best = i; bestD = d; }
  });
  if (best < 0) return;
  view.drag = best;
  fitCanvas.setPointerCapture(event.pointerId);
  event.preventDefault();
});
fitCanvas.addEventListener("pointermove", (event) => {
  const p = view.fitPlot;
  if (!p) return;
  const [px, py] = localXY(event);
  if (view.drag === null) {
    const near = fitPoints().some(([x, y]) => Math.hypot(p.X(x) - px, p.Y(y) - py) < 14);
    fitCanvas.style.cursor = near ? "grab" : "default";
    return;
  }
  const [x, y] = p.inv(px, py);
  const clamp = (v) => Math.round(Math.min(10, Math.max(0, v)) * 1000) / 1000;
  fitPoints()[view.drag] = [clamp(x), clamp(y)];
  drawFit();
  sendFit();
});
const endDrag = () => { view.drag = null; };
fitCanvas.addEventListener("pointerup", endDrag);
fitCanvas.addEventListener("pointercancel", endDrag);

// ---- messages -----------------------------------------------------------------------------
sock.on("configured", (message) => {
  if (message.resyncing) return; // the page's own config is on its way; its reply follows
  fillChoices($("#activations"), message.options.activations, ACTIVATION_LABELS, "activation");
  fillChoices($("#losses"), message.options.losses, LOSS_LABELS, "loss");
  view.config = message.config;
  held = view.config;
  showControls(message.config);
  saveState({ config: message.config });
  drawAll();
});
sock.on("frame:functions", (frame) => {
  view.frame = frame;
  // Points on the page stay as the user dragged them; the server echoes them back.
  if (view.drag === null && view.config) {
    const pts = frame.arrays.points;
    view.config.fit.points = Array.from({ length: pts.shape[0] }, (_, i) => [pts.data[2 * i], pts.data[2 * i + 1]].map((v) => Math.round(v * 1000) / 1000));
  }
  drawAll();
});
