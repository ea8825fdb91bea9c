// The controls of the MLP playground: fills the selects and the dataset presets from the server's
// options, shows the store's config in them, and turns what the user does into calls on the page.
// The page (`app`, see mlp.js) owns the state; this module owns only the drawing tool (which
// class, add or erase).
import { $, $$, on, setField, showError, toast } from "./ui.js";
import { DEFAULTS } from "./boot.js";
import {
  ACTIVATIONS, BATCH_SIZES, DATASETS, LEARNING_RATES, LIMITS, LOSSES, OPTIMIZERS, SPEEDS,
  WEIGHT_DECAYS, drawPresetIcon, labelOf,
} from "./mlp-data.js";
import { classCss } from "./palette.js";

function fillSelect(select, values, label) {
  select.replaceChildren(...values.map((v) => new Option(label(v), String(v))));
}

// Select `value`, adding it as an option when a shared link carries one the list lacks.
function setSelect(select, value) {
  const v = String(value);
  if (![...select.options].some((o) => o.value === v)) select.add(new Option(v, v));
  select.value = v;
}

const percent = (fraction) => `${Math.round(fraction * 100)}%`;
const splitLabel = (d) => `Training ${percent(1 - d.val_fraction - d.test_fraction)} · `
  + `validation ${percent(d.val_fraction)} · test ${percent(d.test_fraction)}`;
const MAX_HELD_OUT = 0.9; // validation + test: the server keeps some points to train on

// A speed's label: steps a second at the server's frame rate (fps), or full speed (0).
export const speedLabel = (perFrame, fps) => (perFrame === 0 ? "Full speed"
  : `${(perFrame * fps).toLocaleString("en-US")} steps/s`);

// A config's task and loss for the dataset `name` (a preset fixes the task; a drawing keeps it).
const DEFAULT_LOSS = { classification: DEFAULTS.training.loss, regression: "mse" };

export class Controls {
  // app: {store (cfg, points, data, options), isCustom(), change(patch), configure(),
  //       setPoints(points), setOnTheFly(key, value), plot, network}
  constructor(app) {
    this.app = app;
    this.store = app.store;
    this.tool = app.isCustom() ? "add" : null; // null, "add" or "erase"
    this.drawClass = 0;
    // A custom dataset's sample count is its number of points: remember the preset's.
    this.presetSamples = app.isCustom() ? DEFAULTS.dataset.samples : this.store.cfg.dataset.samples;
    this.optionsKey = null;
    this.taskLosses = null; // the task the loss menu lists (rebuilt when it changes)
    fillSelect($("#speed-select"), SPEEDS, (v) => (v ? `${v} steps/frame` : "Full speed"));
    fillSelect($("#learning_rate"), LEARNING_RATES, String);
    fillSelect($("#weight_decay"), WEIGHT_DECAYS, (v) => (v === 0 ? "none" : String(v)));
    this.bindData();
    this.bindDrawing();
    this.bindNetwork();
    this.bindTraining();
  }

  // ---- the server's options: selects and presets (rebuilt only when they change) -------------
  setOptions(options) {
    const key = JSON.stringify(options);
    if (!options || key === this.optionsKey) return;
    this.optionsKey = key;
    fillSelect($("#optimizer"), options.optimizers, (v) => labelOf(OPTIMIZERS, v));
    fillSelect($("#speed-select"), SPEEDS, (v) => speedLabel(v, options.frames_per_s));
    this.taskLosses = null;
    $("#draw-value").min = -options.max_value;
    $("#draw-value").max = options.max_value;
    fillSelect($("#activation"), options.activations, (v) => labelOf(ACTIVATIONS, v));
    $("#presets").replaceChildren(...options.datasets.map(({ name }) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "mlp-preset";
      button.dataset.preset = name;
      button.setAttribute("role", "radio");
      button.title = DATASETS[name]?.title ?? name;
      const icon = document.createElement("canvas");
      icon.width = icon.height = 96;
      drawPresetIcon(icon, name);
      const label = document.createElement("span");
      label.textContent = labelOf(DATASETS, name);
      button.append(icon, label);
      return button;
    }));
  }

  dataset(name) {
    return this.store.options?.datasets.find((d) => d.name === name);
  }

  // ---- showing the store's config ------------------------------------------------------------
  render() {
    const { cfg, options } = this.store;
    this.setOptions(options);
    const d = cfg.dataset;
    const custom = this.app.isCustom();
    const spec = this.dataset(d.name);
    const regression = d.task === "regression";
    const multi = !regression && (!spec || spec.min_classes < spec.max_classes);
    if (options && this.taskLosses !== d.task) {
      this.taskLosses = d.task;
      fillSelect($("#loss"), regression ? options.regression_losses : options.losses,
        (v) => labelOf(LOSSES, v));
    }
    $("#classes-field").hidden = regression;
    $("#keep-field").hidden = custom;
    $("#test_fraction").value = d.test_fraction;
    $("#test_fraction").max = MAX_HELD_OUT - d.val_fraction;
    for (const b of $$("#draw-task button")) {
      b.setAttribute("aria-checked", String(b.dataset.task === d.task));
    }
    for (const b of $$(".mlp-preset")) {
      const on = b.dataset.preset === d.name;
      b.classList.toggle("on", on);
      b.setAttribute("aria-checked", String(on));
    }
    $("#classes").max = spec ? spec.max_classes : LIMITS.classes;
    $("#classes").value = d.classes;
    $("#classes").disabled = !multi;
    $("#classes-field").classList.toggle("disabled", !multi);
    $("#samples").max = LIMITS.points;
    $("#samples").value = d.samples;
    $("#samples").disabled = $("#noise").disabled = custom;
    $("#noise").value = d.noise;
    $("#val_fraction").value = d.val_fraction;
    setField($("#seed"), d.seed);

    const m = cfg.model;
    $("#layer-count").textContent = m.hidden.length;
    $("#layer-count").parentElement.lastChild.textContent = m.hidden.length === 1
      ? " hidden layer" : " hidden layers";
    $("#layer-add").disabled = m.hidden.length >= LIMITS.layers;
    $("#layer-remove").disabled = m.hidden.length === 0;
    setSelect($("#activation"), m.activation);
    $("#dropout").value = m.dropout;
    $("#batch_norm").checked = m.batch_norm;

    const t = cfg.training;
    setSelect($("#learning_rate"), t.learning_rate);
    setSelect($("#weight_decay"), t.weight_decay);
    setSelect($("#optimizer"), t.optimizer);
    setSelect($("#loss"), t.loss);
    setSelect($("#speed-select"), cfg.play.steps_per_frame);
    $("#batch_size").value = this.batchIndex(t.batch_size);
    this.renderBatch(t.batch_size);
    this.renderLabels();
    this.renderSwatches();
    if (options) {
      this.app.network.build({
        all: options.features, features: m.features, hidden: m.hidden, classes: Math.max(2, d.classes),
      });
    }
  }

  // The value labels beside the sliders (also while a slider is being dragged).
  renderLabels() {
    const { cfg, points } = this.store;
    const d = cfg.dataset;
    $("#classes-label").textContent = d.classes;
    const drawn = `${(points || []).length} drawn`;
    $("#samples-label").textContent = this.app.isCustom() ? drawn : d.samples;
    $("#noise-label").textContent = d.noise.toFixed(2);
    $("#split-label").textContent = splitLabel(d);
    $("#val-label").textContent = percent(d.val_fraction);
    $("#test-label").textContent = percent(d.test_fraction);
    $("#draw-value-label").textContent = Number($("#draw-value").value).toFixed(1);
    $("#dropout-label").textContent = cfg.model.dropout ? cfg.model.dropout.toFixed(2) : "off";
  }

  renderSwatches() {
    const custom = this.app.isCustom();
    const regression = this.store.cfg.dataset.task === "regression";
    $("#draw-task").hidden = !custom;
    $("#swatches").hidden = regression;
    $("#value-pick").hidden = !regression;
    $("#tool-drag").hidden = !regression;
    $("#tool-drag").classList.toggle("on", this.tool === "drag");
    $("#value-pick").classList.toggle("on", this.tool === "add");
    if (regression) this.drawClass = Number($("#draw-value").value);
    const k = regression ? 0 : Math.max(2, this.store.cfg.dataset.classes);
    if (!regression) this.drawClass = Math.min(this.drawClass, k - 1);
    const swatches = [];
    for (let c = 0; c < k; c++) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "mlp-swatch";
      b.dataset.class = c;
      b.style.setProperty("--c", classCss(c));
      b.setAttribute("role", "radio");
      const on = this.tool === "add" && this.drawClass === c;
      b.classList.toggle("on", on);
      b.setAttribute("aria-checked", String(on));
      b.title = `Draw points of class ${c + 1}`;
      b.setAttribute("aria-label", `class ${c + 1}`);
      swatches.push(b);
    }
    $("#swatches").replaceChildren(...swatches);
    $("#tool-erase").classList.toggle("on", this.tool === "erase");
    $("#draw-tools").classList.toggle("active", this.app.isCustom());
    this.app.plot.setTool(this.app.isCustom() ? this.tool : null, this.drawClass);
  }

  // ---- batch size: the slider walks BATCH_SIZES; its last stop (0) is the whole set -------
  batchIndex(size) {
    if (size >= LIMITS.points) return BATCH_SIZES.length - 1;
    let best = 0;
    BATCH_SIZES.forEach((b, i) => {
      if (b && Math.abs(b - size) < Math.abs(BATCH_SIZES[best] - size)) best = i;
    });
    return best;
  }

  renderBatch(size) {
    const { cfg, data } = this.store;
    const d = cfg.dataset;
    const n = this.app.isCustom() ? data.train.length
      : Math.round(d.samples * (1 - d.val_fraction - d.test_fraction));
    let label = String(size);
    let help = `mini-batch SGD: ${n ? Math.ceil(n / size) : "?"} steps per epoch`;
    if (size >= LIMITS.points || (n && size >= n)) {
      if (size >= LIMITS.points) label = "all";
      help = `full batch (all ${n || ""} training points): plain gradient descent, `
        + "one step per epoch";
    } else if (size === 1) {
      help = "one point per step: pure stochastic gradient descent";
    }
    $("#batch-label").textContent = label;
    $("#batch-help").textContent = help;
  }

  // ---- data ----------------------------------------------------------------------------------
  bindData() {
    const { app, store } = this;
    on($("#presets"), "click", ".mlp-preset", (_, b) => {
      const name = b.dataset.preset;
      if (name === "custom") return this.toCustom();
      const spec = this.dataset(name);
      let classes = Math.min(Math.max(store.cfg.dataset.classes, spec.min_classes), spec.max_classes);
      if (classes === 2 && DATASETS[name]?.classes) {
        classes = Math.min(DATASETS[name].classes, spec.max_classes);
      }
      this.tool = null;
      const samples = app.isCustom() ? this.presetSamples : store.cfg.dataset.samples;
      const patch = this.taskPatch(spec.task);
      app.change({ ...patch, dataset: { ...patch.dataset, name, classes, samples } });
    });
    // Sliders: live labels while dragging, one reconfigure when released.
    for (const id of ["classes", "samples", "noise", "val_fraction", "test_fraction"]) {
      $(`#${id}`).addEventListener("input", (e) => {
        store.cfg.dataset[id] = Number(e.target.value);
        this.renderLabels();
      });
      $(`#${id}`).addEventListener("change", () => this.configureDataset());
    }
    $("#seed").addEventListener("change", (e) => {
      const seed = Math.round(Number(e.target.value));
      if (!Number.isFinite(seed) || seed < 0) {
        showError("The seed is a whole number, 0 or more.");
        e.target.value = store.cfg.dataset.seed;
        return;
      }
      app.change({ dataset: { seed } });
    });
    $("#btn-regenerate").addEventListener("click", () => {
      app.change({ dataset: { seed: store.cfg.dataset.seed + 1 } });
    });
    $("#show-val").addEventListener("change", (e) => app.plot.setShowVal(e.target.checked));
    $("#show-test").addEventListener("change", (e) => app.plot.setShowTest(e.target.checked));
  }

  // The config's change for a switch to `task`: its dataset's task, and a loss that fits it.
  taskPatch(task) {
    const { training, dataset } = this.store.cfg;
    if (task === dataset.task) return {};
    const losses = task === "regression" ? this.store.options.regression_losses
      : this.store.options.losses;
    const loss = losses.includes(training.loss) ? training.loss : DEFAULT_LOSS[task];
    return { training: { loss }, dataset: { task } };
  }

  configureDataset() {
    const { app, store } = this;
    const d = store.cfg.dataset;
    d.test_fraction = Math.min(d.test_fraction, Math.round((MAX_HELD_OUT - d.val_fraction) * 100) / 100);
    if (app.isCustom() && store.points && d.task === "classification") {
      const k = store.cfg.dataset.classes;
      const dropped = store.points.filter((p) => p[2] >= k).length;
      if (dropped) {
        app.setPoints(store.points.filter((p) => p[2] < k));
        toast(`Removed ${dropped} points of the classes you took away.`);
      }
    }
    app.change({});
  }

  // ---- drawing your own data -------------------------------------------------------------------
  // Start drawing: from an empty plane, or (the "keep" box ticked, or `keep`) from the preset's
  // points, every one of them (training, validation and test), as the editable custom dataset.
  toCustom(keep = false) {
    const { app, store } = this;
    if (app.isCustom()) return;
    this.presetSamples = store.cfg.dataset.samples;
    const { train, val, test } = store.data;
    keep = keep || $("#keep-points").checked;
    app.setPoints(keep ? [...train, ...val, ...test].map((p) => [...p]) : []);
    const regression = store.cfg.dataset.task === "regression";
    const k = regression ? store.cfg.dataset.classes
      : Math.max(store.cfg.dataset.classes, ...store.points.map((p) => p[2] + 1), 2);
    if (!this.tool) this.tool = "add";
    app.change({ dataset: { name: "custom", classes: Math.min(k, LIMITS.classes) } });
  }

  // The drawing's points switch task: a class becomes a value (first class -1, the others +1),
  // a value a class (positive: the second class).
  switchTask(task) {
    const { app, store } = this;
    const patch = this.taskPatch(task);
    if (!patch.dataset) return;
    const convert = task === "regression" ? (c) => (c === 0 ? -1 : 1) : (v) => (v > 0 ? 1 : 0);
    app.setPoints(store.points.map(([x, y, c]) => [x, y, convert(c)]));
    if (task === "classification" && this.tool === "drag") this.tool = "add";
    app.change(patch);
  }

  bindDrawing() {
    const app = this.app;
    on($("#swatches"), "click", ".mlp-swatch", (_, b) => {
      this.drawClass = Number(b.dataset.class);
      this.tool = "add";
      if (!app.isCustom()) return this.toCustom();
      this.renderSwatches();
    });
    $("#tool-erase").addEventListener("click", () => {
      this.tool = this.tool === "erase" ? "add" : "erase";
      if (!app.isCustom()) return this.toCustom();
      this.renderSwatches();
    });
    on($("#draw-task"), "click", "button", (_, b) => this.switchTask(b.dataset.task));
    $("#draw-value").addEventListener("input", () => {
      this.tool = "add";
      this.renderLabels();
      if (!app.isCustom()) return this.toCustom();
      this.renderSwatches();
    });
    $("#tool-drag").addEventListener("click", () => {
      this.tool = this.tool === "drag" ? "add" : "drag";
      if (!app.isCustom()) return this.toCustom(true); // dragging needs the points to drag
      this.renderSwatches();
    });
    $("#btn-clear").addEventListener("click", () => {
      app.setPoints([]);
      if (!app.isCustom()) this.tool = "add";
      app.change({ dataset: { name: "custom" } });
    });
  }

  // ---- network ---------------------------------------------------------------------------------
  bindNetwork() {
    const { app, store } = this;
    $("#layer-add").addEventListener("click", () => {
      const hidden = store.cfg.model.hidden;
      if (hidden.length < LIMITS.layers) {
        app.change({ model: { hidden: [...hidden, hidden.at(-1) ?? 4] } });
      }
    });
    $("#layer-remove").addEventListener("click", () => {
      app.change({ model: { hidden: store.cfg.model.hidden.slice(0, -1) } });
    });
    $("#activation").addEventListener("change", (e) => {
      app.change({ model: { activation: e.target.value } });
    });
    $("#dropout").addEventListener("input", (e) => {
      store.cfg.model.dropout = Number(e.target.value);
      this.renderLabels();
    });
    $("#dropout").addEventListener("change", () => app.change({}));
    $("#batch_norm").addEventListener("change", (e) => {
      app.change({ model: { batch_norm: e.target.checked } });
    });
  }

  // What the network diagram asks for: a feature switched, a neuron added or removed.
  toggleFeature(id) {
    const { features } = this.store.cfg.model;
    const on = features.includes(id);
    if (on && features.length === 1) {
      showError("The network needs at least one input feature.");
      return;
    }
    const next = on ? features.filter((f) => f !== id) : [...features, id];
    const ordered = this.store.options.features.filter((f) => next.includes(f));
    this.app.change({ model: { features: ordered } });
  }

  neurons(layer, delta) {
    const hidden = [...this.store.cfg.model.hidden];
    hidden[layer] = Math.max(1, Math.min(LIMITS.neurons, hidden[layer] + delta));
    this.app.change({ model: { hidden } });
  }

  // ---- training --------------------------------------------------------------------------------
  bindTraining() {
    const app = this.app;
    // Learning rate and weight decay change on the fly; the rest resets the training.
    for (const key of ["learning_rate", "weight_decay"]) {
      $(`#${key}`).addEventListener("change", (e) => app.setOnTheFly(key, Number(e.target.value)));
    }
    $("#speed-select").addEventListener("change", (e) => app.setSpeed(Number(e.target.value)));
    for (const key of ["optimizer", "loss"]) {
      $(`#${key}`).addEventListener("change", (e) => {
        app.change({ training: { [key]: e.target.value } });
      });
    }
    const sizeAt = (index) => BATCH_SIZES[index] || LIMITS.points; // 0: the whole set
    $("#batch_size").addEventListener("input", (e) => {
      this.renderBatch(sizeAt(Number(e.target.value)));
    });
    $("#batch_size").addEventListener("change", (e) => {
      app.change({ training: { batch_size: sizeAt(Number(e.target.value)) } });
    });
  }

  // One click out of divergence: the next learning rate down by ten or more, and a fresh start.
  lowerLearningRate() {
    const rate = this.store.cfg.training.learning_rate;
    const lower = LEARNING_RATES.filter((r) => r <= rate / 10).at(-1);
    this.app.change({ training: { learning_rate: lower ?? rate / 10 } });
  }
}
