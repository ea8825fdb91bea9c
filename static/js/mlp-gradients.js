// The MLP playground's gradients: how the backward view draws them, and the chart of each layer's
// gradient size ||dL/dW|| over time (log scale), with the latest values beside it.
// The numbers come in every `mlp` frame once the page has sent `gradients` (docs/protocol-mlp.md).
import { CLASS_RGB } from "./palette.js";

export const DECADES = 6; // the backward view's thickness spans six powers of ten below the largest
const POSITIVE = `rgb(${CLASS_RGB[1].join(",")})`;
const NEGATIVE = `rgb(${CLASS_RGB[0].join(",")})`;

// 0..1: where |g| sits on a log scale from `largest` / 10^DECADES (0) to `largest` (1).
export function logStrength(g, largest) {
  const a = Math.abs(g);
  if (!(a > 0) || !(largest > 0)) return 0;
  return Math.max(0, Math.min(1, 1 + Math.log10(a / largest) / DECADES));
}

// A link's look in the backward view: colour = sign of dL/dw, thickness (and a little opacity) =
// |dL/dw| on the log scale, never thinner than a hairline so tiny gradients stay visible.
export function gradientLinkStyle(g, largest) {
  const t = logStrength(g, largest);
  return {
    stroke: g >= 0 ? POSITIVE : NEGATIVE,
    width: (0.6 + 5.4 * t).toFixed(1),
    opacity: (0.35 + 0.55 * t).toFixed(2),
  };
}

// A neuron's ring in the backward view: its delta dL/dz, same encoding.
export function deltaRing(delta, largest) {
  const t = logStrength(delta, largest);
  return `0 0 0 ${(1 + 3.5 * t).toFixed(1)}px ${delta >= 0 ? POSITIVE : NEGATIVE}`;
}

// Short, exact-enough numbers for tiny and huge values alike: `digits` significant digits.
export function num(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e4) return String(Number(v.toPrecision(digits)));
  return v.toExponential(Math.max(2, digits - 2)).replace("e-", "e−").replace("e+", "e");
}

// Per-layer colours, light (first layer) to dark (output): a layer's place in the stack at a glance.
const LAYER_COLORS = ["#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b", "#041f4a"];
export const layerColor = (l, n) =>
  LAYER_COLORS[Math.round((l / Math.max(1, n - 1)) * (LAYER_COLORS.length - 1))];

// Name of weight layer l of n (0-based): "W1 in→H1", ..., "W3 H2→out".
export function layerName(l, n) {
  const from = l === 0 ? "in" : `H${l}`;
  const to = l === n - 1 ? "out" : `H${l + 1}`;
  return `W${l + 1} ${from}→${to}`;
}

const MAX_POINTS = 2000; // older points are thinned beyond this: bounded memory, whole history

// Powers of ten for a log axis: 1e-8, 1e-6, 0.01, 1...
const powerLabel = (v) => (v === null || v === undefined ? ""
  : v >= 0.01 && v <= 100 ? String(v) : v.toExponential(0).replace("e-", "e−"));

export class GradientChart {
  // el: the chart's container; table: the element listing the latest norms (it is the legend:
  // each bar has its line's colour); source: where the page says what they are taken over.
  constructor(el, table, source) {
    this.el = el;
    this.table = table;
    this.source = source;
    this.plot = null;
    this.layers = 0;
    this.last = -1;
    this.data = [[]];
    new ResizeObserver(() => {
      const width = Math.max(200, el.clientWidth);
      if (this.plot && width !== this.plot.width) this.plot.setSize({ width, height: 180 });
    }).observe(el);
  }

  // A fresh chart for n layers (a uPlot chart's series are fixed when it is made).
  rebuild(n) {
    this.plot?.destroy();
    this.layers = n;
    this.data = [[], ...Array.from({ length: n }, () => [])];
    const grid = { stroke: "#eef1f5" };
    this.plot = new window.uPlot({
      width: Math.max(200, this.el.clientWidth || 360),
      height: 180,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false }, y: { distr: 3, log: 10 } },
      axes: [
        { label: "step", size: 34, labelSize: 14, stroke: "#667085", grid },
        { label: "‖∂L/∂W‖", size: 56, labelSize: 14, stroke: "#667085", grid,
          values: (u, splits) => splits.map(powerLabel) },
      ],
      series: [{}, ...Array.from({ length: n }, (_, l) => ({
        label: layerName(l, n), stroke: layerColor(l, n), width: 2, points: { show: false },
      }))],
    }, this.data, this.el);
    this.last = -1;
  }

  append(x, ys) {
    this.data[0].push(x);
    ys.forEach((y, l) => this.data[l + 1].push(y));
    if (this.data[0].length > MAX_POINTS) {
      const half = this.data[0].length >> 1; // keep every other point of the older half
      this.data = this.data.map((a) => a.filter((_, i) => i >= half || i % 2 === 0));
    }
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.plot?.setData(this.data);
    });
  }

  clear() {
    this.data = this.data.map(() => []);
    this.plot?.setData(this.data);
    this.last = -1;
    this.table.replaceChildren();
    delete this.table.dataset.ratio;
    this.source.textContent = "";
  }

  // One frame's gradients: meta.gradients of an `mlp` frame (null without training points).
  push(step, gradients, train) {
    if (!gradients) return this.clear();
    const norms = gradients.norms;
    if (norms.length !== this.layers || !this.plot) this.rebuild(norms.length);
    if (step < this.last) this.clear(); // a reset: the run starts again
    if (step !== this.last) this.append(step, norms.map((v) => (v > 0 ? v : null))); // log: no 0
    this.last = step;
    this.renderTable(norms);
    const what = gradients.over === "batch"
      ? `the last mini-batch (${gradients.rows} points)`
      : `all ${gradients.rows} training points`;
    const before = gradients.over !== train ? " (no mini-batch yet: no step taken)" : "";
    this.source.textContent = `Over ${what}${before}, at step ${step.toLocaleString("en-US")}.`;
  }

  // The latest norms, a bar each on the same log scale as the network's links, and how far
  // below the last layer the first one is.
  renderTable(norms) {
    const n = norms.length;
    const largest = Math.max(...norms.map((v) => v || 0));
    const rows = norms.map((v, l) => {
      const row = document.createElement("div");
      row.className = "mlp-gn-row";
      row.dataset.layer = l;
      const name = document.createElement("span");
      name.textContent = layerName(l, n);
      const bar = document.createElement("i");
      bar.style.width = `${(100 * logStrength(v, largest)).toFixed(1)}%`;
      bar.style.background = layerColor(l, n);
      const value = document.createElement("b");
      value.className = "mlp-gn-value";
      value.textContent = num(v);
      row.append(name, bar, value);
      return row;
    });
    const first = norms[0];
    const last = norms[n - 1];
    const summary = document.createElement("div");
    summary.className = "mlp-gn-summary";
    if (n > 1 && first > 0 && last > 0) {
      const ratio = last / first;
      this.table.dataset.ratio = String(ratio);
      summary.textContent = ratio >= 1
        ? `The first layer's gradient is ${num(ratio)}× smaller than the last layer's.`
        : `The first layer's gradient is ${num(1 / ratio)}× larger than the last layer's.`;
      summary.classList.toggle("vanishing", ratio >= 100);
    } else {
      delete this.table.dataset.ratio;
    }
    this.table.replaceChildren(...rows, summary);
  }
}
