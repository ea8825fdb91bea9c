// The MLP playground page: one store, one render(), the websocket session and the shareable URL.
// The server owns the truth (config, data, model); the store keeps the user's wishes (`cfg` and
// the drawn `points`), sends them as one `configure`, and render() draws what comes back.
// Wire contract: docs/protocol-mlp.md.
import { LabSocket } from "./ws.js";
import { mountCodePanel } from "./code-panel.js";
import { LineChart } from "./charts.js";
import { decodeState, saveState } from "./state.js";
import { $, showError, toast, fmt, pct, rafThrottle } from "./ui.js";
import { LIMITS, cleanPoints, mergeConfig } from "./mlp-data.js";
import { renderExam, renderValueLegend, valueTop } from "./mlp-exam.js";
import { classCss, SERIES } from "./palette.js";
import { PlotView } from "./mlp-plot.js";
import { NetworkView } from "./mlp-network.js";
import { Controls } from "./mlp-controls.js";
import { cleanView, initBackprop } from "./mlp-backprop.js";

// ---- the store -----------------------------------------------------------------------------------
// All of the page's state. `set(patch)` changes it and fires "change" with the names changed;
// render() redraws the parts that depend on them.
class Store extends EventTarget {
  constructor(fields) {
    super();
    Object.assign(this, fields);
  }

  set(patch) {
    Object.assign(this, patch);
    this.dispatchEvent(new CustomEvent("change", { detail: new Set(Object.keys(patch)) }));
  }
}

const UNSENT = -1; // `expect` while the page's setup cannot be sent (a drawing of < 2 classes)
const saved = decodeState(location.hash) || {};
const store = new Store({
  cfg: mergeConfig(saved.config), // what the user asks for
  points: cleanPoints(saved.points, saved.config?.dataset?.task), // drawn points (custom), or null
  accepted: null, // the config of the run the server holds (its last `configured` / `updated`)
  options: null, // the values each choice takes, from the server
  data: { train: [], val: [], test: [] }, // the server's split of the current dataset
  model: null, // size and placement of the server's network
  notes: [],
  play: "paused", // playing, paused, diverged or finished
  why: "", // what the server said with the last state (a divergence: how the loss rose)
  exam: null, // the last `exam_result` of this run (cleared by a configure)
  metrics: null,
  frame: null, // the last `mlp` binary frame
  hover: null, // getter of the hovered neuron's map, or null
  looking: null, // [x, y] of the cursor over the plot, or null
  warnedFull: false, // said once in this stroke that the drawing is full
  request: 0, // number of the page's last `configure`
  expect: null, // the `request` of the `configured` the page takes as its own (see below)
  answered: undefined, // the `request` of the last `configured` (undefined: none yet)
  view: cleanView(saved.view), // the network view (forward / backward) and the gradients' source
  explanation: null, // the last `explanation`: one training point walked through (mlp-walk.js)
});
if (store.points?.length) store.cfg.dataset.name = "custom"; // a link with points means: these
if (store.cfg.dataset.name === "custom" && !store.points) store.points = [];

const isCustom = () => store.cfg.dataset.name === "custom";
const isRegression = () => store.cfg.dataset.task === "regression";
const classesUsed = (pts) => new Set(pts.map((p) => p[2])).size;
// A drawing trains with two classes or more (a regression: two points or more).
const trainable = () => !isCustom()
  || (isRegression() ? store.points.length >= 2 : classesUsed(store.points) >= 2);
const NOT_TRAINABLE = () => (isRegression() ? "Draw two points or more first."
  : "Draw points of at least two classes first.");

function share() {
  const state = { config: store.cfg, view: store.view };
  if (isCustom()) state.points = store.points;
  saveState(state);
}

// ---- talking to the server -----------------------------------------------------------------------
// One `configure` carries the whole wish: the config and, for a drawing, its points. A drawing
// of fewer than two classes is not sent (there is nothing to learn); it goes once it can train.
function configureMessage() {
  const request = store.request + 1;
  store.set({ request, expect: request });
  const message = { type: "configure", lab: "mlp", config: store.cfg, request };
  if (isCustom()) message.points = store.points;
  return message;
}

function configure() {
  share();
  if (store.play === "diverged") store.set({ play: "paused" });
  if (!trainable()) {
    store.set({ expect: UNSENT, frame: null, metrics: null });
    return;
  }
  sock.send(configureMessage());
}

// A partial change of the config, `patch` = {section: {key: value}}, sent as a new configure.
function change(patch) {
  const cfg = store.cfg;
  for (const [section, values] of Object.entries(patch)) Object.assign(cfg[section], values);
  store.set({ cfg });
  configure();
}

// Learning rate and weight decay change on the fly: no reset, the step counter keeps going.
function setOnTheFly(key, value) {
  store.cfg.training[key] = value;
  share();
  sock.send({ type: "set", training: { [key]: value } });
}

// Play's speed too (steps per frame; 0: full speed): it changes nothing a step computes.
function setSpeed(stepsPerFrame) {
  store.cfg.play.steps_per_frame = stepsPerFrame;
  share();
  sock.send({ type: "set", play: { steps_per_frame: stepsPerFrame } });
}

// JSON with the keys of every object sorted, and so the same for equal configs however built
// (the boot block's defaults come with sorted keys, the server's messages in field order).
const canonical = (value) => JSON.stringify(value, (key, v) => (v && typeof v === "object"
  && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v));

// After every (re)connect: does the server's session hold this page's setup? If not (a new
// session, a shared link, a reload after a change), send it; ws.js calls this once per connect.
function resync(configured) {
  const same = canonical(configured.config) === canonical(store.cfg)
    && (!isCustom() || canonical(allPoints(configured.data).sort())
      === canonical([...store.points].sort()));
  if (same) {
    store.set({ expect: configured.request }); // take it: it is this page's setup
    return null;
  }
  if (!trainable()) {
    store.set({ expect: UNSENT });
    return null;
  }
  share();
  return configureMessage();
}

const allPoints = (data) => [...data.train, ...data.val, ...(data.test ?? [])];

const sock = new LabSocket("mlp", { resync });
mountCodePanel(sock);

// The server's answer to a configure: the run it now holds. The page takes it (the normalised
// config, the data split, the model, the notes) only when it answers the page's last request;
// an older answer, or the old state a resync is correcting, only tells what the server runs.
sock.on("configured", (msg) => {
  store.accepted = msg.config;
  if (msg.resyncing || msg.request !== store.expect) {
    return store.set({ options: msg.options, answered: msg.request });
  }
  store.set({
    cfg: structuredClone(msg.config),
    options: msg.options,
    data: msg.data,
    model: msg.model,
    notes: msg.notes,
    metrics: null,
    frame: null, // the old run's picture: the new run's first frame follows
    answered: msg.request,
    exam: null,
  });
  share();
});

// ws.js has shown the message already. When a configure is still unanswered, it was refused:
// the server keeps its run, so the controls go back to the config the server holds.
sock.on("error", () => {
  if (store.expect === UNSENT || store.expect === store.answered || !store.accepted) return;
  store.set({ cfg: structuredClone(store.accepted) });
  share();
});

// A `set` took effect: the learning rate, weight decay and speed the run now uses.
sock.on("updated", (msg) => {
  store.accepted = msg.config;
  const { cfg } = store;
  for (const key of ["learning_rate", "weight_decay"]) cfg.training[key] = msg.config.training[key];
  cfg.play.steps_per_frame = msg.config.play.steps_per_frame;
  store.set({ cfg });
  share();
});

sock.on("state", (msg) => store.set({ play: msg.state, why: msg.message ?? "" }));

// The last good weights are back (a `State` "paused" follows): the step counter goes on, so the
// curve keeps the blow-up and drops back at the next point.
sock.on("restored", (msg) => {
  toast(`Back to the weights of step ${msg.step.toLocaleString("en-US")} (training loss `
    + `${fmt(msg.loss, 4)}). Lower the learning rate, then play on.`);
});

sock.on("exam_result", (exam) => store.set({ exam }));

// A diverged run's numbers stay: the blow-up on the curve is the lesson.
sock.on("metrics", (m) => {
  if (store.metrics && m.step < store.metrics.step) clearChart();
  if (m.train_loss !== null) {
    chart.push(m.step, [m.train_loss, m.val_loss]);
    // What the curve holds, for the curious and tests: its highest training loss and last step.
    const el = $("#chart");
    el.dataset.peak = String(Math.max(Number(el.dataset.peak ?? 0), m.train_loss));
    el.dataset.last = String(m.step);
  }
  store.set({ metrics: m });
});

function clearChart() {
  chart.clear();
  delete $("#chart").dataset.peak;
  delete $("#chart").dataset.last;
}

sock.on("frame:mlp", (frame) => store.set({ frame }));

// ---- views -----------------------------------------------------------------------------------------
const chart = new LineChart($("#chart"), {
  series: [SERIES.train, SERIES.val],
  yLabel: "loss", xLabel: "step", height: 170,
});

const setPoints = (points) => store.set({ points });
const plot = new PlotView($("#plot"), {
  // The drag tool: a drawn point's value pulled up or down (the outlier demo).
  drag(from, value) {
    const near = (p) => Math.abs(p[0] - from[0]) < 1e-3 && Math.abs(p[1] - from[1]) < 1e-3;
    const i = store.points.findIndex(near);
    if (i < 0) return;
    const points = [...store.points];
    points[i] = [points[i][0], points[i][1], value];
    setPoints(points);
  },
  maxValue: () => store.options?.max_value ?? 1,
  add(x, y, c) {
    if (store.points.length >= LIMITS.points) {
      if (!store.warnedFull) showError(`At most ${LIMITS.points} points.`);
      store.warnedFull = true;
      return;
    }
    setPoints([...store.points, [+x.toFixed(3), +y.toFixed(3), c]]);
  },
  erase(x, y, r) {
    const kept = store.points.filter((p) => Math.hypot(p[0] - x, p[1] - y) > r);
    if (kept.length !== store.points.length) setPoints(kept);
  },
  commit() {
    store.warnedFull = false;
    configure();
  },
  // A point drawn from the keyboard: said, since the plot is a picture.
  drew(tool, x, y) {
    const at = `(${x.toFixed(2)}, ${y.toFixed(2)})`;
    const n = store.points.length;
    const points = `${n} point${n === 1 ? "" : "s"}`;
    $("#draw-said").textContent = tool === "erase"
      ? `Erased around ${at}: ${points} left.`
      : `Added a point at ${at}: ${points}.`;
  },
  look: (looking) => store.set({ looking }),
});

const network = new NetworkView($("#network"), {
  toggleFeature: (id) => controls.toggleFeature(id),
  neurons: (layer, delta) => controls.neurons(layer, delta),
  hover: (hover) => store.set({ hover }),
});

const controls = new Controls({
  store, isCustom, change, setPoints, setOnTheFly, setSpeed, plot, network,
});
initBackprop({ store, sock, network, plot, change, share });

// ---- render: the page from the store ---------------------------------------------------------------
const touched = (changed, ...names) => names.some((name) => changed.has(name));

function render(changed) {
  if (touched(changed, "expect", "answered")) {
    // In step with the server: it has answered the page's last configure with the run it now
    // holds (false from sending until then, and after a refusal). Shown for the curious and tests.
    $("#mlp").dataset.synced = String(store.answered === store.expect);
  }
  if (touched(changed, "cfg", "options", "points", "data")) controls.render();
  if (touched(changed, "cfg", "points", "data")) {
    // The drawing as it is being edited; the server's split of the data once it answers.
    $("#empty-hint").hidden = trainable();
    $("#empty-what").textContent = isRegression()
      ? "Click or drag to add points of the value set below."
      : "Click or drag to add points of the selected class.";
    $("#empty-need").textContent = isRegression() ? "Two points or more are needed to train."
      : "Two classes or more are needed to train.";
    const shown = isCustom() ? store.points : allPoints(store.data);
    plot.setValueScale(isRegression() ? valueTop(shown) : null);
    if (isCustom() && (changed.has("points") || !trainable())) plot.setPoints(store.points, []);
    else if (changed.has("data")) {
      plot.setPoints(store.data.train, store.data.val, store.data.test ?? []);
    }
  }
  if (touched(changed, "exam", "data", "cfg")) renderExam(store);
  if (touched(changed, "model")) renderModel();
  if (touched(changed, "notes")) {
    $("#notes").replaceChildren(...store.notes.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
  }
  if (touched(changed, "play")) renderPlay();
  if (touched(changed, "play", "cfg", "points")) {
    network.setStale(!trainable()); // grey: nothing live to show
  }
  if (touched(changed, "metrics")) renderMetrics();
  if (touched(changed, "hover", "looking")) renderHover();
  if (touched(changed, "frame", "play", "cfg", "points")) {
    if (liveFrame()) drawFrame();
    else {
      plot.blank(); // at once: nothing stale stays on screen
      renderHover();
    }
  }
}
store.addEventListener("change", (e) => render(e.detail));

function engine() {
  const m = store.model;
  return m ? [m.device, `${m.engine} path`].join(" · ") : "";
}

function renderModel() {
  $("#params").textContent = store.model ? store.model.parameters.toLocaleString("en-US") : "–";
  $("#speed").textContent = engine();
}

function renderPlay() {
  const { play } = store;
  const diverged = play === "diverged";
  $("#btn-play").dataset.state = play === "playing" ? "playing" : "paused";
  $("#btn-play").setAttribute("aria-label", play === "playing" ? "Pause" : "Play");
  $("#diverged").hidden = !diverged;
  $("#plot").classList.toggle("diverged", diverged);
  if (diverged && store.why) {
    $("#diverged-why").textContent = `${store.why[0].toUpperCase()}${store.why.slice(1)}.`;
  }
}

function renderMetrics() {
  const m = store.metrics;
  if (!m) clearChart();
  $("#epoch").textContent = m ? m.epoch.toLocaleString("en-US") : "0";
  $("#step").textContent = m ? m.step.toLocaleString("en-US") : "0";
  $("#train-loss").textContent = fmt(m?.train_loss, 4);
  $("#val-loss").textContent = fmt(m?.val_loss, 4);
  $("#train-acc").textContent = pct(m?.train_accuracy);
  $("#val-acc").textContent = pct(m?.val_accuracy);
  for (const el of document.querySelectorAll(".mlp-acc")) el.hidden = isRegression(); // no accuracy
  const rate = m?.epochs_per_s ? `${m.epochs_per_s.toFixed(0)} epochs/s · ` : "";
  $("#speed").textContent = rate + engine();
}

// The frame the page may draw: none with nothing to train on. (A diverged run's weights are
// kept, and drawn: its map shows what the blow-up did.)
const liveFrame = () => (trainable() ? store.frame : null);

// The decision map and the neuron maps, at most once an animation frame.
const drawFrame = rafThrottle(() => {
  const frame = liveFrame();
  if (!frame) plot.blank();
  else {
    const m = frame.meta;
    plot.drawOutput(frame.arrays.output.data, frame.arrays.output_class?.data, m.grid, m.classes);
    network.update(frame);
  }
  renderValueLegend(frame);
  renderHover(); // a hovered neuron's map, or the read-out, follows the new frame
});

// The hovered neuron's map large, or else what the network answers under the cursor.
function renderHover() {
  const info = store.hover ? store.hover() : null;
  plot.showNeuron(info?.data ?? null, info ? info.t : 0);
  if (info) {
    $("#hover-title").textContent = info.title;
    $("#hover-title").style.color = "";
    $("#hover-title").style.borderLeftColor = "";
    return;
  }
  const frame = liveFrame();
  if (!store.looking || !frame) {
    $("#hover-title").textContent = "";
    return;
  }
  const [x, y] = store.looking;
  const g = frame.meta.grid;
  const i = Math.round(((1 - y) / 2) * (g - 1)) * g + Math.round(((x + 1) / 2) * (g - 1));
  const v = frame.arrays.output.data[i] / 255;
  if (frame.meta.task === "regression") {
    const [lo, hi] = frame.meta.output_range;
    const value = lo + v * (hi - lo);
    $("#hover-title").textContent = `(${x.toFixed(2)}, ${y.toFixed(2)}) → ${value.toFixed(2)}`;
    $("#hover-title").style.color = "";
    $("#hover-title").style.borderLeftColor = "";
    return;
  }
  // 2 classes: v is P(class 2); k classes: v is the winner's probability.
  const k = frame.meta.classes;
  const cls = k > 2 ? frame.arrays.output_class.data[i] : v >= 0.5 ? 1 : 0;
  const p = k > 2 ? v : Math.max(v, 1 - v);
  $("#hover-title").textContent = `(${x.toFixed(2)}, ${y.toFixed(2)}) → class ${cls + 1}, `
    + `${(100 * p).toFixed(0)}% sure`;
  // ink on white for the text (a class colour is too light to read); the class as a swatch
  $("#hover-title").style.color = "var(--ink, #101828)";
  $("#hover-title").style.borderLeftColor = classCss(cls);
}

// ---- transport -------------------------------------------------------------------------------------
function togglePlay() {
  if (store.play === "playing") return sock.send({ type: "pause" });
  if (!trainable()) return showError(NOT_TRAINABLE());
  sock.send({ type: "play" });
}
$("#btn-play").addEventListener("click", togglePlay);
$("#btn-step").addEventListener("click", () => {
  if (!trainable()) return showError(NOT_TRAINABLE());
  sock.send({ type: "step", steps: 1 });
});
$("#btn-reset").addEventListener("click", () => {
  if (store.play === "diverged") store.set({ play: "paused" });
  sock.send({ type: "reset" });
});
$("#btn-lower-lr").addEventListener("click", () => controls.lowerLearningRate());
$("#btn-restore").addEventListener("click", () => sock.send({ type: "restore" }));
$("#btn-exam").addEventListener("click", () => {
  if (!trainable()) return showError(NOT_TRAINABLE());
  sock.send({ type: "exam" });
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

// ---- start -----------------------------------------------------------------------------------------
render(new Set(Object.keys(store)));
share();
