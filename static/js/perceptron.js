// The perceptron lab page: the data, the line wᵀx + b = 0, and every number of the last update.
// The server runs the perceptron (ml_core/perceptron.py); this page draws what it sends and turns
// clicks into messages (docs/protocol-perceptron.md).
import { LabSocket } from "./ws.js";
import { $, $$, on, fmt, pct, showError, rafThrottle } from "./ui.js";
import { loadState, saveState, decodeState, encodeState } from "./state.js";
import { LineChart } from "./charts.js";
import { CLASS_COLORS } from "./heatmap.js";

const LIMITS = window.TORCHPLAY_LIMITS || { max_points: 500, max_epochs: 1000, max_speed: 2000 };
const POS = CLASS_COLORS[1]; // +1: blue
const NEG = CLASS_COLORS[0]; // −1: orange
const DEFAULTS = {
  config: {
    dataset: { name: "separable", samples: 30, noise: 0.1, seed: 0 },
    perceptron: {
      learning_rate: 0.1, init: "zeros",
      line: [{ x: -0.6, y: -0.2 }, { x: 0.6, y: 0.3 }],
      order: "cycle", max_epochs: 100, speed: 10, seed: 0,
    },
  },
  points: null,
};

const hadHash = decodeState(location.hash) !== null;
const wanted = loadState(DEFAULTS); // what the URL asks for (or the defaults)
let config = structuredClone(wanted.config);
let points = []; // [[x, y, label ±1], ...] as the server has them
let analysis = { separable: true };
let frame = null; // the newest "perceptron" message
let playing = false;
let synced = false; // the first "configured" after load decides whether the URL's state is sent
let drawLabel = 1;
let erasing = false;
let drag = null; // {handle: 0|1} while a line handle is dragged

const canvas = $("#canvas");
const ctx = canvas.getContext("2d");
const sock = new LabSocket("perceptron");
const chart = new LineChart($("#chart"), {
  series: [{ label: "mistakes", color: "#c62828" }], xLabel: "epoch", yLabel: "mistakes", height: 150,
});
let chartLength = 0;

// ---- log-scale sliders (0..100) -------------------------------------------------------------
const logScale = (lo, hi) => ({
  toValue: (v) => lo * (hi / lo) ** (v / 100),
  toSlider: (x) => Math.round((100 * Math.log(x / lo)) / Math.log(hi / lo)),
});
const LR = logScale(0.01, 10);
const SPEED = logScale(1, LIMITS.max_speed || 2000);
const roundNice = (x) => Number(x.toPrecision(x < 10 ? 2 : 3));

// ---- canvas geometry: the plot is the square [-1, 1]², y up -------------------------------------
function resizeCanvas() {
  const size = canvas.clientWidth || 460;
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(size * dpr)) {
    canvas.width = Math.round(size * dpr);
    canvas.height = Math.round(size * dpr);
  }
}
const S = () => canvas.width;
const toPx = (x, y) => [((x + 1) / 2) * S(), ((1 - y) / 2) * S()];
function fromEvent(event) {
  const r = canvas.getBoundingClientRect();
  const x = ((event.clientX - r.left) / r.width) * 2 - 1;
  const y = 1 - ((event.clientY - r.top) / r.height) * 2;
  return [Math.max(-1, Math.min(1, x)), Math.max(-1, Math.min(1, y))];
}

// The part of the square where wᵀx + b ≥ 0 (Sutherland–Hodgman with one half-plane).
function positiveRegion(w, b) {
  const square = [[-1, -1], [1, -1], [1, 1], [-1, 1]];
  const f = ([x, y]) => w[0] * x + w[1] * y + b;
  const out = [];
  for (let i = 0; i < 4; i++) {
    const p = square[i];
    const q = square[(i + 1) % 4];
    const fp = f(p);
    const fq = f(q);
    if (fp >= 0) out.push(p);
    if ((fp >= 0) !== (fq >= 0)) {
      const t = fp / (fp - fq);
      out.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
    }
  }
  return out;
}

function polygon(pts) {
  ctx.beginPath();
  pts.forEach((p, i) => { const [x, y] = toPx(...p); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
  ctx.closePath();
}

function segment(line, style, width, dash = []) {
  if (!line) return;
  const [a, b] = [toPx(...line[0]), toPx(...line[1])];
  ctx.save();
  ctx.strokeStyle = style;
  ctx.lineWidth = width;
  ctx.setLineDash(dash);
  ctx.beginPath();
  ctx.moveTo(...a);
  ctx.lineTo(...b);
  ctx.stroke();
  ctx.restore();
}

function arrow(from, to, color, label) {
  const [x0, y0] = toPx(...from);
  const [x1, y1] = toPx(...to);
  const angle = Math.atan2(y1 - y0, x1 - x0);
  const head = 0.025 * S();
  ctx.save();
  ctx.strokeStyle = ctx.fillStyle = color;
  ctx.lineWidth = 0.006 * S();
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  ctx.lineTo(x1 - head * Math.cos(angle - 0.45), y1 - head * Math.sin(angle - 0.45));
  ctx.lineTo(x1 - head * Math.cos(angle + 0.45), y1 - head * Math.sin(angle + 0.45));
  ctx.fill();
  ctx.font = `${Math.round(0.035 * S())}px system-ui, sans-serif`;
  ctx.fillText(label, x1 + 0.012 * S(), y1 - 0.012 * S());
  ctx.restore();
}

function ring(x, y, radius, color, width, dash = []) {
  const [px, py] = toPx(x, y);
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash(dash);
  ctx.beginPath();
  ctx.arc(px, py, radius, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.restore();
}

// The line through the current weights, or the dragged line while the user drags it.
function currentLine() {
  if (drag || (config.perceptron.init === "line" && (!frame || !frame.visits))) {
    const [p, q] = config.perceptron.line;
    const dx = q.x - p.x;
    const dy = q.y - p.y;
    const n = Math.hypot(dx, dy) || 1;
    const w = [-dy / n, dx / n];
    return { w, b: -(w[0] * p.x + w[1] * p.y) };
  }
  if (!frame || !frame.w) return null;
  return { w: frame.w, b: frame.b };
}

function clipLine(w, b) {
  // endpoints of wᵀx + b = 0 inside the square (same rule as ml_core.perceptron.line_segment)
  const hits = [];
  if (Math.abs(w[1]) > 1e-9) for (const x of [-1, 1]) hits.push([x, -(w[0] * x + b) / w[1]]);
  if (Math.abs(w[0]) > 1e-9) for (const y of [-1, 1]) hits.push([-(w[1] * y + b) / w[0], y]);
  const inside = hits.filter(([x, y]) => Math.abs(x) <= 1 + 1e-9 && Math.abs(y) <= 1 + 1e-9);
  if (inside.length < 2) return null;
  let best = null;
  let far = -1;
  for (const p of inside) for (const q of inside) {
    const d = Math.hypot(p[0] - q[0], p[1] - q[1]);
    if (d > far) { far = d; best = [p, q]; }
  }
  return far > 1e-9 ? best : null;
}

function draw() {
  resizeCanvas();
  const s = S();
  ctx.clearRect(0, 0, s, s);
  const model = currentLine();
  // Background: the −1 side orange, the +1 side blue (pale), as the classes.
  ctx.fillStyle = "rgba(245, 147, 34, 0.13)";
  ctx.fillRect(0, 0, s, s);
  if (model) {
    const region = Math.hypot(...model.w) < 1e-9 ? (model.b >= 0 ? positiveRegion([0, 0], 1) : [])
      : positiveRegion(model.w, model.b);
    if (region.length >= 3) {
      ctx.fillStyle = "#ffffff";
      polygon(region);
      ctx.fill();
      ctx.fillStyle = "rgba(8, 119, 189, 0.14)";
      polygon(region);
      ctx.fill();
    }
  }
  // Axes.
  ctx.strokeStyle = "rgba(16, 24, 40, 0.12)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(...toPx(-1, 0)); ctx.lineTo(...toPx(1, 0));
  ctx.moveTo(...toPx(0, -1)); ctx.lineTo(...toPx(0, 1));
  ctx.stroke();

  const last = frame && frame.last && !drag ? frame.last : null;
  if (last && !last.correct) segment(last.line_before, "rgba(31, 36, 48, 0.55)", 0.006 * s, [0.018 * s, 0.014 * s]);
  if (model) {
    const line = clipLine(model.w, model.b);
    segment(line, "#1f2430", 0.009 * s);
    if (line) {
      // w is drawn from the point of the line closest to the middle of the segment
      const mid = [(line[0][0] + line[1][0]) / 2, (line[0][1] + line[1][1]) / 2];
      const n = Math.hypot(...model.w);
      arrow(mid, [mid[0] + (0.22 * model.w[0]) / n, mid[1] + (0.22 * model.w[1]) / n], "#1f2430", "w");
    }
  }

  // Points.
  const wrong = new Set(frame && frame.wrong ? frame.wrong : []);
  const r = 0.014 * s;
  points.forEach(([x, y, label], i) => {
    const [px, py] = toPx(x, y);
    ctx.beginPath();
    ctx.arc(px, py, r, 0, 2 * Math.PI);
    ctx.fillStyle = label > 0 ? POS : NEG;
    ctx.fill();
    ctx.lineWidth = 0.004 * s;
    ctx.strokeStyle = "#ffffff";
    ctx.stroke();
    if (wrong.has(i) && !drag) ring(x, y, r + 0.006 * s, "#c62828", 0.005 * s);
  });
  if (frame && frame.status !== "converged" && frame.status !== "gave_up" && frame.n && !drag) {
    const [x, y] = points[frame.next_index] || [];
    if (x !== undefined) ring(x, y, r + 0.02 * s, "rgba(31, 36, 48, 0.45)", 0.003 * s, [0.008 * s, 0.008 * s]);
  }
  if (last && points[last.index]) {
    const [x, y] = points[last.index];
    ring(x, y, r + 0.018 * s, "#1f2430", 0.007 * s);
  }
  // Handles of the dragged line.
  if (config.perceptron.init === "line") {
    // After the first step the handles mark the initial line (faint); dragging starts over.
    const moved = frame && frame.visits > 0 && !drag;
    ctx.save();
    ctx.globalAlpha = moved ? 0.45 : 1;
    if (moved) {
      const [p, q] = config.perceptron.line;
      const w = [-(q.y - p.y), q.x - p.x];
      segment(clipLine(w, -(w[0] * p.x + w[1] * p.y)), "#ee4c2c", 0.003 * s, [0.004 * s, 0.008 * s]);
    }
    for (const h of config.perceptron.line) {
      const [px, py] = toPx(h.x, h.y);
      ctx.beginPath();
      ctx.arc(px, py, 0.02 * s, 0, 2 * Math.PI);
      ctx.fillStyle = "#ffffff";
      ctx.fill();
      ctx.lineWidth = 0.006 * s;
      ctx.strokeStyle = "#ee4c2c";
      ctx.stroke();
    }
    ctx.restore();
  }
  $("#empty-hint").hidden = points.length > 0;
}
const redraw = rafThrottle(draw);

// ---- the walk-through panel -----------------------------------------------------------------
const n3 = (v) => fmt(v, 3);
const vec = (v) => `(${n3(v[0])}, ${n3(v[1])})`;
const signed = (v) => (v > 0 ? `+${v}` : `${v}`.replace("-", "−"));
const paren = (v) => (v < 0 ? `(${n3(v)})` : n3(v));

function renderSteps() {
  const items = $$("#steps li");
  const last = frame && frame.last;
  items.forEach((li) => li.classList.remove("skipped", "done", "wrong"));
  if (!last) {
    $("#s1").textContent = frame && frame.n ? `Next: point #${frame.next_index + 1}. Press Step.` : "";
    ["#s2", "#s3", "#s4", "#s5"].forEach((id) => { $(id).textContent = ""; });
  } else {
    const [w1, w2] = last.w_before;
    const [x1, x2] = last.x;
    const t = last.target;
    const o = last.output;
    $("#s1").textContent = `point #${last.index + 1}: x = ${vec(last.x)}, target ${signed(t)}`;
    $("#s2").textContent = `wᵀx + b = ${paren(w1)}·${paren(x1)} + ${paren(w2)}·${paren(x2)} + ${paren(last.b_before)}`
      + ` = ${n3(last.activation)} → output sign(${n3(last.activation)}) = ${signed(o)}`;
    $("#s3").textContent = last.correct
      ? `output ${signed(o)} = target ${signed(t)}: correct, skip step 4.`
      : `output ${signed(o)} ≠ target ${signed(t)}: wrong, update.`;
    if (last.correct) {
      $("#s4").textContent = "No update: w and b stay as they are.";
    } else {
      const k = last.learning_rate * (t - o);
      $("#s4").textContent =
        `λ(target − output) = ${fmt(last.learning_rate, 3)}·(${signed(t)} − (${signed(o)})) = ${n3(k)}\n`
        + `w = ${vec(last.w_before)} + ${paren(k)}·${vec(last.x)} = ${vec(last.w_after)}\n`
        + `b = ${n3(last.b_before)} + ${paren(k)} = ${n3(last.b_after)}`;
    }
    const over = frame.status === "converged" || frame.status === "gave_up";
    $("#s5").textContent = over ? (frame.status === "converged" ? "None: converged." : "None: epoch limit reached.")
      : `next: point #${frame.next_index + 1} · epoch ${frame.epoch + 1} · ${frame.streak} of ${frame.n} correct in a row`;
    items[3].classList.add(last.correct ? "skipped" : "wrong");
    items.forEach((li, i) => { if (i !== 3) li.classList.add("done"); });
  }
  const w = frame && frame.w ? frame.w : [0, 0];
  $("#weights").textContent = frame && frame.w
    ? `now: w = ${vec(w)}, b = ${n3(frame.b)}` + (frame.line ? ""
      : Math.hypot(...w) < 1e-9 ? " (w = 0: no line yet, every point gets sign(b))"
        : " (the line lies outside the plot: every point here gets the same output)")
    : "";
}

function renderStatus() {
  const banner = $("#banner");
  const status = frame ? frame.status : "empty";
  banner.hidden = !(status === "converged" || status === "gave_up");
  banner.className = `banner ${status === "converged" ? "good" : "bad"}`;
  if (status === "converged") {
    banner.textContent = `Converged: a full pass over all ${frame.n} points without a mistake, after `
      + `${frame.mistakes} update${frame.mistakes === 1 ? "" : "s"} in ${frame.visits} visits. Every point is on its side of the line.`;
  } else if (status === "gave_up") {
    banner.textContent = analysis.separable
      ? `Stopped at the limit of ${frame.max_epochs} epochs before converging: raise the limit and play on.`
      : `Never converges: ${frame.max_epochs} epochs and still ${frame.wrong.length} point${frame.wrong.length === 1 ? "" : "s"} `
        + "on the wrong side. No straight line separates these classes, so every pass makes a mistake.";
  }
  $("#mlp-link").hidden = analysis.separable || points.length === 0;
  $("#btn-step").disabled = status === "converged" || status === "gave_up" || status === "empty";
  const m = frame || {};
  $("#epoch").textContent = m.epoch ?? 0;
  $("#visits").textContent = m.visits ?? 0;
  $("#mistakes").textContent = m.mistakes ?? 0;
  $("#streak").textContent = m.n ? `${m.streak}/${m.n}` : "0";
}

function renderChart() {
  const history = frame && frame.epoch_mistakes ? frame.epoch_mistakes : [];
  if (history.length < chartLength) { chart.clear(); chartLength = 0; }
  if (!frame || !frame.visits) {
    if (chartLength) chart.clear();
    chartLength = 0;
    $("#epoch-caption").textContent = "One point per epoch: a pass with no mistake ends the run.";
    return;
  }
  for (let i = Math.max(0, chartLength - 1); i < history.length; i++) chart.push(i + 1, [history[i]]);
  chartLength = history.length;
  const running = frame.visits % frame.n > 0 && frame.status !== "converged";
  const done = running ? history.slice(0, -1) : history;
  const parts = [];
  if (running) parts.push(`epoch ${history.length} so far: ${history[history.length - 1]} mistakes`);
  if (done.length) parts.push(`last complete epoch: ${done[done.length - 1]} mistakes`);
  $("#epoch-caption").textContent = parts.join(" · ");
}

// ---- controls -------------------------------------------------------------------------------
function renderControls() {
  const d = config.dataset;
  const p = config.perceptron;
  $("#dataset").value = d.name;
  $("#samples").max = Math.min(200, LIMITS.max_points);
  $("#samples").value = d.samples;
  $("#samples-label").textContent = d.samples;
  $("#samples-field").hidden = d.name === "custom";
  $("#noise").value = d.noise;
  $("#noise-label").textContent = pct(d.noise, 0);
  $("#noise-field").hidden = d.name !== "noisy";
  $("#btn-regenerate").hidden = d.name === "custom";
  $("#learning_rate").value = LR.toSlider(p.learning_rate);
  $("#lr-label").textContent = p.learning_rate;
  $("#speed").value = SPEED.toSlider(p.speed);
  $("#speed-label").textContent = `${roundNice(p.speed)} /s`;
  $("#order").value = p.order;
  $("#max_epochs").value = p.max_epochs;
  $$("#init button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.init === p.init)));
  $("#init-help").textContent = {
    zeros: "w = (0, 0), b = 0: no line at first; the first mistake draws one.",
    random: "w₁, w₂, b drawn at random (normal, σ = 0.5). Click again for new ones.",
    line: "Drag the two orange handles on the plot; w points to the left of handle 1 → handle 2.",
  }[p.init];
  $$("#draw-class button").forEach((b) => b.setAttribute("aria-pressed", String(Number(b.dataset.label) === drawLabel)));
  $("#tool-erase").setAttribute("aria-pressed", String(erasing));
}

function save() {
  saveState({ config, points: config.dataset.name === "custom" ? points : undefined });
}

function configure(changes = {}) {
  config = { dataset: { ...config.dataset, ...(changes.dataset || {}) }, perceptron: { ...config.perceptron, ...(changes.perceptron || {}) } };
  sock.send({ type: "configure", lab: "perceptron", config });
  renderControls();
}

function sendPoints(next) {
  if (next.length > LIMITS.max_points) { showError(`At most ${LIMITS.max_points} points.`); return; }
  points = next;
  sock.send({ type: "points", points });
  redraw();
}

const sortedJSON = (v) => JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

sock.on("configured", (message) => {
  if (!synced) {
    synced = true;
    // A shared link or a fresh tab: make the server match the URL (a resumed session matches it).
    const custom = wanted.config.dataset.name === "custom" && Array.isArray(wanted.points);
    const differs = sortedJSON(message.config) !== sortedJSON(wanted.config)
      || (custom && sortedJSON(message.data.points) !== sortedJSON(wanted.points));
    if (hadHash && differs) {
      sock.send({ type: "configure", lab: "perceptron", config: wanted.config });
      if (custom) sock.send({ type: "points", points: wanted.points.slice(0, LIMITS.max_points) });
      return;
    }
  }
  config = message.config;
  points = message.data.points;
  analysis = message.analysis;
  const notes = $("#notes");
  notes.replaceChildren(...message.notes.map((text) => {
    const li = document.createElement("li");
    li.className = analysis.separable ? "note" : "note warn";
    li.textContent = text;
    return li;
  }));
  $("#mlp-link").href = mlpLink();
  renderControls();
  save();
  redraw();
});
sock.on("updated", (message) => { config = message.config; renderControls(); save(); });
sock.on("state", (message) => {
  playing = message.state === "playing";
  $("#btn-play").dataset.state = playing ? "playing" : "paused";
  $("#btn-play").setAttribute("aria-label", playing ? "Pause" : "Play");
});
sock.on("metrics", (m) => { $("#accuracy").textContent = pct(m.accuracy, 0); });
let shownVisit = 0;
sock.on("perceptron", (message) => {
  const fresh = message.last && message.last.visit !== shownVisit;
  shownVisit = message.last ? message.last.visit : 0;
  frame = message;
  // A single step while paused: reveal steps 1-5 one after the other, as on the slide.
  const list = $("#steps");
  list.classList.remove("reveal");
  if (fresh && !playing) { void list.offsetWidth; list.classList.add("reveal"); }
  renderSteps();
  renderStatus();
  renderChart();
  redraw();
});

// The same points in the MLP playground (labels −1 → 0, +1 → 1), one hidden layer of 4 tanh.
function mlpLink() {
  const state = {
    config: {
      dataset: { name: "custom" },
      model: { hidden: [4], activation: "tanh", features: ["x1", "x2"] },
    },
    points: points.map(([x, y, label]) => [x, y, label > 0 ? 1 : 0]),
  };
  return `/mlp#s=${encodeState(state)}`;
}

on(document, "click", "#btn-play", () => sock.send({ type: playing ? "pause" : "play" }));
on(document, "click", "#btn-step", () => sock.send({ type: "step", steps: 1 }));
on(document, "click", "#btn-reset", () => sock.send({ type: "reset" }));
on(document, "click", "#draw-class button", (e, b) => { drawLabel = Number(b.dataset.label); erasing = false; renderControls(); });
on(document, "click", "#tool-erase", () => { erasing = !erasing; renderControls(); });
on(document, "click", "#btn-clear", () => sendPoints([]));
on(document, "click", "#btn-regenerate", () => configure({ dataset: { seed: (config.dataset.seed + 1) % 2 ** 31 } }));
on(document, "click", "#init button", (e, b) => {
  const init = b.dataset.init;
  const seed = init === "random" ? Math.floor(Math.random() * 1e6) : config.perceptron.seed;
  configure({ perceptron: { init, seed } });
});
$("#dataset").addEventListener("change", (e) => configure({ dataset: { name: e.target.value } }));
$("#samples").addEventListener("input", (e) => { $("#samples-label").textContent = e.target.value; });
$("#samples").addEventListener("change", (e) => configure({ dataset: { samples: Number(e.target.value) } }));
$("#noise").addEventListener("input", (e) => { $("#noise-label").textContent = pct(Number(e.target.value), 0); });
$("#noise").addEventListener("change", (e) => configure({ dataset: { noise: Number(e.target.value) } }));
$("#order").addEventListener("change", (e) => configure({ perceptron: { order: e.target.value } }));
$("#max_epochs").addEventListener("change", (e) => {
  const v = Math.round(Number(e.target.value));
  if (!(v >= 1 && v <= LIMITS.max_epochs)) { showError(`Epochs: 1 to ${LIMITS.max_epochs}.`); renderControls(); return; }
  sock.send({ type: "set", max_epochs: v });
});
const sendSet = rafThrottle((change) => sock.send({ type: "set", ...change })); // one per frame
$("#learning_rate").addEventListener("input", (e) => {
  const lr = roundNice(LR.toValue(Number(e.target.value)));
  $("#lr-label").textContent = lr;
  sendSet({ learning_rate: lr });
});
$("#speed").addEventListener("input", (e) => {
  const speed = roundNice(SPEED.toValue(Number(e.target.value)));
  $("#speed-label").textContent = `${speed} /s`;
  sendSet({ speed });
});

// ---- the canvas: add / erase points, drag the line's handles ---------------------------------
function nearest(list, [x, y], within) {
  let best = -1;
  let dist = within;
  list.forEach((p, i) => {
    const d = Math.hypot(p[0] - x, p[1] - y);
    if (d < dist) { dist = d; best = i; }
  });
  return best;
}

canvas.addEventListener("pointerdown", (event) => {
  const at = fromEvent(event);
  if (config.perceptron.init === "line") {
    const handles = config.perceptron.line.map((h) => [h.x, h.y]);
    const i = nearest(handles, at, 0.08);
    if (i >= 0) {
      drag = { handle: i };
      canvas.setPointerCapture(event.pointerId);
      return;
    }
  }
  if (erasing) {
    const i = nearest(points, at, 0.06);
    if (i >= 0) sendPoints(points.filter((_, j) => j !== i));
    return;
  }
  sendPoints([...points, [Number(at[0].toFixed(4)), Number(at[1].toFixed(4)), drawLabel]]);
});
canvas.addEventListener("pointermove", (event) => {
  if (!drag) return;
  const [x, y] = fromEvent(event);
  const line = config.perceptron.line.map((h) => ({ ...h }));
  line[drag.handle] = { x: Number(x.toFixed(4)), y: Number(y.toFixed(4)) };
  config.perceptron.line = line;
  redraw();
});
const endDrag = () => {
  if (!drag) return;
  drag = null;
  const [p, q] = config.perceptron.line;
  if (Math.hypot(p.x - q.x, p.y - q.y) < 0.01) {
    showError("The two handles must be apart: drag one away.");
    return;
  }
  configure({});
};
canvas.addEventListener("pointerup", endDrag);
canvas.addEventListener("pointercancel", endDrag);

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === " " && event.target.closest("button, a")) return; // the focused control gets it
  if (event.key === " ") { event.preventDefault(); $("#btn-play").click(); }
  else if (event.key === "ArrowRight") { event.preventDefault(); if (!$("#btn-step").disabled) $("#btn-step").click(); }
  else if (event.key === "r" || event.key === "R") $("#btn-reset").click();
});
new ResizeObserver(redraw).observe(canvas);
renderControls();
renderSteps();
redraw();
