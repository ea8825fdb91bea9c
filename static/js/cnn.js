// CNN lab page: build a convolutional net, train it on the server, watch what it learns.
// Wire contract: docs/protocol-cnn.md. Panels are drawn by cnn-views.js, the architecture editor
// is cnn-builder.js, "your own image" is cnn-own.js; this module owns the socket, the config
// draft and the training controls.
//
// Editing: every change goes into `draft` (a full config). Architecture and data edits are checked
// at once with `inspect` (shapes, parameter counts, impossible layers); nothing resets until the
// user presses "Apply & reset" — or play/step, which apply pending changes first.
import { LabSocket } from "./ws.js";
import { LineChart } from "./charts.js";
import { $, on, toast, fmt, pct } from "./ui.js";
import { loadState, saveState } from "./state.js";
import { Builder, fmtInt } from "./cnn-builder.js";
import { drawImage, drawTiles, fitTiles } from "./cnn-draw.js";
import {
  renderMaps, renderKernels, renderProbs, renderConfusion, renderPerClass, renderGallery, esc,
} from "./cnn-views.js";
import { OwnImage } from "./cnn-own.js";
import { SettingsForm, LEARNING_RATES } from "./cnn-settings.js";

const LIMITS = window.TORCHPLAY_LIMITS || {};
const STEP_BATCHES = 10;

const sock = new LabSocket("cnn");
const saved = loadState({ config: null });

const ui = {
  live: null,          // the last `configured` message
  draft: null,         // full config being edited
  playing: false,
  awaitingConfigure: false,
  playAfterConfigure: false,
  lastStep: -1,
  lastValStep: null,
  mapIndex: 0,
  selectedHard: new Set(),
  inspectTimer: 0,
  firstConfigured: true,
};

// ---------------------------------------------------------------- charts
const lossChart = new LineChart($("#chart-loss"), {
  series: [{ label: "train loss", color: "#ee4c2c" }, { label: "validation loss", color: "#1f77b4" }],
  yLabel: "loss", height: 200,
});
const accChart = new LineChart($("#chart-acc"), {
  series: [{ label: "train accuracy", color: "#ee4c2c" }, { label: "validation accuracy", color: "#1f77b4" }],
  yLabel: "accuracy", height: 200, yRange: [0, 1],
});
for (const chart of [lossChart, accChart]) chart.plot.series[2].spanGaps = true;  // val points are sparse

function clearCurves() {
  lossChart.clear();
  accChart.clear();
  ui.lastValStep = null;
  ui.lastStep = -1;
}

// ---------------------------------------------------------------- builder
const builder = new Builder($("#blocks"), {
  limits: LIMITS,
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
  clearCurves();
  runState("");
});
$("#btn-apply").addEventListener("click", () => apply());
document.addEventListener("keydown", (e) => {
  if (e.code !== "Space" || e.target.closest("input, select, textarea, button, [contenteditable]")) return;
  e.preventDefault();
  play();
});

function runState(text, kind = "") {
  const el = $("#run-state");
  el.textContent = text;
  el.className = `cnn-state ${kind}`;
}

// ---------------------------------------------------------------- socket: configuration
sock.on("hello", (m) => {
  ui.resumed = m.resumed;
  // a fresh session after we had one (the server restarted, or the session expired):
  // rebuild what the user had instead of falling back to the defaults
  if (!m.resumed && ui.live) ui.restore = ui.live.config;
});

sock.on("configured", (m) => {
  const first = ui.firstConfigured;
  ui.firstConfigured = false;
  ui.live = m;
  ui.draft = structuredClone(m.config);
  ui.awaitingConfigure = false;
  form.write(m.config, m);
  builder.set(m.config.architecture);
  builder.setShapes({ ok: true, error: null, input_shape: m.dataset.input_shape, layers: m.layers, total_params: m.total_params });
  showShapes({ ok: true, total_params: m.total_params });
  $("#preset").value = Object.entries(m.presets || {}).find(([, a]) => same(a, m.config.architecture))?.[0] || "";
  renderDataSummary(m.dataset);
  own.setSamples(m.samples || [], m.dataset);
  $("#btn-save").href = `/api/cnn/model?session=${sock.sessionId}`;
  $("#config-pending").hidden = true;
  $("#btn-apply").classList.remove("pulse", "primary");
  $("#arch-pending").textContent = "";
  saveState({ config: m.config });
  clearCurves();
  ui.mapIndex = 0;
  ui.selectedHard.clear();
  ui.pair = null;
  ui.gallery = null;
  clearResults();
  sock.send({ type: "augment_preview" });  // show what the data looks like
  if (ui.playAfterConfigure) sock.send({ type: "play" });
  ui.playAfterConfigure = false;
  if (ui.resumed) sock.send({ type: "refresh" });
  else if (ui.restore) {
    const config = ui.restore;
    ui.restore = null;
    if (!same(config, m.config)) {
      adopt(config, m);
      toast("The server session was new: your settings were rebuilt (training starts again).");
    }
  } else if (first && saved.config && !same(saved.config, m.config)) {
    adopt(saved.config, m);  // a shared link: build what it describes (validated like any configure)
  }
  ui.resumed = false;
});

// Put `config` (over the defaults of `m`) into the controls and ask the server for it.
function adopt(config, m) {
  ui.draft = Object.assign(structuredClone(m.config), structuredClone(config));
  form.write(ui.draft, m);
  builder.set(ui.draft.architecture);
  apply();
}

sock.on("error", (m) => {
  if (ui.awaitingConfigure) {
    ui.awaitingConfigure = false;
    ui.playAfterConfigure = false;
    setPlaying(false);
    showArchError(m.message);
  }
});

sock.on("shapes", (m) => {
  builder.setShapes(m);
  showShapes(m);
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

function clearResults() {
  $("#layers").innerHTML = "";
  $("#kernels").innerHTML = "";
  $("#confusion").innerHTML = "";
  $("#per-class").innerHTML = '<p class="cnn-empty muted">Press play: after each validation pass the matrix ' +
    "shows which classes the net confuses, and the bars how often each class is right.</p>";
  $("#eval-caption").textContent = "";
  $("#eval-note").hidden = true;
  $("#gallery").innerHTML = '<p class="cnn-empty muted">Train to see the mistakes.</p>';
  $("#hardest").innerHTML = '<p class="cnn-empty muted">Train to see which images are hardest.</p>';
  $("#test-result").textContent = "";
  $("#gap-note").hidden = true;
  updateDrop();
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

sock.on("metrics", (m) => {
  if (m.step < ui.lastStep) clearCurves();
  ui.lastStep = m.step;
  $("#epoch").textContent = m.epoch === null ? "0" : m.epoch.toFixed(1);
  $("#step").textContent = fmtInt(m.step);
  $("#train-acc").textContent = pct(m.train_acc);
  $("#val-acc").textContent = pct(m.val_acc);
  $("#speed").textContent = m.images_per_s ? fmtInt(Math.round(m.images_per_s)) : "–";
  $("#progress").style.width = `${Math.min(100, (100 * (m.epoch || 0)) / (m.epochs || 1))}%`;
  const gap = m.train_acc !== null && m.val_acc !== null ? m.train_acc - m.val_acc : null;
  $("#gap").textContent = gap === null ? "–" : `${gap >= 0 ? "+" : ""}${(gap * 100).toFixed(1)} pt`;
  $("#gap").classList.toggle("bad", gap !== null && gap > 0.05);
  gapNote(m, gap);
  if (m.step === 0 && m.train_loss === null) return;
  const fresh = m.val_step !== null && m.val_step !== ui.lastValStep;
  ui.lastValStep = m.val_step;
  lossChart.push(m.step, [m.train_loss, fresh ? m.val_loss : null]);
  accChart.push(m.step, [m.train_acc, fresh ? m.val_acc : null]);
});

function gapNote(m, gap) {
  const el = $("#gap-note");
  const noise = ui.live?.config.label_noise || 0;
  if (gap !== null && m.epoch >= 1 && noise > 0 && gap < -0.03) {
    el.hidden = false;
    el.innerHTML = `<b>Poisoned labels:</b> ${pct(noise, 0)} of the training labels are wrong, so training ` +
      `accuracy (${pct(m.train_acc)}) is measured against wrong answers while validation (${pct(m.val_acc)}) ` +
      `uses the true ones. The highest-loss training images below are mostly those flipped labels: drop them and retrain.`;
  } else if (gap !== null && m.epoch >= 1 && gap >= 0.05) {
    el.hidden = false;
    el.innerHTML = `<b>Overfitting:</b> training accuracy is ${(gap * 100).toFixed(1)} points above validation ` +
      `(${pct(m.train_acc)} vs ${pct(m.val_acc)}). The net is memorising the training images — ` +
      `try dropout, augmentation, weight decay, more data or fewer epochs.`;
  } else {
    el.hidden = true;
  }
}

sock.on("history", (m) => {
  clearCurves();
  let lastVal = null;
  for (const p of m.points) {
    const fresh = p.val_loss !== null && p.val_loss !== lastVal;
    lastVal = p.val_loss;
    lossChart.push(p.step, [p.train_loss, fresh ? p.val_loss : null]);
    accChart.push(p.step, [p.train_acc, fresh ? p.val_acc : null]);
    ui.lastStep = p.step;
  }
});

$("#btn-test").addEventListener("click", () => {
  sock.send({ type: "test" });
  $("#test-result").textContent = "evaluating…";
});
sock.on("test_result", (m) => {
  $("#test-result").innerHTML = `Test accuracy <b class="num">${pct(m.accuracy, 1)}</b> ` +
    `<span class="muted">on ${fmtInt(m.counts.reduce((a, b) => a + b, 0))} held-out images, step ${fmtInt(m.step)}</span>`;
});

// ---------------------------------------------------------------- evaluation
sock.on("evaluation", (ev) => {
  renderConfusion($("#confusion"), ev);
  renderPerClass($("#per-class"), ev);
  $("#eval-caption").textContent = `${pct(ev.accuracy, 1)} of ${fmtInt(ev.counts.reduce((a, b) => a + b, 0))} validation images · epoch ${ev.epoch.toFixed(1)}`;
  const worst = ev.per_class_accuracy.reduce((w, a, k) => (a !== null && (w < 0 || a < ev.per_class_accuracy[w]) ? k : w), -1);
  const note = $("#eval-note");
  if (worst >= 0 && ev.accuracy >= 0.6 && ev.accuracy - ev.per_class_accuracy[worst] > 0.2) {
    const shrunk = ui.live.config.imbalance.classes.includes(worst);
    note.hidden = false;
    note.innerHTML = `Overall accuracy is <b>${pct(ev.accuracy)}</b>, but class <b>${esc(ev.classes[worst])}</b> ` +
      `is right only <b>${pct(ev.per_class_accuracy[worst])}</b> of the time.` +
      (shrunk ? " It was shrunk by the class-imbalance control: try the weighted loss or augmentation." : "");
  } else note.hidden = true;
});

// ---------------------------------------------------------------- frames
const kernelRoot = $("#kernels");
sock.on("frame:cnn.kernels", (f) => renderKernels(kernelRoot, f));

sock.on("frame:cnn.maps", (f) => {
  const m = f.meta;
  if (m.source === "val") ui.mapIndex = m.index;
  const input = f.arrays.input;
  const [h, w, c] = input.shape;
  drawImage($("#maps-input"), input.data, h, w, c);
  const classes = m.classes;
  $("#img-index").textContent = m.source === "val" ? `val #${m.index}` : "your image";
  const right = m.label === null ? "" : m.pred === m.label ? "right" : "wrong";
  $("#maps-caption").innerHTML = (m.label !== null ? `True: <b>${esc(classes[m.label])}</b> / ` : "") +
    `Pred: <b class="${right}">${esc(classes[m.pred])}</b> <span class="muted">(${pct(m.confidence)})</span>`;
  renderProbs($("#maps-probs"), classes, f.arrays.probs.data, { truth: m.label });
  renderMaps($("#layers"), m.layers, (l) => f.arrays[`L${l.index}`], { colormap: $("#map-colors").value });
  drawZoom();
});

// One feature map, enlarged, following the stream: click a map to choose it.
function drawZoom() {
  const box = $("#maps-zoom");
  const source = ui.zoom && $(`#layers [data-layer="${ui.zoom.layer}"] .cnn-maps`)?.children[ui.zoom.k];
  box.hidden = !source;
  $("#zoom-hint").hidden = Boolean(source);
  if (!source) return;
  const canvas = box.querySelector("canvas");
  canvas.width = source.width;
  canvas.height = source.height;
  canvas.getContext("2d").drawImage(source, 0, 0);
  box.querySelector("span").textContent = source.title;
}
on($("#layers"), "click", ".cnn-maps canvas", (e, canvas) => {
  const col = canvas.closest("[data-layer]");
  ui.zoom = { layer: col.dataset.layer, k: [...canvas.parentNode.children].indexOf(canvas) };
  drawZoom();
});

function selectImage(index) {
  const n = ui.live?.dataset.val || 1;
  ui.mapIndex = ((index % n) + n) % n;
  sock.send({ type: "select_image", index: ui.mapIndex });
}
$("#img-prev").addEventListener("click", () => selectImage(ui.mapIndex - 1));
$("#img-next").addEventListener("click", () => selectImage(ui.mapIndex + 1));
$("#img-random").addEventListener("click", () => selectImage(Math.floor(Math.random() * (ui.live?.dataset.val || 1))));
$("#map-colors").addEventListener("change", () => selectImage(ui.mapIndex));

sock.on("frame:cnn.gallery", (f) => {
  ui.gallery = f;
  renderMistakes();
});

// The misclassified gallery, or only the mistakes of one confusion-matrix cell (ui.pair).
function renderMistakes() {
  const f = ui.gallery;
  if (!f) return;
  const m = f.meta;
  const classes = ui.live.dataset.classes;
  const pair = ui.pair;
  const keep = pair ? m.true.map((t, k) => k).filter((k) => m.true[k] === pair[0] && m.pred[k] === pair[1]) : null;
  $("#gallery-caption").innerHTML = pair
    ? `True ${esc(classes[pair[0]])} predicted as ${esc(classes[pair[1]])} · <button type="button" class="cnn-small" id="gallery-all">show all</button>`
    : `${fmtInt(m.total_wrong)} of ${fmtInt(m.val)} wrong` +
      (m.total_wrong > m.true.length ? ` · ${m.true.length} most confident shown` : "") +
      (m.total_wrong ? " · click a red cell of the matrix to filter" : "");
  renderGallery($("#gallery"), f.arrays.images, (k) => ({
    caption: `True: ${esc(classes[m.true[k]])}<br>Pred: <b>${esc(classes[m.pred[k]])}</b><br><span class="muted">${pct(m.confidence[k])} sure</span>`,
    title: `True: ${classes[m.true[k]]} / Pred: ${classes[m.pred[k]]} — validation image #${m.indices[k]}; click to see its feature maps`,
    data: { index: m.indices[k] },
  }), pair ? "None of these among the mistakes shown (the most confident ones)." : "No mistakes on the validation images.", keep);
}
on($("#confusion"), "click", "td", (e, td) => {
  const t = Number(td.dataset.t);
  const p = Number(td.dataset.p);
  if (t === p || td.textContent === "0" || (ui.pair && ui.pair[0] === t && ui.pair[1] === p)) ui.pair = null;
  else ui.pair = [t, p];
  renderMistakes();
  if (ui.pair) $(".cnn-mistakes").scrollIntoView({ behavior: "smooth", block: "nearest" });
});
on($(".cnn-mistakes"), "click", "#gallery-all", () => {
  ui.pair = null;
  renderMistakes();
});
on($("#gallery"), "click", "figure", (e, fig) => {
  selectImage(Number(fig.dataset.index));
  $(".cnn-inside").scrollIntoView({ behavior: "smooth", block: "start" });
});

sock.on("frame:cnn.hardest", (f) => {
  const m = f.meta;
  const classes = ui.live.dataset.classes;
  const ids = new Set(m.ids);
  for (const id of [...ui.selectedHard]) if (!ids.has(id)) ui.selectedHard.delete(id);
  renderGallery($("#hardest"), f.arrays.images, (k) => ({
    caption: `Label: ${esc(classes[m.labels[k]])}<br>Pred: ${esc(classes[m.preds[k]])}` +
      `<br><span class="muted">loss ${fmt(m.losses[k], 2)}</span>${m.flipped[k] ? ' <span class="cnn-flag">flipped</span>' : ""}`,
    cls: `${m.flipped[k] ? "flipped" : ""} ${ui.selectedHard.has(m.ids[k]) ? "selected" : ""}`,
    title: `Label: ${classes[m.labels[k]]} / Pred: ${classes[m.preds[k]]}${m.flipped[k] ? " (label flipped by noise)" : ""} — click to select it for dropping`,
    data: { id: m.ids[k] },
  }), "Nothing yet.");
  ui.flippedIds = m.ids.filter((_, k) => m.flipped[k]);
  $("#btn-select-flipped").hidden = ui.flippedIds.length === 0;
  updateDrop();
});
$("#btn-select-flipped").addEventListener("click", () => {
  for (const id of ui.flippedIds || []) ui.selectedHard.add(id);
  for (const fig of document.querySelectorAll("#hardest figure")) {
    fig.classList.toggle("selected", ui.selectedHard.has(Number(fig.dataset.id)));
  }
  updateDrop();
});
on($("#hardest"), "click", "figure", (e, fig) => {
  const id = Number(fig.dataset.id);
  if (ui.selectedHard.has(id)) ui.selectedHard.delete(id);
  else ui.selectedHard.add(id);
  fig.classList.toggle("selected", ui.selectedHard.has(id));
  updateDrop();
});
function updateDrop() {
  const n = ui.selectedHard.size;
  $("#btn-drop").disabled = n === 0;
  $("#btn-drop").textContent = n ? `Drop ${n} selected & retrain` : "Drop selected & retrain";
}
$("#btn-drop").addEventListener("click", () => {
  sock.send({ type: "drop", ids: [...ui.selectedHard].slice(0, 1000) });
  ui.selectedHard.clear();
  updateDrop();
});
$("#btn-restore").addEventListener("click", () => sock.send({ type: "restore" }));
sock.on("dropped", (m) => {
  toast(m.total_dropped ? `${m.dropped} images dropped (${m.total_dropped} in all); training restarts.` : "Every dropped image is back; training restarts.");
  ui.live.dataset.train = m.train;
  ui.live.dataset.train_counts = m.train_counts;
  ui.live.dataset.dropped = m.total_dropped;
  renderDataSummary(ui.live.dataset);
  clearCurves();
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
const own = new OwnImage(sock, { mapColors: () => $("#map-colors").value });

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
