// The data and training form of the CNN lab: config fields <-> controls (docs/protocol-cnn.md §1).
//   const form = new SettingsForm(limits);  form.write(config, configured);  form.read(draft);
// Architecture lives in cnn-builder.js; this covers every other field of the config. Values and
// choices come from the server (the config, `configured.choices` and `.datasets`, boot.js
// LIMITS); what is here are display labels and the steps the sliders and menus offer.
import { $, setField, slider, pct } from "./ui.js";
import { fmtInt } from "./cnn-builder.js";
import { esc } from "./cnn-views.js";

export const LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1];
const SAMPLE_COUNTS = [null, 100, 200, 500, 1000, 2000, 5000, 10000, 20000];
const BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
const OPTIMIZER_LABELS = { momentum: "SGD + momentum" };  // others: the registry's title
const shortTitle = (d) => (d.title || d.name).replace(/\s*\(.*\)$/, "");

export class SettingsForm {
  constructor(limits) {
    this.batchSizes = BATCH_SIZES.filter((b) => b <= limits.max_batch_size);
    const c = {
      dataset: $("#dataset"), upscale: $("#upscale"), val_fraction: $("#val_fraction"),
      test_fraction: $("#test_fraction"), samples: $("#samples"), label_noise: $("#label_noise"),
      weighted_loss: $("#weighted_loss"), oversample: $("#oversample"), optimizer: $("#optimizer"), learning_rate: $("#learning_rate"),
      batch_size: $("#batch_size"), epochs: $("#epochs"), weight_decay: $("#weight_decay"), seed: $("#seed"),
    };
    this.controls = c;
    c.learning_rate.innerHTML = LEARNING_RATES.map((v) => `<option value="${v}">${v}</option>`).join("");
    c.batch_size.max = this.batchSizes.length - 1;
    c.epochs.max = limits.max_epochs;
    slider(c.upscale, $("#upscale-out"), (v) => `×${v}`);
    slider(c.label_noise, $("#noise-out"), (v) => pct(v, 0));
    slider(c.batch_size, $("#batch-out"), (v) => this.batchSizes[v]);
    slider(c.epochs, $("#epochs-out"), (v) => v);
    slider($("#imbalance-fraction"), $("#imbalance-out"), (v) => `to ${pct(v, 0)}`);
    slider($("#aug-shift"), $("#aug-shift-out"), (v) => `${v}px`);
    slider($("#aug-rotate"), $("#aug-rotate-out"), (v) => `±${v}°`);
    slider($("#aug-jitter"), $("#aug-jitter-out"), (v) => v.toFixed(2));
  }

  // Labels that depend on several controls.
  refresh() {
    const c = this.controls;
    const v = Number(c.val_fraction.value);
    const t = Number(c.test_fraction.value);
    $("#split-out").textContent = `${Math.round(100 * (1 - v - t))} / ${Math.round(100 * v)} / ${Math.round(100 * t)} %`;
    $("#upscale-field").hidden = c.dataset.value !== "digits";
  }

  // Controls -> the fields of `draft` (a full config, edited in place).
  read(d) {
    const c = this.controls;
    d.dataset = c.dataset.value;
    d.upscale = Number(c.upscale.value);
    d.val_fraction = Number(c.val_fraction.value);
    d.test_fraction = Number(c.test_fraction.value);
    d.samples = c.samples.value ? Number(c.samples.value) : null;
    d.label_noise = Number(c.label_noise.value);
    d.weighted_loss = c.weighted_loss.checked;
    d.oversample = c.oversample.checked;
    d.optimizer = c.optimizer.value;
    d.learning_rate = Number(c.learning_rate.value);
    d.batch_size = this.batchSizes[Number(c.batch_size.value)];
    d.epochs = Number(c.epochs.value);
    d.weight_decay = Number(c.weight_decay.value);
    d.seed = Math.max(0, Math.min(2147483647, Math.floor(Number(c.seed.value) || 0)));
    d.imbalance = {
      classes: [...document.querySelectorAll("#imbalance-classes [aria-pressed=true]")].map((b) => Number(b.dataset.k)),
      fraction: Number($("#imbalance-fraction").value),
    };
    d.augment = {
      flip: $("#aug-flip").checked, shift: Number($("#aug-shift").value),
      rotate: Number($("#aug-rotate").value), color_jitter: Number($("#aug-jitter").value),
    };
  }

  // The slider position of a batch size; one not on the scale (a shared link's) joins it.
  batchIndex(size) {
    if (!this.batchSizes.includes(size)) {
      this.batchSizes = [...this.batchSizes, size].sort((a, b) => a - b);
      this.controls.batch_size.max = this.batchSizes.length - 1;
    }
    return this.batchSizes.indexOf(size);
  }

  // A config (and the `configured` message it came with: datasets, classes, choices) -> controls.
  write(cfg, live) {
    const c = this.controls;
    c.optimizer.innerHTML = live.choices.optimizers.map((o) =>
      `<option value="${esc(o.name)}">${esc(OPTIMIZER_LABELS[o.name] || o.title)}</option>`).join("");
    const datasets = live.datasets || [];
    c.dataset.innerHTML = datasets.map((d) => {
      const off = d.available === false;
      return `<option value="${esc(d.name)}"${off ? " disabled" : ""} title="${esc(d.hint || d.title || "")}">` +
        `${esc(shortTitle(d))}${off ? " (not installed)" : ""}</option>`;
    }).join("");
    c.dataset.value = cfg.dataset;
    c.dataset.title = live.dataset.title;
    const missing = datasets.filter((d) => d.available === false);
    $("#dataset-hint").innerHTML = missing.length
      ? `<details><summary>${missing.map((d) => esc(shortTitle(d))).join(", ")}: not installed</summary>` +
        `<ul>${missing.map((d) => `<li>${esc(d.hint || "")}</li>`).join("")}</ul></details>`
      : "";
    c.upscale.value = cfg.upscale;
    c.val_fraction.value = cfg.val_fraction;
    c.test_fraction.value = cfg.test_fraction;
    const counts = SAMPLE_COUNTS.includes(cfg.samples) ? SAMPLE_COUNTS : [...SAMPLE_COUNTS, cfg.samples];
    c.samples.innerHTML = counts.map((n) => `<option value="${n ?? ""}">${n === null ? "all" : fmtInt(n)}</option>`).join("");
    c.samples.value = cfg.samples ?? "";
    c.label_noise.value = cfg.label_noise;
    c.weighted_loss.checked = cfg.weighted_loss;
    c.oversample.checked = cfg.oversample;
    c.optimizer.value = cfg.optimizer;
    if (!LEARNING_RATES.includes(cfg.learning_rate)) {
      c.learning_rate.insertAdjacentHTML("beforeend", `<option value="${cfg.learning_rate}">${cfg.learning_rate}</option>`);
    }
    c.learning_rate.value = cfg.learning_rate;
    c.batch_size.value = this.batchIndex(cfg.batch_size);
    c.epochs.value = cfg.epochs;
    c.weight_decay.value = cfg.weight_decay;
    setField(c.seed, cfg.seed);
    $("#imbalance-classes").innerHTML = live.dataset.classes.map((name, k) =>
      `<button type="button" class="cnn-chip" data-k="${k}" aria-pressed="${cfg.imbalance.classes.includes(k)}">${esc(name)}</button>`).join("");
    $("#imbalance-fraction").value = cfg.imbalance.fraction;
    $("#aug-flip").checked = cfg.augment.flip;
    $("#aug-shift").value = cfg.augment.shift;
    $("#aug-rotate").value = cfg.augment.rotate;
    $("#aug-jitter").value = cfg.augment.color_jitter;
    // update the <output> labels (slider() listens to "input"; the page's own listener ignores
    // events until the draft exists)
    for (const el of document.querySelectorAll("#cnn input[type=range]")) el.dispatchEvent(new Event("input"));
    this.refresh();
  }

  clearImbalance() {
    for (const b of document.querySelectorAll("#imbalance-classes button")) b.setAttribute("aria-pressed", "false");
  }
}
