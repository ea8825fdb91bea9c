// CNN lab page: build a convolutional net, train it on the server, watch what it learns.
// Wire contract: docs/protocol-cnn.md. Panels are drawn by cnn-views.js and kept up to date by
// cnn-results.js, the curves and counters are cnn-curves.js, the architecture editor is
// cnn-builder.js, "your own image" is cnn-own.js; this module owns the socket, the config draft
// and the training controls.
//
// Editing: every change goes into `draft` (a full config). Architecture and data edits are checked
// at once with `inspect` (shapes, parameter counts, impossible layers); nothing resets until the
// user presses "Apply & reset" — or play/step, which apply pending changes first.
//
// The config this page wants is a shared link's (the URL hash) over the server's defaults
// (boot.js DEFAULTS), or, without a link, whatever the session holds; after the first
// `configured`, what the server last built. On every (re)connect ws.js asks `resync` whether the
// session holds it, and sends the configure that makes it so.
import { LabSocket } from "./ws.js";
import { mountCodePanel } from "./code-panel.js";
import { $, on, toast, pct } from "./ui.js";
import { decodeState, merge, saveState } from "./state.js";
import { Builder, fmtInt } from "./cnn-builder.js";
import { drawTiles, fitTiles } from "./cnn-draw.js";
import { esc } from "./cnn-views.js";
import { OwnImage } from "./cnn-own.js";
import { SettingsForm, LEARNING_RATES } from "./cnn-settings.js";
import { Curves } from "./cnn-curves.js";
import { Results } from "./cnn-results.js";
import { Tracer, renderFlatten } from "./cnn-trace.js";
import { LayerTable } from "./cnn-tensors.js";
import { Channels } from "./cnn-channels.js";
import { Explainer } from "./cnn-explain.js";
import { BatchNormPanel } from "./cnn-bn.js";
import { References } from "./cnn-reference.js";

import { DEFAULTS, LIMITS } from "./boot.js";
const STEP_BATCHES = 10;
const PRESET_LABELS = { default: "Default (2 blocks)", lenet5: "LeNet-5", vgg_small: "Small VGG", tiny_vgg: "Tiny VGG" };

const link = decodeState(location.hash)?.config;
const linked = link ? merge(DEFAULTS, link) : null;  // a shared link's config, over the defaults

const ui = {
  live: null,          // the last `configured` message
  draft: null,         // full config being edited
  playing: false,
  awaitingConfigure: false,
  playAfterConfigure: false,
  inspectTimer: 0,
  fallback: null,      // the session's `configured` while the page's own config is on its way
};

// After every (re)connect: the configure that makes the session hold this page's config, or null.
function resync(configured, hello) {
  const wanted = ui.live ? ui.live.config : linked;
  if (!wanted || same(wanted, configured.config)) return null;
  if (ui.live && !hello.resumed) toast("The server session was new: your settings were rebuilt (training starts again).");
  ui.awaitingConfigure = true;
  return { type: "configure", lab: "cnn", config: wanted };
}
const sock = new LabSocket("cnn", { resync });
mountCodePanel(sock);

// ---------------------------------------------------------------- curves
const curves = new Curves(sock, { labelNoise: () => ui.live?.config.label_noise });

// ---------------------------------------------------------------- builder
const builder = new Builder($("#blocks"), {
  limits: LIMITS,
  arch: DEFAULTS.architecture,
  onChange: (arch) => {
    ui.draft.architecture = structuredClone(arch);
    $("#preset").value = "";
    draftChanged();
  },
});

// ---------------------------------------------------------------- data & training controls
const form = new SettingsForm(LIMITS);
const controls = form.controls;
const readControls = () => form.read(ui.draft);

function draftChanged() {
  if (!ui.draft) return;
  readControls();
  form.refresh();
  const pending = isPending();
  $("#config-pending").hidden = !pending;
  $("#btn-apply").classList.toggle("pulse", pending);
  $("#btn-apply").classList.toggle("primary", pending);
  $("#arch-pending").textContent = pending ? "changes not applied yet" : "";
  clearTimeout(ui.inspectTimer);
  ui.inspectTimer = setTimeout(() => sock.send({ type: "inspect", config: ui.draft }), 150);
}

on($("#cnn"), "input", ".cnn-data input, .cnn-data select, .cnn-train input, .cnn-train select", () => draftChanged());
on($("#cnn"), "change", ".cnn-data select, .cnn-train select, .cnn-data input[type=checkbox]", () => draftChanged());
on($("#imbalance-classes"), "click", "button", (e, b) => {
  b.setAttribute("aria-pressed", String(b.getAttribute("aria-pressed") !== "true"));
  draftChanged();
});
controls.dataset.addEventListener("change", () => {
  // a new dataset has other classes: drop the imbalance choice and apply at once
  form.clearImbalance();
  readControls();
  apply();
});
$("#preset").addEventListener("change", (e) => {
  const preset = ui.live?.presets?.[e.target.value];
  if (!preset) return;
  ui.draft.architecture = structuredClone(preset);
  builder.set(preset);
  if (e.target.value === "lenet5" && ui.draft.dataset === "digits" && ui.draft.upscale < 4) {
    controls.upscale.value = 4;
    controls.upscale.dispatchEvent(new Event("input"));
    toast("LeNet-5 needs larger inputs: digits are upscaled ×4 (32×32).");
  }
  draftChanged();
  $("#preset").value = e.target.value;
});

function apply({ play = false } = {}) {
  readControls();
  ui.awaitingConfigure = true;
  ui.playAfterConfigure = play;
  sock.send({ type: "configure", lab: "cnn", config: ui.draft });
}

// ---------------------------------------------------------------- transport
function setPlaying(playing) {
  ui.playing = playing;
  const btn = $("#btn-play");
  btn.dataset.state = playing ? "playing" : "paused";
  btn.setAttribute("aria-label", playing ? "Pause" : "Play");
}

// Configs compared by value, whatever the key order the server sends them in.
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  }
  return value;
}
function same(a, b) {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function isPending() {
  return Boolean(ui.live) && !same(ui.draft, ui.live.config);
}

function play() {
  if (ui.playing) {
    sock.send({ type: "pause" });
    setPlaying(false);
    return;
  }
  if (isPending()) apply({ play: true });
  else sock.send({ type: "play" });
  setPlaying(true);
  runState("");
}

$("#btn-play").addEventListener("click", play);
$("#btn-step").addEventListener("click", () => {
  if (isPending()) apply();
  sock.send({ type: "step", steps: STEP_BATCHES });
  setPlaying(false);
});
$("#btn-reset").addEventListener("click", () => {
  sock.send({ type: "reset" });
  setPlaying(false);
  curves.clear();
  runState("");
});
$("#btn-apply").addEventListener("click", () => apply());
document.addEventListener("keydown", (e) => {
  if (e.code !== "Space" || e.target.closest("input, select, textarea, button, [contenteditable]")) return;
  e.preventDefault();
  play();
});

// The training bar sticks under the top bar: whatever the page scrolls to (scrollIntoView, focus,
// a link) stops below the two, not under them. The bar wraps on narrow screens: follow its height.
const trainingBar = $(".cnn-bar");
new ResizeObserver(() => {
  const covered = parseFloat(getComputedStyle(trainingBar).top) + trainingBar.offsetHeight + 8;
  document.documentElement.style.scrollPaddingTop = `${Math.round(covered)}px`;
}).observe(trainingBar);

function runState(text, kind = "") {
  const el = $("#run-state");
  el.textContent = text;
  el.className = `cnn-state ${kind}`;
}

// ---------------------------------------------------------------- socket: configuration
// A resumed session that already holds this page's config: redraw the curves and every panel.
sock.on("resync", ({ corrected }) => {
  if (!corrected && sock.hello.resumed) sock.send({ type: "refresh" });
});

sock.on("configured", (m) => {
  if (m.resyncing) {
    ui.fallback = m;  // what the session held; shown only if the page's config is refused
    return;
  }
  show(m);
});

function show(m) {
  ui.fallback = null;
  ui.live = m;
  ui.draft = structuredClone(m.config);
  ui.awaitingConfigure = false;
  form.write(m.config, m);
  builder.setChoices(m.choices);
  builder.set(m.config.architecture);
  builder.setShapes({ ok: true, error: null, input_shape: m.dataset.input_shape, layers: m.layers, total_params: m.total_params });
  showShapes({ ok: true, total_params: m.total_params });
  $("#preset").innerHTML = `<option value="">custom</option>` + Object.keys(m.presets).map((name) =>
    `<option value="${esc(name)}">${esc(PRESET_LABELS[name] || name)}</option>`).join("");
  $("#preset").value = Object.entries(m.presets).find(([, a]) => same(a, m.config.architecture))?.[0] || "";
  renderDataSummary(m.dataset);
  own.setSamples(m.samples || [], m.dataset);
  layerTable.forget();
  layerTable.render({ ...m, input_shape: m.dataset.input_shape });
  renderFlatten($("#flatten"), m.layers);
  channels.reset(m.layers);
  explainer.reset(m.dataset.classes);
  bnPanel.reset(m.layers);
  if (!references.asked) references.request();
  $("#btn-save").href = `/api/cnn/model?session=${sock.sessionId}`;
  $("#config-pending").hidden = true;
  $("#btn-apply").classList.remove("pulse", "primary");
  $("#arch-pending").textContent = "";
  saveState({ config: m.config });
  curves.clear();
  results.reset();
  sock.send({ type: "augment_preview" });  // show what the data looks like
  if (ui.playAfterConfigure) sock.send({ type: "play" });
  ui.playAfterConfigure = false;
}

sock.on("error", (m) => {
  if (ui.awaitingConfigure) {
    ui.awaitingConfigure = false;
    ui.playAfterConfigure = false;
    setPlaying(false);
    if (ui.fallback) show(ui.fallback);  // a link's config was refused: show what the server runs
    showArchError(m.message);
  }
});

sock.on("shapes", (m) => {
  builder.setShapes(m);
  showShapes(m);
  if (m.layers.length) layerTable.render(m, { draft: isPending() });
});

function showShapes(m) {
  $("#total-params").textContent = m.total_params != null ? fmtInt(m.total_params) : "–";
  if (m.ok) {
    $("#arch-error").hidden = true;
    $("#btn-apply").disabled = false;
    $("#btn-play").disabled = false;
  } else {
    showArchError(m.error);
  }
}

function showArchError(message) {
  const el = $("#arch-error");
  el.textContent = `Not possible: ${message}`;
  el.hidden = false;
  $("#btn-apply").disabled = true;
  $("#btn-play").disabled = !ui.playing;
}

function renderDataSummary(ds) {
  const extra = [];
  if (ds.flipped) extra.push(`<span class="cnn-flag">${fmtInt(ds.flipped)} labels flipped</span>`);
  if (ds.dropped) extra.push(`<span class="cnn-flag">${fmtInt(ds.dropped)} dropped</span>`);
  $("#counts").innerHTML =
    `<div class="cnn-split"><span><b class="num">${fmtInt(ds.train)}</b> train</span>` +
    `<span><b class="num">${fmtInt(ds.val)}</b> validation</span><span><b class="num">${fmtInt(ds.test)}</b> test</span>` +
    `<span class="muted">${ds.input_shape.join("×")} ${ds.grey ? "grey" : "RGB"}</span></div>${extra.join(" ")}`;
  const max = Math.max(1, ...ds.train_counts);
  $("#class-bars").innerHTML = ds.classes.map((c, k) =>
    `<div class="cnn-cbar" title="${esc(c)}: ${ds.train_counts[k]} training images">` +
    `<i style="height:${((ds.train_counts[k] / max) * 100).toFixed(1)}%"></i><span>${esc(c)}</span></div>`).join("");
  $("#btn-restore").hidden = !ds.dropped;
}

// ---------------------------------------------------------------- socket: training
sock.on("state", (m) => {
  setPlaying(m.state === "playing");
  if (m.state === "diverged") {
    runState(m.message || "diverged — lower the learning rate", "bad");
    const fix = document.createElement("button");
    fix.type = "button";
    fix.className = "cnn-small";
    fix.textContent = "Lower it ×10 and restart";
    fix.addEventListener("click", () => {
      const lr = Math.max(1e-6, ui.draft.learning_rate / 10);
      const option = LEARNING_RATES.reduce((a, b) => (Math.abs(Math.log(b / lr)) < Math.abs(Math.log(a / lr)) ? b : a));
      controls.learning_rate.value = option;
      readControls();
      apply();
      runState("");
    });
    $("#run-state").append(" ", fix);
  }
  else if (m.state === "finished") runState(`Finished ${ui.live?.config.epochs} epochs. Check the test accuracy, or raise the epochs.`, "good");
  else if (m.state === "playing") runState("");
});

$("#btn-test").addEventListener("click", () => {
  sock.send({ type: "test" });
  $("#test-result").textContent = "evaluating…";
});
sock.on("test_result", (m) => {
  $("#test-result").innerHTML = `Test accuracy <b class="num">${pct(m.accuracy, 1)}</b> ` +
    `<span class="muted">on ${fmtInt(m.counts.reduce((a, b) => a + b, 0))} held-out images, epoch ${m.epoch.toFixed(1)}</span>`;
});

// ---------------------------------------------------------------- evaluation, feature maps, galleries
const tracer = new Tracer(sock, { maps: () => results.lastMaps, live: () => ui.live });
const results = new Results(sock, {
  live: () => ui.live,
  onPixel: (layer, k, event) => tracer.pixel(layer, k, event),
  onSelect: () => explainer.follow(),
});
// The model the pictures show (cnn.maps meta.model): requests about them carry it back.
const shownModel = () => results.lastMaps?.meta.model ?? null;
const layerTable = new LayerTable(sock, { limits: LIMITS, model: shownModel, device: () => ui.live?.device || "cpu" });
const channels = new Channels(sock, { model: shownModel, live: () => ui.live });
const explainer = new Explainer(sock, { model: shownModel });
const bnPanel = new BatchNormPanel(sock, { model: shownModel });
const references = new References(sock);
let lastModel = null;
sock.on("frame:cnn.maps", (f) => {
  if (f.meta.model === lastModel) return;
  const restarted = lastModel !== null;
  lastModel = f.meta.model;
  if (restarted) {  // reset, drop, compare: the same layers on new weights
    channels.refollow();
    layerTable.refresh();
  }
});

sock.on("dropped", (m) => {
  if (!ui.live) return;
  toast(m.total_dropped ? `${m.dropped} images dropped (${m.total_dropped} in all); training restarts.` : "Every dropped image is back; training restarts.");
  ui.live.dataset.train = m.train;
  ui.live.dataset.train_counts = m.train_counts;
  ui.live.dataset.dropped = m.total_dropped;
  renderDataSummary(ui.live.dataset);
  curves.clear();
  setPlaying(false);
});

// ---------------------------------------------------------------- augmentation preview
$("#btn-augment").addEventListener("click", () => {
  if (isPending()) apply();
  sock.send({ type: "augment_preview" });
});
sock.on("frame:cnn.augment", (f) => {
  const a = f.meta.augment || {};
  $("#aug-preview").hidden = !(a.flip || a.shift || a.rotate || a.color_jitter);
  for (const name of ["original", "augmented"]) {
    const arr = f.arrays[name];
    const [n, h, w, c] = arr.shape;
    const canvas = $(`#aug-${name}`);
    const layout = drawTiles(canvas, arr.data, { n, h, w, c, mode: "hwc", cols: 8 });
    fitTiles(canvas, layout, h, w, 30);
  }
});

// ---------------------------------------------------------------- your own image, model file
const own = new OwnImage(sock, { mapColors: () => $("#map-colors").value, onPredicted: () => explainer.follow() });

$("#btn-link").addEventListener("click", async () => {
  saveState({ config: ui.draft });
  try {
    await navigator.clipboard.writeText(location.href);
    toast("Link copied: it opens this lab with these settings.");
  } catch {
    toast("Copy the address bar: it holds these settings.");
  }
});

$("#model-file").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (!file) return;
  const msg = $("#model-msg");
  msg.className = "cnn-model-msg";
  msg.textContent = `Loading ${file.name}…`;
  try {
    await sock.upload("/api/cnn/model", file);
    msg.classList.add("good");
    msg.textContent = `Loaded ${file.name}: its architecture, data settings and weights.`;
  } catch (err) {
    msg.classList.add("bad");
    msg.textContent = `Could not load ${file.name}: ${err.message}`;
  }
});
