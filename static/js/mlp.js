// The MLP playground page: controls, the websocket session, the live view and the shareable URL.
// The server owns the truth (config, data, model); this module keeps the user's wishes in `cfg`
// (+ drawn `points`), sends them, and draws what comes back. Wire contract: docs/protocol-mlp.md.
import { LabSocket } from "./ws.js";
import { LineChart } from "./charts.js";
import { decodeState, saveState } from "./state.js";
import { $, $$, on, showError, toast, fmt, pct, rafThrottle } from "./ui.js";
import {
  ACTIVATIONS, BATCH_SIZES, DEFAULT_CONFIG, FEATURES, LEARNING_RATES, LIMITS, LOSSES, OPTIMIZERS, PRESETS,
  WEIGHT_DECAYS, classCss, drawPresetIcon, mergeConfig,
} from "./mlp-data.js";
import { PlotView } from "./mlp-plot.js";
import { NetworkView } from "./mlp-network.js";

const limits = window.TORCHPLAY_LIMITS || {};
LIMITS.layers = limits.max_hidden_layers ?? LIMITS.layers;
LIMITS.neurons = limits.max_neurons ?? LIMITS.neurons;
LIMITS.classes = limits.max_classes ?? LIMITS.classes;
LIMITS.points = limits.max_points ?? LIMITS.points;

// ---- state -------------------------------------------------------------------------------------
const saved = decodeState(location.hash) || {};
let cfg = mergeConfig(saved.config);
let points = cleanPoints(saved.points); // the user's drawn points (custom dataset), or null
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
let tool = cfg.dataset.name === "custom" ? "add" : null;
let drawClass = 0;
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
const classesUsed = (pts) => new Set(pts.map((p) => p[2])).size;
const trainable = () => !isCustom() || (points && classesUsed(points) >= 2);
let presetSamples = isCustom() ? DEFAULT_CONFIG.dataset.samples : cfg.dataset.samples;

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
}

// A partial change of the config: `patch` is {section: {key: value}}.
function change(patch) {
  for (const [section, values] of Object.entries(patch)) Object.assign(cfg[section], values);
  renderControls();
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
    const same = JSON.stringify(mergeConfig(msg.config)) === JSON.stringify(cfg);
    if (!same || isCustom()) {
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
    renderControls();
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
  if (m.train_loss !== null && m.train_loss !== undefined) chart.push(m.step, [m.train_loss, m.val_loss]);
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
});

// Take the server's answer: the normalised config, the data split, the model and the notes.
function adopt(msg) {
  cfg = mergeConfig(msg.config);
  accepted = structuredClone(cfg);
  data = msg.data || { train: [], val: [] };
  frame = null;
  lastStep = -1;
  chart.clear();
  for (const id of ["#train-loss", "#val-loss", "#train-acc", "#val-acc"]) $(id).textContent = "–";
  $("#epoch").textContent = "0";
  $("#step").textContent = "0";
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
  renderControls();
  plot.setPoints(data.train, data.val);
  $("#empty-hint").hidden = trainable();
  share();
}

// ---- views -------------------------------------------------------------------------------------
const chart = new LineChart($("#chart"), {
  series: [{ label: "train", color: "#475467" }, { label: "validation", color: "#e8590c" }],
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
    $("#samples-label").textContent = `${points.length} drawn`;
  },
  erase(x, y, r) {
    const before = points.length;
    points = points.filter((p) => Math.hypot(p[0] - x, p[1] - y) > r);
    if (points.length !== before) plot.setPoints(points, []);
    $("#samples-label").textContent = `${points.length} drawn`;
  },
  commit() {
    warnedFull = false;
    sendPoints();
  },
});

const network = new NetworkView($("#network"), {
  toggleFeature(id) {
    const on = cfg.model.features.includes(id);
    if (on && cfg.model.features.length === 1) {
      showError("The network needs at least one input feature.");
      return;
    }
    const next = on ? cfg.model.features.filter((f) => f !== id) : [...cfg.model.features, id];
    change({ model: { features: FEATURES.map((f) => f.id).filter((f) => next.includes(f)) } });
  },
  neurons(layer, delta) {
    const hidden = [...cfg.model.hidden];
    hidden[layer] = Math.max(1, Math.min(LIMITS.neurons, hidden[layer] + delta));
    change({ model: { hidden } });
  },
  hover(get) {
    hover = get;
    showHover(get);
  },
});

function showHover(get) {
  const info = get ? get() : null;
  $("#hover-title").textContent = info ? info.title : "";
  plot.showNeuron(info && info.data ? info.data : null, info ? info.t : 0);
}

function setDiverged(on) {
  $("#diverged").hidden = !on;
  $("#plot").classList.toggle("diverged", on);
  network.setStale(on);
  if (on) plot.blank();
}

// ---- controls ----------------------------------------------------------------------------------
function fillSelect(select, options, format = (v) => v) {
  select.replaceChildren(...options.map((o) => {
    const [value, label] = Array.isArray(o) ? o : [o, format(o)];
    return new Option(label, String(value));
  }));
}

function setSelect(select, value) {
  const v = String(value);
  if (![...select.options].some((o) => o.value === v)) select.add(new Option(v, v));
  select.value = v;
}

fillSelect($("#learning_rate"), LEARNING_RATES);
fillSelect($("#weight_decay"), WEIGHT_DECAYS, (v) => (v === 0 ? "none" : String(v)));
fillSelect($("#optimizer"), OPTIMIZERS);
fillSelect($("#loss"), LOSSES);
fillSelect($("#activation"), ACTIVATIONS);

for (const preset of PRESETS) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "mlp-preset";
  button.dataset.preset = preset.id;
  button.setAttribute("role", "radio");
  button.title = preset.title;
  const icon = document.createElement("canvas");
  icon.width = icon.height = 96;
  drawPresetIcon(icon, preset.id);
  const label = document.createElement("span");
  label.textContent = preset.label;
  button.append(icon, label);
  $("#presets").append(button);
}

// Batch size: the slider walks BATCH_SIZES; its last stop (0) is the whole training set.
const trainCount = () => (isCustom() ? data.train.length
  : Math.round(cfg.dataset.samples * (1 - cfg.dataset.val_fraction)));
const batchIndex = (size) => {
  if (size >= LIMITS.points) return BATCH_SIZES.length - 1;
  let best = 0;
  BATCH_SIZES.forEach((b, i) => {
    if (b && Math.abs(b - size) < Math.abs(BATCH_SIZES[best] - size)) best = i;
  });
  return best;
};

function describeBatch(size) {
  const n = trainCount();
  if (size >= LIMITS.points || (n && size >= n)) {
    return [size >= LIMITS.points ? "all" : String(size),
      `full batch (all ${n || ""} training points): plain gradient descent, one step per epoch`];
  }
  if (size === 1) return ["1", "one point per step: pure stochastic gradient descent"];
  return [String(size), `mini-batch SGD: ${n ? Math.ceil(n / size) : "?"} steps per epoch`];
}

function renderControls() {
  const d = cfg.dataset;
  const preset = PRESETS.find((p) => p.id === d.name) || PRESETS[0];
  for (const b of $$(".mlp-preset")) {
    const on = b.dataset.preset === d.name;
    b.classList.toggle("on", on);
    b.setAttribute("aria-checked", String(on));
  }
  $("#classes").max = LIMITS.classes;
  $("#classes").value = d.classes;
  $("#classes").disabled = !preset.multi;
  $("#classes-field").classList.toggle("disabled", !preset.multi);
  $("#classes-label").textContent = d.classes;
  $("#samples").max = LIMITS.points;
  $("#samples").value = d.samples;
  $("#samples-label").textContent = isCustom() ? `${(points || []).length} drawn` : d.samples;
  $("#samples").disabled = $("#noise").disabled = isCustom();
  $("#noise").value = d.noise;
  $("#noise-label").textContent = d.noise.toFixed(2);
  $("#val_fraction").value = d.val_fraction;
  const valPct = Math.round(d.val_fraction * 100);
  $("#split-label").textContent = `${100 - valPct}% / ${valPct}%`;
  $("#seed").value = d.seed;

  const m = cfg.model;
  $("#layer-count").textContent = m.hidden.length;
  $("#layer-count").parentElement.lastChild.textContent = m.hidden.length === 1
    ? " hidden layer" : " hidden layers";
  $("#layer-add").disabled = m.hidden.length >= LIMITS.layers;
  $("#layer-remove").disabled = m.hidden.length === 0;
  setSelect($("#activation"), m.activation);
  $("#dropout").value = m.dropout;
  $("#dropout-label").textContent = m.dropout ? m.dropout.toFixed(2) : "off";
  $("#batch_norm").checked = m.batch_norm;

  const t = cfg.training;
  setSelect($("#learning_rate"), t.learning_rate);
  setSelect($("#weight_decay"), t.weight_decay);
  setSelect($("#optimizer"), t.optimizer);
  setSelect($("#loss"), t.loss);
  $("#batch_size").value = batchIndex(t.batch_size);
  const [label, help] = describeBatch(t.batch_size);
  $("#batch-label").textContent = label;
  $("#batch-help").textContent = help;

  renderSwatches();
  network.build({ features: m.features, hidden: m.hidden, classes: Math.max(2, d.classes) });
}

function renderSwatches() {
  const k = Math.max(2, cfg.dataset.classes);
  drawClass = Math.min(drawClass, k - 1);
  const swatches = [];
  for (let c = 0; c < k; c++) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "mlp-swatch";
    b.dataset.class = c;
    b.style.setProperty("--c", classCss(c));
    b.setAttribute("role", "radio");
    const on = tool === "add" && drawClass === c;
    b.classList.toggle("on", on);
    b.setAttribute("aria-checked", String(on));
    b.title = `Draw points of class ${c + 1}`;
    b.setAttribute("aria-label", `class ${c + 1}`);
    swatches.push(b);
  }
  $("#swatches").replaceChildren(...swatches);
  $("#tool-erase").classList.toggle("on", tool === "erase");
  $("#draw-tools").classList.toggle("active", isCustom());
  plot.setTool(isCustom() ? tool : null, drawClass);
}

// Start drawing: the current data (what the user sees) becomes the editable custom dataset.
function toCustom() {
  if (isCustom()) return;
  presetSamples = cfg.dataset.samples;
  if (!points) points = [...data.train, ...data.val].map((p) => [...p]);
  const k = Math.max(cfg.dataset.classes, ...points.map((p) => p[2] + 1), 2);
  tool = "add";
  change({ dataset: { name: "custom", classes: Math.min(k, LIMITS.classes) } });
}

on($("#presets"), "click", ".mlp-preset", (_, b) => {
  const id = b.dataset.preset;
  if (id === "custom") return toCustom();
  const spec = PRESETS.find((p) => p.id === id);
  let classes = spec.multi ? cfg.dataset.classes : 2;
  if (id === "blobs" && classes === 2) classes = 4;
  tool = null;
  // A custom dataset's sample count is its number of drawn points: go back to the preset's.
  const samples = isCustom() ? presetSamples : cfg.dataset.samples;
  change({ dataset: { name: id, classes, samples } });
});

on($("#swatches"), "click", ".mlp-swatch", (_, b) => {
  drawClass = Number(b.dataset.class);
  tool = "add";
  if (!isCustom()) return toCustom();
  renderSwatches();
});

$("#tool-erase").addEventListener("click", () => {
  tool = tool === "erase" ? "add" : "erase";
  if (!isCustom()) return toCustom();
  renderSwatches();
});

$("#btn-clear").addEventListener("click", () => {
  points = [];
  if (!isCustom()) {
    tool = "add";
    return change({ dataset: { name: "custom" } });
  }
  renderControls();
  sendPoints();
});

// Sliders: live labels while dragging, one reconfigure when released.
const datasetInput = (id, parse = Number) => {
  $(`#${id}`).addEventListener("input", (e) => {
    cfg.dataset[id] = parse(e.target.value);
    renderLabelsOnly();
  });
  $(`#${id}`).addEventListener("change", () => configureDataset());
};

function renderLabelsOnly() {
  const d = cfg.dataset;
  $("#classes-label").textContent = d.classes;
  if (!isCustom()) $("#samples-label").textContent = d.samples;
  $("#noise-label").textContent = d.noise.toFixed(2);
  const valPct = Math.round(d.val_fraction * 100);
  $("#split-label").textContent = `${100 - valPct}% / ${valPct}%`;
  $("#dropout-label").textContent = cfg.model.dropout ? cfg.model.dropout.toFixed(2) : "off";
}

function configureDataset() {
  if (isCustom() && points) {
    const dropped = points.filter((p) => p[2] >= cfg.dataset.classes).length;
    if (dropped) {
      points = points.filter((p) => p[2] < cfg.dataset.classes);
      toast(`Removed ${dropped} points of the classes you took away.`);
    }
  }
  renderControls();
  configure();
}

datasetInput("classes");
datasetInput("samples");
datasetInput("noise");
datasetInput("val_fraction");
$("#seed").addEventListener("change", (e) => {
  const seed = Math.round(Number(e.target.value));
  if (!Number.isFinite(seed) || seed < 0) {
    showError("The seed is a whole number, 0 or more.");
    e.target.value = cfg.dataset.seed;
    return;
  }
  cfg.dataset.seed = seed;
  configureDataset();
});
$("#btn-regenerate").addEventListener("click", () => change({ dataset: { seed: cfg.dataset.seed + 1 } }));
$("#show-val").addEventListener("change", (e) => plot.setShowVal(e.target.checked));

$("#layer-add").addEventListener("click", () => {
  const hidden = cfg.model.hidden;
  if (hidden.length < LIMITS.layers) change({ model: { hidden: [...hidden, hidden.at(-1) ?? 4] } });
});
$("#layer-remove").addEventListener("click", () => {
  change({ model: { hidden: cfg.model.hidden.slice(0, -1) } });
});
$("#activation").addEventListener("change", (e) => change({ model: { activation: e.target.value } }));
$("#dropout").addEventListener("input", (e) => {
  cfg.model.dropout = Number(e.target.value);
  renderLabelsOnly();
});
$("#dropout").addEventListener("change", () => configure());
$("#batch_norm").addEventListener("change", (e) => change({ model: { batch_norm: e.target.checked } }));

$("#learning_rate").addEventListener("change", (e) => setOnTheFly("learning_rate", Number(e.target.value)));
$("#weight_decay").addEventListener("change", (e) => setOnTheFly("weight_decay", Number(e.target.value)));
$("#optimizer").addEventListener("change", (e) => change({ training: { optimizer: e.target.value } }));
$("#loss").addEventListener("change", (e) => change({ training: { loss: e.target.value } }));
$("#batch_size").addEventListener("input", (e) => {
  const b = BATCH_SIZES[Number(e.target.value)];
  const size = b === 0 ? LIMITS.points : b;
  const [label, help] = describeBatch(size);
  $("#batch-label").textContent = label;
  $("#batch-help").textContent = help;
});
$("#batch_size").addEventListener("change", (e) => {
  const b = BATCH_SIZES[Number(e.target.value)];
  change({ training: { batch_size: b === 0 ? LIMITS.points : b } });
});

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
$("#btn-lower-lr").addEventListener("click", () => {
  const lower = LEARNING_RATES.filter((r) => r <= cfg.training.learning_rate / 10).at(-1);
  change({ training: { learning_rate: lower ?? cfg.training.learning_rate / 10 } });
});
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

// ---- start ---------------------------------------------------------------------------------------
if (isCustom() && !points) points = [];
renderControls();
plot.blank();
share();
