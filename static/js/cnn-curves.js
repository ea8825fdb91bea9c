// The CNN lab's training read-out: loss and accuracy curves, the epoch / step / speed counters and
// the note under the train–validation gap. Fed by the `metrics` and `history` messages
// (docs/protocol-cnn.md); cnn.js clears it whenever a run starts again.
import { SERIES } from "./palette.js";
import { LineChart } from "./charts.js";
import { $, pct } from "./ui.js";
import { fmtInt } from "./cnn-builder.js";

export class Curves {
  // labelNoise: () => the live config's label_noise (the gap note explains poisoned labels)
  constructor(sock, { labelNoise = () => 0 } = {}) {
    this.labelNoise = labelNoise;
    this.lastStep = -1;
    this.lastValStep = null;
    this.lossChart = new LineChart($("#chart-loss"), {
      series: [{ ...SERIES.train, label: "train loss" }, { ...SERIES.val, label: "validation loss" }],
      yLabel: "loss", height: 200,
    });
    this.accChart = new LineChart($("#chart-acc"), {
      series: [{ ...SERIES.train, label: "train accuracy" }, { ...SERIES.val, label: "validation accuracy" }],
      yLabel: "accuracy", height: 200, yRange: [0, 1],
    });
    for (const chart of [this.lossChart, this.accChart]) chart.plot.series[2].spanGaps = true;  // val points are sparse
    sock.on("metrics", (m) => this.metrics(m));
    sock.on("history", (m) => this.history(m));
  }

  clear() {
    this.lossChart.clear();
    this.accChart.clear();
    this.lastValStep = null;
    this.lastStep = -1;
  }

  metrics(m) {
    if (m.step < this.lastStep) this.clear();
    this.lastStep = m.step;
    $("#epoch").textContent = m.epoch === null ? "0" : m.epoch.toFixed(1);
    $("#step").textContent = fmtInt(m.step);
    $("#train-acc").textContent = pct(m.train_acc);
    $("#val-acc").textContent = pct(m.val_acc);
    // the validation numbers come from one pass: say which epoch's weights it saw
    $("#val-at").textContent = m.val_epoch === null ? "" : `at epoch ${m.val_epoch.toFixed(1)}`;
    $("#speed").textContent = m.images_per_s ? fmtInt(Math.round(m.images_per_s)) : "–";
    $("#progress").style.width = `${Math.min(100, (100 * (m.epoch || 0)) / (m.epochs || 1))}%`;
    const gap = m.train_acc !== null && m.val_acc !== null ? m.train_acc - m.val_acc : null;
    $("#gap").textContent = gap === null ? "–" : `${gap >= 0 ? "+" : ""}${(gap * 100).toFixed(1)} pt`;
    $("#gap").classList.toggle("bad", gap !== null && gap > 0.05);
    $("#gap").title = "Training accuracy (the batches since the last update) minus validation accuracy" +
      (m.val_epoch === null ? "" : ` (at epoch ${m.val_epoch.toFixed(1)})`) + ": a growing gap is overfitting";
    this.gapNote(m, gap);
    if (m.step === 0 && m.train_loss === null) return;
    const fresh = m.val_step !== null && m.val_step !== this.lastValStep;
    this.lastValStep = m.val_step;
    this.lossChart.push(m.step, [m.train_loss, fresh ? m.val_loss : null]);
    this.accChart.push(m.step, [m.train_acc, fresh ? m.val_acc : null]);
  }

  gapNote(m, gap) {
    const el = $("#gap-note");
    const noise = this.labelNoise() || 0;
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

  history(m) {
    this.clear();
    let lastVal = null;
    for (const p of m.points) {
      const fresh = p.val_loss !== null && p.val_loss !== lastVal;
      lastVal = p.val_loss;
      this.lossChart.push(p.step, [p.train_loss, fresh ? p.val_loss : null]);
      this.accChart.push(p.step, [p.train_acc, fresh ? p.val_acc : null]);
      this.lastStep = p.step;
    }
  }
}
