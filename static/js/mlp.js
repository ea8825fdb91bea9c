// The MLP playground page: controls, the websocket session, the live view and the shareable URL.
// The server owns the truth (config, data, model); this module keeps the user's wishes in `cfg`
// (+ drawn `points`), sends them, and draws what comes back. Wire contract: docs/protocol-mlp.md.
import { LabSocket } from "./ws.js";
import { LineChart } from "./charts.js";
import { decodeState, saveState } from "./state.js";
import { $, showError, toast, fmt, pct, rafThrottle } from "./ui.js";
import { LIMITS, mergeConfig } from "./mlp-data.js";
import { classCss, SERIES } from "./palette.js";
import { PlotView } from "./mlp-plot.js";
import { NetworkView } from "./mlp-network.js";
import { Controls } from "./mlp-controls.js";

import { LIMITS as limits } from "./boot.js";
LIMITS.layers = limits.max_hidden_layers ?? LIMITS.layers;
LIMITS.neurons = limits.max_neurons ?? LIMITS.neurons;
LIMITS.classes = limits.max_classes ?? LIMITS.classes;
LIMITS.points = limits.max_points ?? LIMITS.points;

// ---- state -------------------------------------------------------------------------------------
const saved = decodeState(location.hash) || {};
let cfg = mergeConfig(saved.config);
let points = cleanPoints(saved.points); // the user's drawn points (custom dataset), or null
if (points && points.length) cfg.dataset.name = "custom"; // a link with points means: these
let data = { train: [], val: [] }; // the server's split of the current dataset
let pending = 0; // configure/points messages not yet answered: do not adopt stale replies
// Mirror it on the page (data-pending) so a test or a curious user can see the page is in sync.
const setPending = (n) => {
  pending = n;
  document.getElementById("mlp").dataset.pending = n;
};
let syncing = true; // just (re)connected: check the server's session matches this page
let playState = "paused";
let lastStep = -1;
let frame = null;
let hover = null; // getter of the hovered neuron's map, or null
let looking = null; // [x, y] of the cursor over the plot, or null
let warnedFull = false;
let accepted = null; // the last config the server took
let engine = ""; // where and how the server trains: "cpu · fast path"

function cleanPoints(list) {
  if (!Array.isArray(list)) return null;
  const ok = list.filter((p) => Array.isArray(p) && p.length === 3
    && p.every((v) => typeof v === "number" && Number.isFinite(v))
    && Math.abs(p[0]) <= 1 && Math.abs(p[1]) <= 1 && Number.isInteger(p[2])
    && p[2] >= 0 && p[2] < LIMITS.classes);
  return ok.slice(0, LIMITS.points);
}

const isCustom = () => cfg.dataset.name === "custom";
// Does the server's split of a custom dataset hold exactly these points (in any order)?
function samePoints(split, pts) {
  const key = (list) => list.map((p) => p.join(",")).sort().join(";");
  return Boolean(split && pts) && key([...split.train, ...split.val]) === key(pts);
}
const classesUsed = (pts) => new Set(pts.map((p) => p[2])).size;
const trainable = () => !isCustom() || (points && classesUsed(points) >= 2);

function share() {
  const state = { config: cfg };
  if (isCustom() && points) state.points = points;
  saveState(state);
}

// ---- talking to the server ---------------------------------------------------------------------
const sock = new LabSocket("mlp");

// Send the whole config (a reset); drawn points follow, since configure alone cannot carry them.
// An empty drawing is not sent at all: the server would refuse it; it goes once it can train.
let configDirty = false;

function configure() {
  share();
  setDiverged(false);
  if (!trainable()) {
    configDirty = true;
    showEmpty();
    return;
  }
  sock.send({ type: "configure", lab: "mlp", config: cfg });
  setPending(pending + 1);
  configDirty = false;
  if (isCustom()) sendPoints(false);
}

function sendPoints(save = true) {
  if (save) share();
  if (!trainable()) {
    showEmpty();
    return;
  }
  $("#empty-hint").hidden = true;
  if (configDirty) return configure();
  sock.send({ type: "points", points });
  setPending(pending + 1);
}

// Nothing to train on: a blank plot with a hint, the drawn points (if any) on top.
function showEmpty() {
  $("#empty-hint").hidden = false;
  frame = null;
  plot.blank();
  plot.setPoints(points || [], []);
  network.setStale(true);
  clearMetrics();
}

function clearMetrics() {
  lastStep = -1;
  chart.clear();
  for (const id of ["#train-loss", "#val-loss", "#train-acc", "#val-acc"]) {
    $(id).textContent = "–";
  }
  $("#epoch").textContent = "0";
  $("#step").textContent = "0";
}

// A partial change of the config: `patch` is {section: {key: value}}.
function change(patch) {
  for (const [section, values] of Object.entries(patch)) Object.assign(cfg[section], values);
  controls.render();
  configure();
}

// Learning rate and weight decay change on the fly: no reset, the step counter keeps going.
function setOnTheFly(key, value) {
  cfg.training[key] = value;
  share();
  sock.send({ type: "set", training: { [key]: value } });
}

sock.on("hello", () => {
  setPending(0);
  syncing = true;
  document.getElementById("mlp").dataset.pending = "sync";
});

sock.on("configured", (msg) => {
  if (syncing) {
    // After a (re)connect the server tells us what its session holds; if that is not this
    // page's state (new session, a shared link, a custom dataset), send ours.
    syncing = false;
    const same = JSON.stringify(mergeConfig(msg.config)) === JSON.stringify(cfg)
      && (!isCustom() || samePoints(msg.data, points));
    if (!same) {
      configure();
      setPending(pending);
      return;
    }
  } else if (pending > 0) {
    setPending(pending - 1);
    if (pending > 0) return; // a newer request is in flight: its reply will follow
  }
  adopt(msg);
  setPending(pending);
});

// ws.js has shown the message already. A refused configure leaves the server as it was, so the
// controls go back to the last config it accepted.
sock.on("error", () => {
  if (pending === 0) return;
  setPending(pending - 1);
  if (pending === 0 && accepted) {
    cfg = structuredClone(accepted);
    controls.render();
    share();
  }
});

sock.on("updated", (msg) => {
  if (msg.config?.training) Object.assign(cfg.training, msg.config.training);
  share();
});

sock.on("state", (msg) => {
  playState = msg.state;
  $("#btn-play").dataset.state = msg.state === "playing" ? "playing" : "paused";
  $("#btn-play").setAttribute("aria-label", msg.state === "playing" ? "Pause" : "Play");
  setDiverged(msg.state === "diverged");
});

sock.on("metrics", (m) => {
  if (playState === "diverged") return; // the run was thrown away: its numbers mean nothing
  if (m.step < lastStep) chart.clear();
  lastStep = m.step;
  $("#epoch").textContent = m.epoch.toLocaleString("en-US");
  $("#step").textContent = m.step.toLocaleString("en-US");
  $("#train-loss").textContent = fmt(m.train_loss, 4);
  $("#val-loss").textContent = fmt(m.val_loss, 4);
  $("#train-acc").textContent = pct(m.train_accuracy);
  $("#val-acc").textContent = pct(m.val_accuracy);
  const rate = m.epochs_per_s ? `${m.epochs_per_s.toFixed(0)} epochs/s · ` : "";
  $("#speed").textContent = rate + engine;
  if (m.train_loss !== null && m.train_loss !== undefined) {
    chart.push(m.step, [m.train_loss, m.val_loss]);
  }
});

sock.on("frame:mlp", (f) => {
  frame = f;
  drawFrame();
});

const drawFrame = rafThrottle(() => {
  if (!frame || playState === "diverged" || !trainable()) return;
  const m = frame.meta;
  if (m.classes !== Math.max(2, cfg.dataset.classes)) return; // from before a reconfigure
  plot.drawOutput(frame.arrays.output.data, frame.arrays.output_class.data, m.grid, m.classes);
  network.update(frame);
  if (hover) showHover(hover);
  else if (looking) showReadout();
});

// Take the server's answer: the normalised config, the data split, the model and the notes.
function adopt(msg) {
  cfg = mergeConfig(msg.config);
  accepted = structuredClone(cfg);
  data = msg.data || { train: [], val: [] };
  frame = null;
  clearMetrics();
  network.setStale(playState === "diverged");
  if (msg.model) {
    $("#params").textContent = msg.model.parameters.toLocaleString("en-US");
    engine = [msg.model.device, msg.model.engine && `${msg.model.engine} path`]
      .filter(Boolean).join(" · ");
    $("#speed").textContent = engine;
  }
  const notes = $("#notes");
  notes.replaceChildren(...(msg.notes || []).map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
  controls.render();
  plot.setPoints(data.train, data.val);
  $("#empty-hint").hidden = trainable();
  share();
}

// ---- views -------------------------------------------------------------------------------------
const chart = new LineChart($("#chart"), {
  series: [SERIES.train, SERIES.val],
  yLabel: "loss", xLabel: "step", height: 170,
});

const plot = new PlotView($("#plot"), {
  add(x, y, c) {
    if (points.length >= LIMITS.points) {
      if (!warnedFull) showError(`At most ${LIMITS.points} points.`);
      warnedFull = true;
      return;
    }
    points.push([+x.toFixed(3), +y.toFixed(3), c]);
    plot.setPoints(points, []);
    controls.renderLabels();
  },
  erase(x, y, r) {
    const before = points.length;
    points = points.filter((p) => Math.hypot(p[0] - x, p[1] - y) > r);
    if (points.length !== before) {
      plot.setPoints(points, []);
      controls.renderLabels();
    }
  },
  commit() {
    warnedFull = false;
    sendPoints();
  },
  look(at) {
    looking = at;
    if (!hover) showReadout();
  },
});

// What the network answers under the cursor, read from the last decision map.
function showReadout() {
  const f = frame;
  if (!looking || !f || playState === "diverged") {
    $("#hover-title").textContent = "";
    return;
  }
  const [x, y] = looking;
  const g = f.meta.grid;
  const i = Math.round(((1 - y) / 2) * (g - 1)) * g + Math.round(((x + 1) / 2) * (g - 1));
  const v = f.arrays.output.data[i] / 255;
  // 2 classes: v is P(class 2); k classes: v is the winner's probability.
  const k = f.meta.classes;
  const cls = k > 2 ? f.arrays.output_class.data[i] : v >= 0.5 ? 1 : 0;
  const p = k > 2 ? v : Math.max(v, 1 - v);
  $("#hover-title").textContent = `(${x.toFixed(2)}, ${y.toFixed(2)}) → class ${cls + 1}, `
    + `${(100 * p).toFixed(0)}% sure`;
  $("#hover-title").style.color = classCss(cls);
}

const network = new NetworkView($("#network"), {
  toggleFeature: (id) => controls.toggleFeature(id),
  neurons: (layer, delta) => controls.neurons(layer, delta),
  hover(get) {
    hover = get;
    showHover(get);
  },
});

function showHover(get) {
  const info = get ? get() : null;
  plot.showNeuron(info && info.data ? info.data : null, info ? info.t : 0);
  if (!info) return showReadout();
  $("#hover-title").textContent = info.title;
  $("#hover-title").style.color = "";
}

function setDiverged(on) {
  $("#diverged").hidden = !on;
  $("#plot").classList.toggle("diverged", on);
  network.setStale(on);
  if (on) {
    plot.blank();
    clearMetrics();
  }
}

// ---- controls ----------------------------------------------------------------------------------
// What the controls may read and do; they own only the drawing tool.
const app = {
  get cfg() { return cfg; },
  get points() { return points; },
  set points(value) { points = value; },
  get data() { return data; },
  isCustom, change, configure, sendPoints, setOnTheFly, plot, network,
};
const controls = new Controls(app);

// ---- transport ---------------------------------------------------------------------------------
function togglePlay() {
  if (playState === "playing") return sock.send({ type: "pause" });
  if (!trainable()) return showError("Draw points of at least two classes first.");
  sock.send({ type: "play" });
}
$("#btn-play").addEventListener("click", togglePlay);
$("#btn-step").addEventListener("click", () => {
  if (!trainable()) return showError("Draw points of at least two classes first.");
  sock.send({ type: "step", steps: 1 });
});
$("#btn-reset").addEventListener("click", () => {
  setDiverged(false);
  sock.send({ type: "reset" });
});
$("#btn-lower-lr").addEventListener("click", () => controls.lowerLearningRate());
document.addEventListener("keydown", (e) => {
  if (e.code !== "Space" || e.target.closest("input, select, textarea, button")) return;
  e.preventDefault();
  togglePlay();
});

$("#btn-copy").addEventListener("click", async () => {
  share();
  try {
    await navigator.clipboard.writeText(location.href);
    toast("Link copied: it opens this exact playground, data included.");
  } catch {
    const area = Object.assign(document.createElement("textarea"), { value: location.href });
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    if (ok) toast("Link copied: it opens this exact playground, data included.");
    else showError("Could not reach the clipboard: copy the address bar instead.");
  }
});

// ---- start -------------------------------------------------------------------------------------
if (isCustom() && !points) points = [];
controls.render();
plot.blank();
share();
