// The MLP as tensors: a table of every step of the forward pass with the shapes of what goes in
// and out (batch dimension N first, each dimension named), its parameters, dtype and device
// (`configured.model.tensors`, ml_core/mlp_tensors.py), and an inspector for one layer: its
// weight tensor as a grid of numbers with min / max / mean (live from the frames), its gradient
// in the backward view, and the activation tensors of the example picked for the walk-through.
import { h, n } from "./mlp-walk.js";

const REFRESH_MS = 250; // the inspector's grids follow training at most 4 times a second

// [{name, size}] -> "N × 4" with the names beneath: "batch × h1".
function shape(dims) {
  const sizes = dims.map((d) => (d.size === null ? "N" : String(d.size))).join(" × ");
  const names = dims.map((d) => (d.size === null ? "batch" : d.name)).join(" × ");
  return h("span", { class: "mlp-shape", title: names }, sizes, h("small", {}, names));
}

// Numbers of a tensor (a matrix or a vector) as one flat list.
const flat = (values) => (Array.isArray(values[0]) ? values.flat() : Array.from(values));

function stats(values) {
  const all = flat(values);
  if (!all.length) return null;
  let min = Infinity;
  let max = -Infinity;
  let total = 0;
  for (const v of all) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    total += v;
  }
  return { min, max, mean: total / all.length, count: all.length };
}

// A matrix (rows of numbers) as a grid, each cell tinted by its sign and size.
function grid(rows, cls) {
  const largest = Math.max(1e-30, ...rows.flat().map(Math.abs));
  return h("div", { class: "mlp-walk-scroll", tabindex: "0" }, h("table", { class: `mlp-tensor-grid ${cls}` },
    rows.map((row) => h("tr", {}, row.map((v) => {
      const cell = h("td", {}, n(v));
      const t = Math.abs(v) / largest;
      cell.style.background = v >= 0 ? `rgba(8, 119, 189, ${(0.45 * t).toFixed(2)})`
        : `rgba(245, 147, 34, ${(0.45 * t).toFixed(2)})`;
      return cell;
    })))));
}

function statLine(s, what) {
  if (!s) return null;
  return h("p", { class: "mlp-tensor-stats" }, `${what}: min `, n(s.min), " · max ", n(s.max),
    " · mean ", n(s.mean), ` · ${s.count} numbers`);
}

export class TensorPanel {
  // root: the tensors card; handlers: {select(layer)} when a row is clicked.
  constructor(root, handlers) {
    this.root = root;
    this.handlers = handlers;
    this.table = root.querySelector("#tensor-table");
    this.inspector = root.querySelector("#tensor-inspector");
    this.rows = [];
    this.layer = null;
    this.frame = null;
    this.explanation = null;
    this.drawnAt = 0;
    this.table.addEventListener("click", (event) => {
      const row = event.target.closest("tr[data-layer]");
      if (row) handlers.select(Number(row.dataset.layer));
    });
  }

  // The server's table and what N means for this run (batch size and training points).
  setModel(model, batch, train) {
    this.rows = model ? model.tensors : [];
    this.layers = model ? model.layers : [];
    if (this.layer !== null && this.layer >= this.layers.length - 1) this.layer = null;
    this.root.querySelector("#tensor-n").textContent = model
      ? `N is the batch dimension: ${Math.min(batch, train || batch)} points in a training step, `
        + `${train} for the training-set loss and gradients, 1 in the walk-through.`
      : "";
    const head = h("tr", {}, ["Step", "Input", "Parameters", "Output", "dtype · device"]
      .map((t) => h("th", {}, t)));
    this.table.replaceChildren(head, ...this.rows.map((row) => h("tr", {
      data: { layer: row.layer, kind: row.kind }, class: row.layer === this.layer ? "on" : null,
      title: "Click to inspect this layer's tensors",
    },
    h("td", {}, row.name),
    h("td", {}, shape(row.input)),
    h("td", {}, Object.entries(row.params).map(([name, dims]) => h("div", {}, `${name} `,
      shape(dims)))),
    h("td", {}, shape(row.output)),
    h("td", {}, `${row.dtype} · ${row.device}`, h("small", {}, row.library)))));
    this.render();
  }

  select(layer) {
    this.layer = layer;
    for (const tr of this.table.querySelectorAll("tr[data-layer]")) {
      tr.classList.toggle("on", Number(tr.dataset.layer) === layer);
    }
    this.render();
    this.root.scrollIntoView?.({ block: "nearest" });
  }

  // A new frame: the inspector follows it, a few times a second.
  update(frame) {
    this.frame = frame;
    const now = performance.now();
    if (this.layer === null || now - this.drawnAt < REFRESH_MS) return;
    this.render();
  }

  setExplanation(e) {
    this.explanation = e;
    this.render();
  }

  render() {
    this.drawnAt = performance.now();
    const l = this.layer;
    this.root.dataset.layer = l ?? "";
    if (l === null || !this.rows.length) {
      this.inspector.replaceChildren(h("p", { class: "mlp-help" },
        "Click a row, or a layer's title in the network, to see its tensors."));
      return;
    }
    const linear = this.rows.find((r) => r.kind === "linear" && r.layer === l);
    const [outDim, inDim] = linear.params.weight;
    const where = `${linear.dtype} on ${linear.device} (${linear.library})`;
    const parts = [h("h3", {}, `${linear.name}: `, h("span", { class: "mlp-tensor-shape" },
      `W ${outDim.size} × ${inDim.size} (${outDim.name} × ${inDim.name}), b ${outDim.size}, `
      + where))];
    const m = this.frame?.meta;
    const fits = m && m.layers.length === this.layers.length
      && m.layers.every((v, k) => v === this.layers[k]);
    if (fits) {
      parts.push(statLine(stats(m.weights[l]), "weights W"), grid(m.weights[l], "weights"));
      parts.push(h("p", { class: "mlp-tensor-bias" }, "bias b: ", m.biases[l].map((b, j) =>
        [j ? ", " : "", n(b)])));
      const grads = this.frame.arrays.grad_weights?.data;
      if (grads && m.gradients) {
        let offset = 0;
        for (let k = 0; k < l; k++) offset += m.layers[k] * m.layers[k + 1];
        const rows = Array.from({ length: outDim.size }, (_, j) =>
          Array.from(grads.subarray(offset + j * inDim.size, offset + (j + 1) * inDim.size)));
        parts.push(statLine(stats(rows), "gradient ∂L/∂W"), grid(rows, "grads"));
      }
    }
    parts.push(this.activations(l));
    this.inspector.replaceChildren(...parts.filter(Boolean));
  }

  // The picked example's tensors around layer l: what comes in, z, and what goes out.
  activations(l) {
    const e = this.explanation;
    if (!e || e.layers.length !== this.layers.length - 1) {
      return h("p", { class: "mlp-help" }, "Pick a training point (click a solid dot on the "
        + "output plot) to see its activation tensors here.");
    }
    const layer = e.layers[l];
    const out = l === e.layers.length - 1;
    const vector = (name, values) => h("div", { class: "mlp-tensor-vec" },
      h("span", {}, `${name} (1 × ${values.length})`), h("span", {}, values.map((v, j) =>
        [j ? ", " : "", n(v)])));
    return h("div", { class: "mlp-tensor-acts" },
      h("p", {}, `Training point ${e.index + 1}, a batch of one (N = 1), weights of step `
        + `${e.step.toLocaleString("en-US")}:`),
      vector(l === 0 ? "input x" : `input h${l}`, layer.inputs),
      vector("z = W·a + b", layer.z),
      layer.norm_scale ? vector("after batch norm", layer.activation_input) : null,
      out ? vector("logits", layer.outputs) : vector(`output h${l + 1} = f(z)`, layer.outputs));
  }
}
