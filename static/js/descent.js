// Gradient-descent lab: a loss surface (uint8 heat map + contours), click a start, watch four
// optimizers race. Protocol: docs/protocol-descent.md.
import { LabSocket } from "./ws.js";
import { drawGrid, makeColormap } from "./heatmap.js";
import { LineChart } from "./charts.js";
import { decodeState, loadState, saveState } from "./state.js";
import { $, $$, fmt, on, rafThrottle, fillChoices } from "./ui.js";
import { LIMITS as limits, DEFAULTS } from "./boot.js";

// The optimizers are the server's (its default config); the page names and colours them.
const KINDS = Object.keys(DEFAULTS.optimizers);
const NAMES = { gd: "GD", sgd: "SGD", momentum: "Momentum", adam: "Adam" };
export const COLORS = { gd: "#ee4c2c", sgd: "#ffd166", momentum: "#06d6a0", adam: "#ff5fc8" };
// Low loss dark (a valley), high loss light.
const DEPTH = makeColormap([
  [0, "#0b1437"], [0.25, "#1d3f75"], [0.55, "#3f86b5"], [0.8, "#a5d3ea"], [1, "#f4f9fc"],
]);
const CONTOUR_LEVELS = 14;
const ENDING_CLASS = {
  global_minimum: "good", local_minimum: "warn", saddle: "warn", flat: "warn",
  maximum: "warn", moving: "info", diverged: "bad",
};

const sortedJSON = (v) => JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

// The config the server must hold after a (re)connect: a shared link's at first (none: take the
// session as it is), later the one the server last confirmed.
let held = decodeState(location.hash) !== null ? loadState({ config: DEFAULTS }).config : null;
function resync(configured) {
  if (!held || sortedJSON(configured.config) === sortedJSON(held)) return null;
  return { type: "configure", lab: "descent", config: held };
}

const sock = new LabSocket("descent", { resync });
const view = {
  config: null, surface: null, grid: null, paths: {}, start: null, state: "paused", lastSteps: -1,
};

// ---- controls ----------------------------------------------------------------------------
const lrFromSlider = (v) => Number((10 ** v).toPrecision(2));
const lrToSlider = (lr) => Math.log10(lr);
const speedFromSlider = (v) => Math.max(1, Math.min(limits.max_speed, Math.round(10 ** v)));

$("#speed").max = Math.log10(limits.max_speed).toFixed(3);

function card(kind) { return $(`.opt[data-kind="${kind}"]`); }

function showControls(config) {
  $$("#surfaces button").forEach((b) => {
    b.setAttribute("role", "radio");
    b.setAttribute("aria-checked", String(b.dataset.surface === config.surface));
  });
  $("#speed").value = Math.log10(config.speed);
  $("#speed-label").textContent = `${Math.round(config.speed)} steps/s`;
  $("#max_steps").value = config.max_steps;
  $("#max_steps").max = limits.max_steps;
  for (const kind of KINDS) {
    const options = config.optimizers[kind];
    const el = card(kind);
    el.classList.toggle("off", !options.enabled);
    el.querySelector('[data-field="enabled"]').checked = options.enabled;
    el.querySelector('[data-field="lr"]').value = lrToSlider(options.lr);
    el.querySelector('[data-out="lr"]').textContent = options.lr;
    if ("noise" in options) {
      el.querySelector('[data-field="noise"]').value = options.noise;
      el.querySelector('[data-out="noise"]').textContent = options.noise.toFixed(1);
      el.querySelector('[data-field="batch"]').value = Math.log2(options.batch);
      el.querySelector('[data-out="batch"]').textContent = options.batch;
    }
    if ("momentum" in options) {
      el.querySelector('[data-field="momentum"]').value = options.momentum;
      el.querySelector('[data-out="momentum"]').textContent = options.momentum.toFixed(2);
    }
  }
}

function readControls() {
  const config = structuredClone(view.config);
  config.speed = speedFromSlider(Number($("#speed").value));
  const steps = Math.round(Number($("#max_steps").value));
  config.max_steps = Math.max(1, Math.min(limits.max_steps, Number.isFinite(steps) ? steps : DEFAULTS.max_steps));
  for (const kind of KINDS) {
    const el = card(kind);
    const options = config.optimizers[kind];
    options.enabled = el.querySelector('[data-field="enabled"]').checked;
    options.lr = lrFromSlider(Number(el.querySelector('[data-field="lr"]').value));
    if ("noise" in options) {
      options.noise = Number(el.querySelector('[data-field="noise"]').value);
      options.batch = 2 ** Number(el.querySelector('[data-field="batch"]').value);
    }
    if ("momentum" in options) options.momentum = Number(el.querySelector('[data-field="momentum"]').value);
  }
  return config;
}

function configure(config, { resume = view.state === "playing" } = {}) {
  sock.send({ type: "configure", lab: "descent", config });
  if (resume) sock.send({ type: "play" });
}

on(document, "click", "#surfaces button", (_, button) => {
  // Only the surface: the server fills in that surface's own learning rates and step budget.
  configure({ surface: button.dataset.surface, speed: view.config?.speed ?? DEFAULTS.speed }, { resume: false });
});
on(document, "input", ".opt input, #speed", (event, input) => {
  const el = input.closest(".opt");
  const field = input.dataset.field;
  if (input.id === "speed") $("#speed-label").textContent = `${speedFromSlider(Number(input.value))} steps/s`;
  if (el && field === "lr") el.querySelector('[data-out="lr"]').textContent = lrFromSlider(Number(input.value));
  if (el && field === "noise") el.querySelector('[data-out="noise"]').textContent = Number(input.value).toFixed(1);
  if (el && field === "batch") el.querySelector('[data-out="batch"]').textContent = 2 ** Number(input.value);
  if (el && field === "momentum") el.querySelector('[data-out="momentum"]').textContent = Number(input.value).toFixed(2);
});
on(document, "change", ".opt input, #speed, #max_steps", () => { if (view.config) configure(readControls()); });

$("#btn-play").addEventListener("click", () => sock.send({ type: view.state === "playing" ? "pause" : "play" }));
$("#btn-step").addEventListener("click", () => sock.send({ type: "step", steps: 1 }));
$("#btn-reset").addEventListener("click", () => sock.send({ type: "reset" }));
$("#btn-ridge").addEventListener("click", () => startAt(-1.8, 0));
$("#btn-near-ridge").addEventListener("click", () => startAt(-1.8, 0.001));
document.addEventListener("keydown", (event) => {
  if (event.code !== "Space" || event.target.closest("input, select, textarea, button")) return;
  event.preventDefault();
  $("#btn-play").click();
});

function startAt(x, y) {
  sock.send({ type: "start", x, y });
  sock.send({ type: "play" });
}

// ---- the surface picture -----------------------------------------------------------------
const plot = $("#plot");
const heat = $("#heat");
const contours = $("#contours");
const paths = $("#paths");

function toCanvas(x, y, w, h) {
  const [xmin, xmax, ymin, ymax] = view.surface.bounds;
  return [((x - xmin) / (xmax - xmin)) * w, ((ymax - y) / (ymax - ymin)) * h];
}

function fromEvent(event) {
  const rect = paths.getBoundingClientRect();
  const [xmin, xmax, ymin, ymax] = view.surface.bounds;
  const fx = (event.clientX - rect.left) / rect.width;
  const fy = (event.clientY - rect.top) / rect.height;
  return [xmin + fx * (xmax - xmin), ymax - fy * (ymax - ymin)];
}

function sizeLayer(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const size = Math.round(plot.clientWidth * dpr);
  if (canvas.width !== size || canvas.height !== size) {
    canvas.width = size;
    canvas.height = size;
  }
  return canvas.getContext("2d");
}

// Marching squares over the uint8 grid (row 0 = top): one polyline segment per crossed cell.
function drawContours() {
  const ctx = sizeLayer(contours);
  ctx.clearRect(0, 0, contours.width, contours.height);
  if (!view.grid) return;
  const { data, n } = view.grid;
  const sx = contours.width / (n - 1);
  const sy = contours.height / (n - 1);
  ctx.lineWidth = Math.max(1, contours.width / 700);
  for (let level = 1; level < CONTOUR_LEVELS; level++) {
    const t = (level * 255) / CONTOUR_LEVELS;
    ctx.strokeStyle = t < 140 ? "rgba(255,255,255,.28)" : "rgba(11,20,55,.22)";
    ctx.beginPath();
    for (let i = 0; i < n - 1; i++) {
      for (let j = 0; j < n - 1; j++) {
        const a = data[i * n + j], b = data[i * n + j + 1];
        const c = data[(i + 1) * n + j + 1], d = data[(i + 1) * n + j];
        const crossings = [];
        if ((a < t) !== (b < t)) crossings.push([j + (t - a) / (b - a), i]);
        if ((b < t) !== (c < t)) crossings.push([j + 1, i + (t - b) / (c - b)]);
        if ((d < t) !== (c < t)) crossings.push([j + (t - d) / (c - d), i + 1]);
        if ((a < t) !== (d < t)) crossings.push([j, i + (t - a) / (d - a)]);
        for (let k = 0; k + 1 < crossings.length; k += 2) {
          ctx.moveTo(crossings[k][0] * sx, crossings[k][1] * sy);
          ctx.lineTo(crossings[k + 1][0] * sx, crossings[k + 1][1] * sy);
        }
      }
    }
    ctx.stroke();
  }
}

function drawMarker(ctx, x, y, r, fill, stroke, star = false) {
  ctx.beginPath();
  if (star) {
    for (let k = 0; k < 10; k++) {
      const radius = k % 2 ? r * 0.45 : r;
      const angle = -Math.PI / 2 + (k * Math.PI) / 5;
      ctx.lineTo(x + radius * Math.cos(angle), y + radius * Math.sin(angle));
    }
    ctx.closePath();
  } else {
    ctx.arc(x, y, r, 0, 2 * Math.PI);
  }
  ctx.fillStyle = fill;
  ctx.fill();
  ctx.lineWidth = r / 4;
  ctx.strokeStyle = stroke;
  ctx.stroke();
}

function drawPaths() {
  const ctx = sizeLayer(paths);
  const w = paths.width, h = paths.height;
  ctx.clearRect(0, 0, w, h);
  if (!view.surface) return;
  const unit = w / 500;
  for (const m of view.surface.minima) {
    const [x, y] = toCanvas(m.point[0], m.point[1], w, h);
    drawMarker(ctx, x, y, (m.global ? 9 : 5) * unit, m.global ? "#ffffff" : "rgba(255,255,255,.7)", "#0b1437", m.global);
  }
  ctx.lineJoin = "round";
  ctx.lineCap = "round";
  for (const kind of KINDS) {
    const path = view.paths[kind];
    if (!path || path.length === 0) continue;
    const pts = [];
    for (let k = 0; k < path.length; k += 2) pts.push(toCanvas(path[k], path[k + 1], w, h));
    for (const [width, color] of [[4.5 * unit, "rgba(11,20,55,.55)"], [2.2 * unit, COLORS[kind]]]) {
      ctx.beginPath();
      pts.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.lineWidth = width;
      ctx.strokeStyle = color;
      ctx.stroke();
    }
    const [x, y] = pts[pts.length - 1];
    drawMarker(ctx, x, y, 5 * unit, COLORS[kind], "#0b1437");
  }
  if (view.start) {
    const [x, y] = toCanvas(view.start[0], view.start[1], w, h);
    drawMarker(ctx, x, y, 6 * unit, "#ffffff", "#ee4c2c");
  }
}
const redraw = rafThrottle(drawPaths);

// The loss under the cursor, read back from the nearest grid cell (undoing the sqrt/log scale).
function lossAt(x, y) {
  const g = view.grid;
  if (!g) return null;
  const [xmin, xmax, ymin, ymax] = view.surface.bounds;
  const j = Math.round(((x - xmin) / (xmax - xmin)) * (g.n - 1));
  const i = Math.round(((ymax - y) / (ymax - ymin)) * (g.n - 1));
  if (i < 0 || j < 0 || i >= g.n || j >= g.n) return null;
  const t = g.data[i * g.n + j] / 255;
  const span = g.max - g.min;
  return g.min + (g.log ? Math.expm1(t * Math.log1p(span)) : (t * Math.sqrt(span)) ** 2);
}

paths.addEventListener("click", (event) => {
  if (!view.surface) return;
  const [x, y] = fromEvent(event);
  startAt(Number(x.toFixed(3)), Number(y.toFixed(3)));
});
paths.addEventListener("mousemove", (event) => {
  if (!view.surface) return;
  const [x, y] = fromEvent(event);
  const loss = lossAt(x, y);
  const value = loss === null ? "" : `, loss ≈ ${fmt(loss, Math.abs(loss) < 10 ? 3 : 0)}`;
  $("#hover").textContent = `x ${x.toFixed(2)}, y ${y.toFixed(2)}${value} — click to start`;
});
new ResizeObserver(() => { drawContours(); drawPaths(); }).observe(plot);

// ---- loss chart --------------------------------------------------------------------------
const chart = new LineChart($("#loss-chart"), {
  series: KINDS.map((k) => ({ label: NAMES[k], color: k === "sgd" ? "#e0a800" : COLORS[k] })),
  yLabel: "loss", height: 200,
});

// ---- messages ----------------------------------------------------------------------------
sock.on("configured", (message) => {
  if (message.resyncing) return; // the page's own config is on its way; its reply follows
  held = message.config;
  const titles = Object.fromEntries(message.options.surfaces.map((s) => [s.name, s.title]));
  fillChoices($("#surfaces"), Object.keys(titles), titles, "surface");
  const newSurface = view.surface?.name !== message.surface.name;
  view.config = message.config;
  view.surface = message.surface;
  view.start = message.start;
  view.paths = {};
  view.lastSteps = -1;
  showControls(message.config);
  $("#surface-title").textContent = message.surface.title;
  $("#surface-note").textContent = message.surface.note;
  $("#scale-note").textContent = message.surface.log_scale ? " (log scale)" : "";
  $("#ridge-tools").hidden = message.surface.name !== "saddle";
  chart.clear();
  if (newSurface) {
    view.grid = null;
    drawContours();
    sock.send({ type: "surface" });
  }
  saveState({ config: message.config });
  redraw();
});

sock.on("frame:surface", (frame) => {
  if (!view.surface || frame.meta.name !== view.surface.name) return;
  const { data, shape } = frame.arrays.grid;
  const { min, max, log_scale: log } = frame.meta;
  view.grid = { data: Uint8Array.from(data), n: shape[0], min, max, log };
  drawGrid(heat, data, shape[1], shape[0], DEPTH);
  drawContours();
});

sock.on("frame:descent", (frame) => {
  if (!view.surface || frame.meta.surface !== view.surface.name) return;
  view.paths = Object.fromEntries(Object.entries(frame.arrays).map(([k, a]) => [k, a.data]));
  view.start = frame.meta.start;
  redraw();
});

sock.on("metrics", (metrics) => {
  let steps = 0;
  for (const kind of KINDS) {
    const el = card(kind);
    const run = metrics.runs[kind];
    el.classList.toggle("off", !run);
    const ending = el.querySelector('[data-stat="ending"]');
    if (!run) {
      el.querySelector('[data-stat="steps"]').textContent = "off";
      el.querySelector('[data-stat="loss"]').textContent = "–";
      el.querySelector('[data-stat="grad"]').textContent = "–";
      ending.hidden = true;
      continue;
    }
    steps = Math.max(steps, run.steps);
    el.querySelector('[data-stat="steps"]').textContent = `step ${run.steps}`;
    el.querySelector('[data-stat="loss"]').textContent = fmt(run.loss, 4);
    el.querySelector('[data-stat="grad"]').textContent = run.grad_norm === null ? "–"
      : run.grad_norm < 1e-3 ? run.grad_norm.toExponential(1) : fmt(run.grad_norm, 4);
    ending.hidden = !run.done;
    if (run.done) {
      ending.className = `opt-ending ${ENDING_CLASS[run.ending] || "info"}`;
      const eig = run.eigenvalues ? ` Hessian eigenvalues ${run.eigenvalues.map((v) => fmt(v, 2)).join(", ")}.` : "";
      ending.textContent = `${NAMES[kind]} ${run.text} after ${run.steps} steps. ${run.detail}${eig}`;
      ending.dataset.ending = run.ending;
    }
  }
  if (steps < view.lastSteps) chart.clear();
  if (steps !== view.lastSteps) {
    view.lastSteps = steps;
    chart.push(steps, KINDS.map((k) => metrics.runs[k]?.loss ?? null));
  }
});

sock.on("state", (message) => {
  view.state = message.state;
  const button = $("#btn-play");
  button.dataset.state = message.state;
  button.setAttribute("aria-label", message.state === "playing" ? "Pause" : "Play");
});
