// The perceptron lab page: the data, the line wᵀx + b = 0, and every number of the last update.
// The server runs the perceptron (ml_core/perceptron.py); this page draws what it sends and turns
// clicks into messages (docs/protocol-perceptron.md). The plot is drawn by perceptron-plot.js and
// the run panel (steps, status, epoch chart) by perceptron-steps.js; this module owns the socket,
// the config and the controls.
import { LabSocket } from "./ws.js";
import { mountCodePanel } from "./code-panel.js";
import { $, $$, on, pct, showError, rafThrottle, fillChoices } from "./ui.js";
import { saveState, decodeState, encodeState, loadState } from "./state.js";
import { LIMITS, DEFAULTS } from "./boot.js";
import { createPlot } from "./perceptron-plot.js";
import { renderSteps, renderStatus, createEpochChart } from "./perceptron-steps.js";

// Display labels of the values the server offers (configured.options); the values are the server's.
const DATASET_LABELS = {
  separable: "Linearly separable", margin: "Separable with a margin",
  noisy: "Noisy (some labels flipped)", xor: "XOR", custom: "Your own drawing",
};
const INIT_LABELS = {
  zeros: "Zeros",
  random: { text: "Random", title: "Each click draws new random weights" },
  line: { text: "Drag a line", title: "Drag the two handles on the plot" },
};
const INIT_HELP = {
  zeros: "w = (0, 0), b = 0: no line at first; the first mistake draws one.",
  random: "w₁, w₂, b drawn at random (normal, σ = 0.5). Click again for new ones.",
  line: "Drag the two orange handles on the plot; w points to the left of handle 1 → handle 2.",
};
const ORDER_LABELS = {
  cycle: "In turn: after an update, go on to the next point",
  restart: "As on the slide: after an update, start over at the first point",
  shuffle: "Shuffled: a new random order every epoch (like SGD)",
};

// What the page holds and the server must match after a (re)connect: the shared link at first
// (null without one: then the page takes the server's session as it is), later what the server
// last confirmed.
const fromLink = decodeState(location.hash) !== null ? loadState({ config: DEFAULTS, points: null }) : null;
let held = fromLink;
let config = structuredClone(fromLink ? fromLink.config : DEFAULTS);
let points = []; // [[x, y, label ±1], ...] as the server has them
let analysis = { separable: true };
let frame = null; // the newest "perceptron" message
let playing = false;
let drawLabel = 1;
let erasing = false;
let drag = null; // {handle: 0|1} while a line handle is dragged

const sortedJSON = (v) => JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

// One `configure` carries the config and, for a drawing, its points.
function configureMessage(cfg, drawn = null) {
  return { type: "configure", lab: "perceptron", config: cfg, ...(drawn ? { points: drawn } : {}) };
}

function resync(configured) {
  if (!held) return null;
  const drawn = held.config.dataset.name === "custom" && Array.isArray(held.points) ? held.points : null;
  const same = sortedJSON(configured.config) === sortedJSON(held.config)
    && (!drawn || sortedJSON(configured.data.points) === sortedJSON(drawn));
  return same ? null : configureMessage(held.config, drawn && drawn.slice(0, LIMITS.max_points));
}

const canvas = $("#canvas");
const plot = createPlot(canvas);
const sock = new LabSocket("perceptron", { resync });
mountCodePanel(sock);
const epochChart = createEpochChart($("#chart"));

// ---- log-scale sliders (0..100) -------------------------------------------------------------
const logScale = (lo, hi) => ({
  toValue: (v) => lo * (hi / lo) ** (v / 100),
  toSlider: (x) => Math.round((100 * Math.log(x / lo)) / Math.log(hi / lo)),
});
const LR = logScale(0.01, 10);
const SPEED = logScale(1, LIMITS.max_speed);
const roundNice = (x) => Number(x.toPrecision(x < 10 ? 2 : 3));

// The plot reads the page state when the frame is drawn.
const redraw = rafThrottle(() => plot.draw({ config, points, frame, drag }));

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
  $("#keep-field").hidden = d.name === "custom";
  $("#draw-hint").textContent = d.name === "custom" ? "Click to add"
    : $("#keep-points").checked ? "Click to draw on top of these points" : "Click to start your own drawing";
  $("#learning_rate").value = LR.toSlider(p.learning_rate);
  $("#lr-label").textContent = p.learning_rate;
  $("#speed").value = SPEED.toSlider(p.speed);
  $("#speed-label").textContent = `${roundNice(p.speed)} /s`;
  $("#order").value = p.order;
  $("#max_epochs").value = p.max_epochs;
  $$("#init button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.init === p.init)));
  $("#init-help").textContent = INIT_HELP[p.init] ?? "";
  $$("#draw-class button").forEach((b) => b.setAttribute("aria-pressed", String(Number(b.dataset.label) === drawLabel)));
  $("#tool-erase").setAttribute("aria-pressed", String(erasing));
}

function save() {
  saveState({ config, points: config.dataset.name === "custom" ? points : undefined });
}

function configure(changes = {}) {
  config = { dataset: { ...config.dataset, ...(changes.dataset || {}) }, perceptron: { ...config.perceptron, ...(changes.perceptron || {}) } };
  sock.send(configureMessage(config));
  renderControls();
}

// The user's drawing: the data becomes "custom" with these points, in one `configure`.
// Leaving a preset, a drawing starts from an empty plane, or from the preset's points when
// "Start my drawing from these points" is ticked.
function drawingBase() {
  return config.dataset.name === "custom" || $("#keep-points").checked ? points : [];
}

function sendPoints(next) {
  if (next.length > LIMITS.max_points) { showError(`At most ${LIMITS.max_points} points.`); return; }
  points = next;
  config = { ...config, dataset: { ...config.dataset, name: "custom" } };
  sock.send(configureMessage(config, points));
  redraw();
}

function renderOptions(options) {
  fillChoices($("#dataset"), options.datasets, DATASET_LABELS);
  fillChoices($("#init"), options.inits, INIT_LABELS, "init");
  fillChoices($("#order"), options.orders, ORDER_LABELS);
}

sock.on("configured", (message) => {
  if (message.resyncing) return; // the page's own config is on its way; its reply follows
  renderOptions(message.options);
  config = message.config;
  points = message.data.points;
  held = { config, points };
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
sock.on("updated", (message) => {
  config = message.config;
  held = { config, points };
  renderControls();
  save();
});
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
  renderSteps(frame);
  renderStatus(frame, analysis, points);
  epochChart.render(frame);
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
$("#dataset").addEventListener("change", (e) => {
  if (e.target.value === "custom") sendPoints(drawingBase());
  else configure({ dataset: { name: e.target.value } });
});
$("#keep-points").addEventListener("change", renderControls);
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
  const at = plot.fromEvent(event);
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
  sendPoints([...drawingBase(), [Number(at[0].toFixed(4)), Number(at[1].toFixed(4)), drawLabel]]);
});
canvas.addEventListener("pointermove", (event) => {
  if (!drag) return;
  const [x, y] = plot.fromEvent(event);
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
renderSteps(frame);
redraw();
