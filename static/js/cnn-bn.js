// Batch norm, properly. The panel: for one channel of a batch-norm layer, the histogram of its
// inputs over the last training batch, μ_B and σ²_B, the normalised values, γ and β as learnt
// now, the running statistics eval mode uses, the formula with these numbers, and the image shown
// through the layer in train and eval mode side by side. The comparison: the same net trained
// with and without batch norm from the same seed, curves overlaid, and each block's
// pre-activation histograms over time. Wire: `batchnorm` → cnn.bn; `compare` → `compare`
// messages and cnn.histograms frames (docs/protocol-cnn.md §6).
import { $ } from "./ui.js";
import { LineChart } from "./charts.js";
import { CLASS_COLORS } from "./palette.js";
import { COLORMAPS, drawGrid } from "./heatmap.js";
import { esc } from "./cnn-views.js";
import { num } from "./cnn-numbers.js";

const WITH = { label: "with batch norm", color: CLASS_COLORS[1] };
const WITHOUT = { label: "without batch norm", color: CLASS_COLORS[0], dash: [6, 4] };

function drawHistogram(canvas, counts, color) {
  const w = 240;
  const h = 70;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const top = Math.max(1, ...counts);
  const bar = w / counts.length;
  ctx.fillStyle = color;
  counts.forEach((n, i) => {
    const height = (n / top) * (h - 2);
    ctx.fillRect(i * bar + 0.5, h - height, Math.max(1, bar - 1), height);
  });
}

export class BatchNormPanel {
  // model: () => the shown model's number
  constructor(sock, { model }) {
    this.sock = sock;
    this.model = model;
    this.active = false;
    this.lastAsk = 0;
    this.comparing = false;
    this.lastValStep = [null, null];
    $("#bn-show").addEventListener("click", () => this.request());
    $("#bn-channel").addEventListener("change", () => this.request());
    $("#bn-layer").addEventListener("change", () => this.request());
    $("#compare-toggle").addEventListener("click", () => this.sock.send({ type: "compare", on: !this.comparing }));
    sock.on("frame:cnn.bn", (f) => this.panel(f));
    sock.on("evaluation", () => this.follow());
    sock.on("compare", (m) => this.compare(m));
    sock.on("frame:cnn.histograms", (f) => this.histograms(f));
    this.loss = new LineChart($("#compare-loss"), {
      series: [{ ...WITH, label: "training loss with batch norm" }, { ...WITHOUT, label: "training loss without" }],
      yLabel: "loss", height: 180,
    });
    this.acc = new LineChart($("#compare-acc"), {
      series: [{ ...WITH, label: "validation accuracy with batch norm" }, { ...WITHOUT, label: "validation accuracy without" }],
      yLabel: "accuracy", height: 180, yRange: [0, 1],
    });
    for (const chart of [this.acc]) {
      chart.plot.series[1].spanGaps = true;
      chart.plot.series[2].spanGaps = true;
    }
  }

  // A new model: offer its batch-norm layers.
  reset(layers) {
    const norms = layers.filter((l) => l.kind === "batchnorm");
    $("#bn-layer").innerHTML = norms.map((l) => `<option value="${l.index}">${esc(l.name)} (${l.shape[0]} channels)</option>`).join("");
    $("#bn-none").hidden = norms.length > 0;
    $("#bn-controls").hidden = norms.length === 0;
    $("#bn-result").hidden = true;
    this.active = false;
    this.showCompare(false);
  }

  request() {
    const model = this.model();
    const layer = $("#bn-layer").value;
    if (model === null || layer === "") return;
    this.active = true;
    this.lastAsk = performance.now();
    this.sock.send({ type: "batchnorm", model, layer: Number(layer), channel: Math.max(0, Number($("#bn-channel").value) || 0) });
  }

  // After each validation pass, the open panel shows the latest batch (at most once a second).
  follow() {
    if (this.active && performance.now() - this.lastAsk > 1000) this.request();
  }

  panel(f) {
    const m = f.meta;
    $("#bn-result").hidden = false;
    $("#bn-channel").max = m.channels - 1;
    const sd = Math.sqrt(m.var + m.eps);
    $("#bn-numbers").innerHTML = `<p><b>${esc(m.name)}</b>, channel ${m.channel}, at step ${m.step}: the last training batch,
      ${m.batch} images × their positions = <b>m = ${m.count}</b> values.</p>
      <table class="cnn-table small"><tbody>
      <tr><th>μ<sub>B</sub> (batch mean)</th><td class="num" id="bn-mean">${num(m.mean)}</td><th>running mean</th><td class="num">${num(m.running_mean)}</td></tr>
      <tr><th>σ²<sub>B</sub> (batch variance)</th><td class="num" id="bn-var">${num(m.var)}</td><th>running variance</th><td class="num">${num(m.running_var)}</td></tr>
      <tr><th>γ (learnt scale)</th><td class="num">${num(m.gamma)}</td><th>β (learnt shift)</th><td class="num">${num(m.beta)}</td></tr>
      <tr><th>ε</th><td class="num">${num(m.eps)}</td><th>momentum</th><td class="num">${num(m.momentum)}</td></tr></tbody></table>
      <p class="cnn-formula">training: y = γ · (x − μ<sub>B</sub>) / √(σ²<sub>B</sub> + ε) + β = ${num(m.gamma)} · (x − ${num(m.mean)}) / ${num(sd)} + ${num(m.beta)}</p>
      <p class="cnn-formula">evaluation: y = ${num(m.gamma)} · (x − ${num(m.running_mean)}) / ${num(Math.sqrt(m.running_var + m.eps))} + ${num(m.beta)}
      <span class="muted">(running averages, updated by every training batch with momentum ${num(m.momentum)})</span></p>`;
    drawHistogram($("#bn-hist-x"), m.inputs.counts, "#667085");
    drawHistogram($("#bn-hist-xhat"), m.normalised.counts, "#0877bd");
    drawHistogram($("#bn-hist-y"), m.outputs.counts, "#ee4c2c");
    $("#bn-hist-x-range").textContent = `x: ${num(m.inputs.lo)} … ${num(m.inputs.hi)}`;
    $("#bn-hist-xhat-range").textContent = `x̂ = (x − μ) / √(σ² + ε): ${num(m.normalised.lo)} … ${num(m.normalised.hi)}`;
    $("#bn-hist-y-range").textContent = `y = γ x̂ + β: ${num(m.outputs.lo)} … ${num(m.outputs.hi)}`;
    for (const name of ["input", "train", "eval"]) {
      const arr = f.arrays[name];
      drawGrid($(`#bn-map-${name}`), arr.data, arr.shape[1], arr.shape[0], COLORMAPS.viridis);
    }
    $("#bn-map-range").textContent = `one colour scale for the three: ${num(m.map_min)} … ${num(m.map_max)}`;
  }

  showCompare(on) {
    this.comparing = on;
    $("#compare-toggle").textContent = on ? "Stop comparing" : "Train with and without batch norm";
    $("#compare-toggle").classList.toggle("primary", !on);
    $("#compare-body").hidden = !on;
    if (!on) {
      this.loss.clear();
      this.acc.clear();
      this.lastValStep = [null, null];
    }
  }

  compare(m) {
    if (m.on !== this.comparing) this.showCompare(m.on);
    if (!m.on || m.runs.length !== 2) return;
    const [a, b] = m.runs[0].batch_norm ? m.runs : [m.runs[1], m.runs[0]];
    const step = Math.min(a.step, b.step);
    if (step === 0) {
      this.loss.clear();
      this.acc.clear();
      this.lastValStep = [null, null];
      $("#compare-status").textContent = "Both nets start from the same weights. Press play.";
      return;
    }
    this.loss.push(step, [a.train_loss, b.train_loss]);
    const fresh = [a, b].map((r, i) => r.val_step !== null && r.val_step !== this.lastValStep[i]);
    if (fresh[0] || fresh[1]) {
      this.acc.push(step, [fresh[0] ? a.val_acc : null, fresh[1] ? b.val_acc : null]);
      this.lastValStep = [a.val_step, b.val_step];
    }
    $("#compare-status").innerHTML = `with batch norm: step ${a.step}, validation ${a.val_acc === null ? "–" : `${(100 * a.val_acc).toFixed(1)}%`} · ` +
      `without: step ${b.step}, validation ${b.val_acc === null ? "–" : `${(100 * b.val_acc).toFixed(1)}%`}`;
  }

  // Each block's pre-activation histograms over time: x = validation passes, y = value.
  histograms(f) {
    const root = $("#compare-hists");
    const byRun = Object.fromEntries(f.meta.runs.map((r) => [r.batch_norm ? "on" : "off", r]));
    const blocks = byRun.on?.blocks || [];
    const [lo, hi] = f.meta.range;
    root.innerHTML = blocks.map((b) => `<div class="cnn-hist-pair"><span class="muted">block ${b}: what its activation receives</span>` +
      ["on", "off"].map((run) => `<figure><canvas class="pixelated" data-run="${run}" data-block="${b}"></canvas>` +
        `<figcaption>${run === "on" ? "with" : "without"} batch norm</figcaption></figure>`).join("") + "</div>").join("") +
      `<p class="muted">Up: ${hi}, down: ${lo} (beyond go to the edges); left to right: validation passes. Bright = many values.</p>`;
    const bins = f.meta.bins;
    for (const canvas of root.querySelectorAll("canvas")) {
      const arr = f.arrays[`${canvas.dataset.run}${canvas.dataset.block}`];
      if (!arr) continue;
      const t = arr.shape[0];
      const image = new Uint8Array(t * bins);  // transposed: column = time, row = bin (high on top)
      for (let i = 0; i < t; i++) {
        for (let k = 0; k < bins; k++) image[(bins - 1 - k) * t + i] = arr.data[i * bins + k];
      }
      drawGrid(canvas, image, t, bins, COLORMAPS.viridis);
    }
  }
}
