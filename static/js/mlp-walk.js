// One example, step by step: the `explanation` the server computes for a training point
// (ml_core/backprop.py, every number checked against torch.autograd) shown as a panel with a step
// control: the input, the forward pass layer by layer, the loss, the backward pass from the
// output down, and the update. Each stage lights up its neurons and links in the network view.
import { FEATURES, LOSSES, OPTIMIZERS, labelOf } from "./mlp-data.js";
import { num } from "./mlp-gradients.js";

// h("div", {class: "x", title: "..."}, child, "text", ...): a DOM element.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "data") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  node.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// A number as shown, with the full value kept in data-value (for the curious and for tests).
export const n = (v, cls = "mlp-num", digits = 4) =>
  h("span", { class: cls, data: { value: String(v) } }, num(v, digits));

// Enough digits to see a weight move by `step`: w = 1.234567 -> 1.234555 needs 7, not 4.
const digitsFor = (w, step) => (w && step
  ? Math.max(4, Math.min(12, Math.ceil(Math.log10(Math.abs(w) / Math.abs(step))) + 3)) : 4);
// A name with a subscript: s("w", "1,2") -> w₁,₂ as w<sub>1,2</sub>.
const s = (name, index) => h("span", { class: "mlp-sym" }, name, h("sub", {}, String(index)));
const MAX_TERMS = 6; // longer sums are cut with "+ …" (the total is always shown)

// Σ of products a·b, written out: "0.31·0.5 + (−0.2)·0.1 + …".
function sum(products) {
  const shown = products.slice(0, MAX_TERMS);
  const parts = [];
  shown.forEach(([a, b], k) => {
    if (k) parts.push(" + ");
    parts.push(paren(a), "·", paren(b));
  });
  if (products.length > MAX_TERMS) parts.push(` + … (${products.length} terms)`);
  return parts;
}
const paren = (v) => (v < 0 ? h("span", {}, "(", n(v), ")") : n(v));

const ACT_NAME = {
  linear: "identity", sigmoid: "σ", tanh: "tanh", relu: "ReLU", leaky_relu: "LeakyReLU",
  prelu: "PReLU", rrelu: "RReLU",
};

function derivativeRule(activation, slope) {
  return {
    linear: "f′(u) = 1",
    sigmoid: "f′(u) = a·(1 − a), at most 0.25",
    tanh: "f′(u) = 1 − a²",
    relu: "f′(u) = 1 if u > 0, else 0",
    leaky_relu: `f′(u) = 1 if u > 0, else ${num(slope)}`,
    prelu: `f′(u) = 1 if u > 0, else the learnt slope a = ${num(slope)}`,
    rrelu: `f′(u) = 1 if u ≥ 0, else its mean slope ${num(slope)} (evaluation mode)`,
  }[activation];
}

// The stages of one explanation, in order.
function stages(e) {
  const L = e.layers.length;
  const name = (l) => (l === L - 1 ? "output" : `hidden ${l + 1}`);
  const short = (l) => (l === L - 1 ? "out" : `H${l + 1}`);
  return [
    { kind: "input", title: "Input", short: "x", spec: { column: 0 } },
    ...e.layers.map((_, l) => ({
      kind: "forward", l, title: `Forward · ${name(l)}`, short: short(l),
      spec: { column: l + 1, links: true },
    })),
    { kind: "loss", title: "Loss", short: "L", spec: { column: L } },
    ...e.layers.map((_, l) => L - 1 - l).map((l) => ({
      kind: "backward", l, title: `Backward · ${name(l)}`, short: `δ${short(l)}`,
      spec: { column: l + 1, links: true },
    })),
    { kind: "update", title: "Update", short: "Δw", spec: { all: true } },
  ];
}

export class WalkPanel {
  // root: the panel's element. handlers: {highlight(spec|null), recompute(), pick()}.
  constructor(root, handlers) {
    this.root = root;
    this.handlers = handlers;
    this.e = null;
    this.stage = 0;
    this.now = 0;
    this.body = root.querySelector("#walk-body");
    this.empty = root.querySelector("#walk-empty");
    this.content = root.querySelector("#walk-content");
    this.dots = root.querySelector("#walk-steps");
    root.querySelector("#walk-prev").addEventListener("click", () => this.go(this.stage - 1));
    root.querySelector("#walk-next").addEventListener("click", () => this.go(this.stage + 1));
    root.querySelector("#walk-recompute").addEventListener("click", () => handlers.recompute());
    root.querySelector("#walk-pick").addEventListener("click", () => handlers.pick());
    root.querySelector("#walk-close").addEventListener("click", () => this.clear());
    this.dots.addEventListener("click", (event) => {
      const dot = event.target.closest("button[data-stage]");
      if (dot) this.go(Number(dot.dataset.stage));
    });
    root.addEventListener("keydown", (event) => {
      if (!this.e || event.target.closest("input, select, textarea")) return;
      if (event.key === "ArrowRight") this.go(this.stage + 1);
      else if (event.key === "ArrowLeft") this.go(this.stage - 1);
      else return;
      event.preventDefault();
    });
  }

  // A new explanation: same network shape keeps the stage (a recompute), else back to the start.
  show(e) {
    const sameShape = this.e && this.e.layers.length === e.layers.length;
    this.e = e;
    this.list = stages(e);
    if (!sameShape) this.stage = 0;
    this.body.hidden = false;
    this.empty.hidden = true;
    this.root.dataset.index = e.index;
    this.dots.replaceChildren(...this.list.map((st, k) => h("button", {
      type: "button", class: "mlp-walk-dot", title: st.title, data: { stage: k, kind: st.kind },
    }, st.short)));
    this.render();
  }

  clear() {
    this.e = null;
    this.body.hidden = true;
    this.empty.hidden = false;
    delete this.root.dataset.stage;
    delete this.root.dataset.index;
    this.handlers.highlight(null);
    this.handlers.closed?.();
  }

  get point() {
    return this.e ? this.e.point : null;
  }

  go(k) {
    if (!this.e) return;
    this.stage = Math.max(0, Math.min(this.list.length - 1, k));
    this.render();
  }

  // The run's step now: the walk says when the network has trained on since it was computed.
  setNow(step) {
    this.now = step;
    if (this.e) this.renderHead();
  }

  renderHead() {
    const e = this.e;
    const [x, y, c] = e.point;
    this.root.querySelector("#walk-point").textContent =
      `Training point ${e.index + 1} at (${x.toFixed(2)}, ${y.toFixed(2)}), class ${c + 1}, `
      + `weights of step ${e.step.toLocaleString("en-US")}`;
    const stale = this.now !== e.step;
    this.root.querySelector("#walk-stale").hidden = !stale;
    this.root.querySelector("#walk-stale-step").textContent = this.now.toLocaleString("en-US");
  }

  render() {
    const e = this.e;
    const st = this.list[this.stage];
    this.root.dataset.stage = st.kind;
    this.root.dataset.stageIndex = this.stage;
    this.renderHead();
    this.root.querySelector("#walk-title").textContent =
      `${this.stage + 1} / ${this.list.length} · ${st.title}`;
    this.root.querySelector("#walk-prev").disabled = this.stage === 0;
    this.root.querySelector("#walk-next").disabled = this.stage === this.list.length - 1;
    for (const dot of this.dots.children) {
      dot.classList.toggle("on", Number(dot.dataset.stage) === this.stage);
    }
    const view = {
      input: () => this.input(e),
      forward: () => this.forward(e, st.l),
      loss: () => this.loss(e),
      backward: () => this.backward(e, st.l),
      update: () => this.update(e),
    }[st.kind]();
    this.content.replaceChildren(...view);
    this.handlers.highlight(st.spec);
  }

  // ---- the stages ---------------------------------------------------------------------------
  unitName(l, j) {
    const e = this.e;
    if (l < 0) return FEATURES[e.features[j]]?.label ?? e.features[j];
    if (l === e.layers.length - 1) return s("z", j + 1);
    return s(`h${l + 1}`, j + 1);
  }

  input(e) {
    const [x, y, c] = e.point;
    return [
      h("p", {}, `The point (${x.toFixed(4)}, ${y.toFixed(4)}) is class ${c + 1}. What the network `
        + `sees of it is its feature vector, a tensor of shape 1 × ${e.x.length} (the batch `
        + "dimension N is 1: one example)."),
      h("div", { class: "mlp-walk-eqs" }, e.x.map((v, i) => h("div", { class: "mlp-eq" },
        this.unitName(-1, i), " = ", n(v)))),
      h("p", { class: "mlp-help" }, "Next: each layer multiplies by its weights, adds its bias "
        + "and applies its activation."),
    ];
  }

  forward(e, l) {
    const layer = e.layers[l];
    const output = l === e.layers.length - 1;
    const act = ACT_NAME[e.activation];
    const bn = layer.norm_scale !== null;
    const rows = layer.z.map((z, j) => {
      const products = layer.weights[j].map((w, i) => [w, layer.inputs[i]]);
      const eqs = [h("div", { class: "mlp-eq" }, s("z", j + 1), " = ", sum(products), " + ",
        paren(layer.biases[j]), " = ", n(z))];
      if (bn) {
        eqs.push(h("div", { class: "mlp-eq" }, s("u", j + 1), " = ", n(layer.norm_scale[j]), "·",
          s("z", j + 1), " + ", paren(layer.norm_shift[j]), " = ", n(layer.activation_input[j]),
          h("span", { class: "mlp-help" }, "  (batch norm, running averages)")));
      }
      if (!output) {
        eqs.push(h("div", { class: "mlp-eq" }, this.unitName(l, j), " = ", act, "(",
          n(layer.activation_input[j]), ") = ", n(layer.outputs[j])));
      }
      return h("div", { class: "mlp-walk-unit", data: { unit: j } }, eqs);
    });
    const intro = output
      ? "The output layer: each logit z is a weighted sum of the last hidden layer plus a bias. "
        + "No activation here: the loss turns the logits into probabilities."
      : `Each neuron: z = Σ w·a + b over the ${layer.inputs.length} inputs, then a = ${act}(z)`
        + `${bn ? " (after batch norm)" : ""}.`;
    return [
      h("p", {}, intro),
      h("p", { class: "mlp-help" }, `Shapes: a (1 × ${layer.inputs.length}) times Wᵀ `
        + `(${layer.inputs.length} × ${layer.z.length}) plus b (${layer.z.length}) gives z `
        + `(1 × ${layer.z.length}).`),
      ...rows,
    ];
  }

  loss(e) {
    const L = e.loss;
    const two = L.logits.length === 1;
    const label = e.label;
    const parts = [];
    if (two) {
      parts.push(h("div", { class: "mlp-eq" }, "p = σ(z) = σ(", n(L.logits[0]), ") = ",
        n(L.probabilities[0]), h("span", { class: "mlp-help" }, "  the probability of class 2")));
      parts.push(h("div", { class: "mlp-eq" }, `target t = ${L.target[0]} (the point is class `
        + `${label + 1})`));
    } else {
      parts.push(h("p", {}, "Softmax turns the logits into probabilities: p = exp(z) / Σ exp(z)."));
      parts.push(h("table", { class: "mlp-walk-table" },
        h("tr", {}, h("th", {}, "class"), h("th", {}, "z"), h("th", {}, "p"), h("th", {}, "t")),
        L.logits.map((z, k) => h("tr", { class: k === label ? "on" : null },
          h("td", {}, String(k + 1)), h("td", {}, n(z)), h("td", {}, n(L.probabilities[k])),
          h("td", {}, String(L.target[k]))))));
    }
    const p = L.probabilities;
    const formula = {
      cross_entropy: two ? "L = −[t·log p + (1 − t)·log(1 − p)]" : "L = −log p_y (y: the true class)",
      mse: two ? "L = (p − t)²" : "L = mean over classes of (p − t)²",
      l1: two ? "L = |p − t|" : "L = mean over classes of |p − t|",
      hinge: two ? "L = max(0, 1 − s·z), s = +1 for class 2, −1 for class 1"
        : "L = Σ over wrong classes of max(0, 1 − z_y + z_i), divided by the number of classes",
    }[L.name];
    const at = two && L.name === "cross_entropy"
      ? ["= −log(", n(label ? p[0] : 1 - p[0]), ") "] : [];
    parts.push(h("div", { class: "mlp-eq mlp-walk-loss" }, `${labelOf(LOSSES, L.name)}: `,
      formula, " ", ...at, "= ", n(L.value, "mlp-num mlp-loss-value")));
    parts.push(h("p", { class: "mlp-help" }, "Training lowers this number. Backpropagation now "
      + "asks how it changes with every weight, using the chain rule from the output back."));
    return parts;
  }

  outputDelta(e) {
    const L = e.loss;
    const two = L.logits.length === 1;
    const rule = {
      cross_entropy: two ? "δ = p − t" : "δ = softmax − one-hot = p − t",
      mse: two ? "∂L/∂p = 2(p − t), then δ = ∂L/∂p · p(1 − p) (through the sigmoid)"
        : "∂L/∂p = 2(p − t)/k, then δ = p ⊙ (∂L/∂p − Σ p·∂L/∂p) (through the softmax)",
      l1: two ? "∂L/∂p = sign(p − t), then δ = ∂L/∂p · p(1 − p) (through the sigmoid)"
        : "∂L/∂p = sign(p − t)/k, then δ = p ⊙ (∂L/∂p − Σ p·∂L/∂p) (through the softmax)",
      hinge: two ? "δ = −s where the margin 1 − s·z is positive, else 0"
        : "δ = 1/k for each wrong class inside the margin, minus their sum for the true class",
    }[L.name];
    const rows = L.delta.map((d, j) => h("div", { class: "mlp-eq", data: { unit: j } },
      s("δ", j + 1), " = ", L.grad_probabilities ? ["∂L/∂p = ", n(L.grad_probabilities[j]), " → "]
        : L.name === "cross_entropy" ? [n(L.probabilities[j]), " − ", String(L.target[j]), " = "]
          : "", n(d, "mlp-num mlp-delta")));
    return [h("p", {}, "At the output, the delta δ = ∂L/∂z of each logit: ", h("b", {}, rule), "."),
      ...rows];
  }

  backward(e, l) {
    const layer = e.layers[l];
    const output = l === e.layers.length - 1;
    const parts = output ? this.outputDelta(e) : this.hiddenDelta(e, l);
    parts.push(h("p", {}, "Then every weight's gradient is its neuron's delta times what came in "
      + "on that link: ∂L/∂w = δ · a (and ∂L/∂b = δ, since b enters z with weight 1)."));
    parts.push(gradTable(layer, (i) => (l === 0 ? this.unitName(-1, i) : s(`h${l}`, i + 1)),
      (j) => s("δ", j + 1)));
    if (layer.grad_slope !== null) {
      parts.push(h("div", { class: "mlp-eq" }, "PReLU slope: ∂L/∂a = Σ over u ≤ 0 of u·∂L/∂h = ",
        n(layer.grad_slope)));
    }
    return parts;
  }

  hiddenDelta(e, l) {
    const layer = e.layers[l];
    const above = e.layers[l + 1];
    const bn = layer.norm_scale !== null;
    const rows = layer.delta.map((d, j) => {
      const products = above.delta.map((dk, k) => [above.weights[k][j], dk]);
      return h("div", { class: "mlp-walk-unit", data: { unit: j } },
        h("div", { class: "mlp-eq" }, "Σ w·δ = ", sum(products), " = ", n(layer.upstream[j])),
        h("div", { class: "mlp-eq" }, s("δ", j + 1), " = f′(", n(layer.activation_input[j]),
          ") × ", paren(layer.upstream[j]), bn ? ["× ", n(layer.norm_scale[j])] : "", " = ",
          n(layer.derivative[j]), " × ", paren(layer.upstream[j]), bn ? ["× ", n(layer.norm_scale[j])]
            : "", " = ", n(d, "mlp-num mlp-delta")));
    });
    return [
      h("p", {}, "A hidden neuron's delta: how much the loss changes with its z. The chain rule ",
        "collects the deltas of the layer above, each through the weight that links them ",
        "(Σ w·δ), then multiplies by how much the activation lets through: ",
        h("b", {}, derivativeRule(e.activation, layer.slope)),
        bn ? ", times batch norm's scale." : "."),
      ...rows,
    ];
  }

  update(e) {
    const u = e.update;
    const opt = labelOf(OPTIMIZERS, u.optimizer);
    const decay = u.weight_decay ? ` + λw (weight decay λ = ${u.weight_decay})` : "";
    const rule = {
      sgd: `w ← w − lr · g, with g = ∂L/∂w${decay}`,
      momentum: `v ← ${u.momentum}·v + g; w ← w − lr · v (g = ∂L/∂w${decay}): v remembers past steps`,
      adam: `m ← β₁·m + (1 − β₁)·g; v ← β₂·v + (1 − β₂)·g²; m̂ = m/(1 − β₁ᵗ); `
        + `v̂ = v/(1 − β₂ᵗ); w ← w − lr · m̂/(√v̂ + ε) (g = ∂L/∂w${decay}; β = ${u.betas?.join(", ")},`
        + ` t = ${u.t})`,
    }[u.optimizer];
    const parts = [
      h("p", {}, `${opt} with learning rate ${u.learning_rate}: `, h("b", {}, rule), "."),
      h("p", { class: "mlp-help" }, "The run trains on mini-batches; this is the step the "
        + "optimizer would take on this one example's gradient, from its memory as it is now."),
    ];
    u.layers.forEach((layer, l) => {
      const details = h("details", { class: "mlp-walk-layer", open: l === u.layers.length - 1 ? "" : null },
        h("summary", {}, `Layer ${l + 1} (${l === u.layers.length - 1 ? "output" : `hidden ${l + 1}`})`),
        updateTable(u, layer, l, e));
      parts.push(details);
    });
    return parts;
  }
}

// ∂L/∂W as a grid: rows are this layer's neurons (with their delta), columns its inputs (with
// their value a); each cell is δ·a.
function gradTable(layer, inputName, deltaName) {
  const head = h("tr", {}, h("th", {}, "δ \\ a"), layer.inputs.map((a, i) => h("th", {},
    inputName(i), " = ", n(a))), h("th", {}, "∂L/∂b"));
  const rows = layer.grad_weights.map((row, j) => h("tr", {},
    h("th", {}, deltaName(j), " = ", n(layer.delta[j])),
    row.map((g) => h("td", {}, n(g))), h("td", {}, n(layer.grad_biases[j]))));
  return h("div", { class: "mlp-walk-scroll", tabindex: "0" }, h("table", { class: "mlp-walk-table mlp-walk-grad" },
    head, rows));
}

// One layer's parameters: value, gradient, decay, the optimizer's memory, the step, the result.
function updateTable(u, layer, l, e) {
  const cols = ["", "w", "∂L/∂w"];
  if (u.weight_decay) cols.push("λw");
  if (u.optimizer === "momentum") cols.push("v before", "v after");
  if (u.optimizer === "adam") cols.push("m", "v", "m̂", "v̂");
  cols.push("step", "w new");
  const rows = [];
  const add = (name, p, at) => {
    const get = (key) => (p[key] === null ? null : at(p[key]));
    const digits = digitsFor(get("value"), get("step"));
    const cells = [h("th", {}, name), h("td", {}, n(get("value"), "mlp-num", digits)),
      h("td", {}, n(get("grad")))];
    if (u.weight_decay) cells.push(h("td", {}, n(get("decay"))));
    if (u.optimizer === "momentum") {
      cells.push(h("td", {}, n(get("velocity_before"))), h("td", {}, n(get("velocity"))));
    }
    if (u.optimizer === "adam") {
      for (const key of ["velocity", "second", "velocity_hat", "second_hat"]) {
        cells.push(h("td", {}, n(get(key))));
      }
    }
    cells.push(h("td", {}, n(get("step"))),
      h("td", { class: "mlp-new" }, n(get("new"), "mlp-num", digits)));
    rows.push(h("tr", {}, cells));
  };
  const inputs = layer.weight.value[0].length;
  layer.weight.value.forEach((_, j) => {
    for (let i = 0; i < inputs; i++) add(s("w", `${j + 1},${i + 1}`), layer.weight, (m) => m[j][i]);
  });
  layer.bias.value.forEach((_, j) => add(s("b", j + 1), layer.bias, (v) => v[j]));
  if (layer.slope) add("PReLU a", layer.slope, (v) => v[0]);
  return h("div", { class: "mlp-walk-scroll", tabindex: "0" }, h("table", { class: "mlp-walk-table mlp-walk-update",
    data: { layer: l } }, h("tr", {}, cols.map((c) => h("th", {}, c))), rows));
}
