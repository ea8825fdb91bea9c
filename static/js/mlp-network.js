// The network diagram of the MLP playground: one column per layer (input features, hidden layers,
// output), each neuron a small heat map of what it computes over the plane, and SVG links between
// them. Forward view: links coloured by the sign of the weight and thickened by its size.
// Backward view: links coloured by the sign of the gradient dL/dw and thickened by |dL/dw| on a
// log scale, each neuron ringed by its delta dL/dz, each layer footed by ||dL/dW||.
import { FEATURES, LIMITS, featureGrid } from "./mlp-data.js";
import { CLASS_RGB, classCss } from "./palette.js";
import { NEURON_LUT, paintLut, paintOutput } from "./mlp-plot.js";
import { deltaRing, gradientLinkStyle, num } from "./mlp-gradients.js";

const SVG = "http://www.w3.org/2000/svg";
const POSITIVE = `rgb(${CLASS_RGB[1].join(",")})`;
const NEGATIVE = `rgb(${CLASS_RGB[0].join(",")})`;
const THUMB = 24; // resolution of the client-drawn maps of switched-off features

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class NetworkView {
  // root: an empty element. handlers: {toggleFeature(id), neurons(layer, delta), hover(get|null),
  // selectLayer(layer)} where get() returns {title, data, t} now (data null for output nodes:
  // show the output map); the page calls it again on every frame so a hovered neuron's large map
  // stays live. selectLayer(l): a column's title was clicked (l: its Linear layer, 0-based).
  constructor(root, handlers) {
    this.root = root;
    this.handlers = handlers;
    this.mode = "forward"; // or "backward"
    this.root.classList.add("mlp-net");
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.classList.add("mlp-links");
    this.cols = el("div", "mlp-cols");
    this.root.append(this.svg, this.cols);
    this.shape = null;
    this.frame = null;
    new ResizeObserver(() => this.layoutLinks()).observe(this.root);
    this.svg.addEventListener("mouseover", (e) => this.linkTitle(e.target));
  }

  // shape: {all: [every feature id, the server's order], features: [the ids switched on],
  // hidden: [widths], classes: k}. Rebuilds the DOM when it changed.
  build(shape) {
    const key = JSON.stringify(shape);
    if (key === this.key) return;
    this.key = key;
    this.shape = shape;
    this.frame = null;
    const widest = Math.max(shape.all.length, ...shape.hidden);
    this.root.style.setProperty("--node", widest > 10 ? "26px" : widest > 7 ? "32px" : "40px");
    this.cols.replaceChildren();
    this.columns = []; // per layer: the node elements that links attach to (active only)
    this.thumbs = []; // per hidden layer: canvases, in neuron order

    // Input features: every feature is shown; a click switches it on or off.
    const n = shape.features.length;
    const all = shape.all.length;
    const inputs = this.column(["Features", "In"], [`${n} of ${all}`, `${n}/${all}`]);
    const active = [];
    for (const id of shape.all) {
      const f = FEATURES[id] ?? { label: id, title: id, fn: () => 0 };
      const on = shape.features.includes(id);
      const node = el("button", `mlp-node mlp-feature${on ? " on" : ""}`);
      node.type = "button";
      node.dataset.feature = id;
      node.title = `${f.title}: click to ${on ? "remove it from" : "add it to"} the inputs`;
      const canvas = el("canvas");
      paintLut(canvas, featureGrid(f.fn, THUMB), THUMB, THUMB, NEURON_LUT);
      node.append(canvas, el("span", "mlp-node-label", f.label));
      node.addEventListener("click", () => this.handlers.toggleFeature(id));
      this.hoverable(node, () => ({ title: f.title, data: featureGrid(f.fn, THUMB), t: THUMB }));
      inputs.nodes.append(node);
      if (on) active.push(node);
    }
    this.columns.push(active);

    shape.hidden.forEach((width, layer) => {
      const neurons = `${width} neuron${width > 1 ? "s" : ""}`;
      const col = this.column([`Hidden ${layer + 1}`, `H${layer + 1}`], [neurons, `${width}`]);
      const pm = el("div", "mlp-pm");
      const buttons = [[1, "+", "Add a neuron"], [-1, "−", "Remove a neuron"]];
      for (const [delta, sign, label] of buttons) {
        const b = el("button", "mlp-pm-btn", sign);
        b.type = "button";
        b.title = label;
        b.dataset.layer = layer;
        b.dataset.delta = delta;
        b.disabled = delta > 0 ? width >= LIMITS.neurons : width <= 1;
        b.addEventListener("click", () => this.handlers.neurons(layer, delta));
        pm.append(b);
      }
      col.head.prepend(pm);
      const nodes = [];
      const canvases = [];
      for (let j = 0; j < width; j++) {
        const node = el("div", "mlp-node mlp-hidden");
        const canvas = el("canvas");
        canvas.width = canvas.height = 1;
        node.append(canvas);
        this.hoverable(node, () => this.neuronInfo(layer, j));
        col.nodes.append(node);
        nodes.push(node);
        canvases.push(canvas);
      }
      this.columns.push(nodes);
      this.thumbs.push({ canvases, foot: col.foot });
    });

    // Output: one sigmoid unit for 2 classes, k softmax units otherwise.
    const k = shape.classes;
    const kind = k > 2
      ? [`softmax · ${k} classes`, "softmax"] : ["sigmoid · 2 classes", "sigmoid"];
    const out = this.column(["Output", "Out"], kind);
    const outNodes = [];
    this.outCanvas = null;
    const units = k > 2 ? k : 1;
    for (let c = 0; c < units; c++) {
      const node = el("div", "mlp-node mlp-out");
      if (k > 2) {
        node.classList.add("dot");
        node.style.background = classCss(c);
        node.title = `class ${c + 1}`;
      } else {
        this.outCanvas = el("canvas");
        this.outCanvas.width = this.outCanvas.height = 1;
        node.append(this.outCanvas);
        node.title = "P(blue class): the decision map, large on the right";
      }
      this.hoverable(node, () => ({ title: "Output", data: null, t: 0 }));
      out.nodes.append(node);
      outNodes.push(node);
    }
    this.columns.push(outNodes);
    this.feet = this.cols.querySelectorAll(".mlp-col-foot"); // per column, inputs first
    this.makeLinks();
    requestAnimationFrame(() => this.layoutLinks());
  }

  // A column with a head of [long, short] title and subtitle (short ones when space is tight).
  column(title, subtitle) {
    const col = el("div", "mlp-col");
    const head = el("div", "mlp-col-head");
    const both = (cls, [long, short]) => {
      const line = el("div", cls);
      line.append(el("span", "long", long), el("span", "short", short));
      return line;
    };
    head.append(both("mlp-col-title", title), both("mlp-col-sub", subtitle));
    const nodes = el("div", "mlp-nodes");
    const foot = el("div", "mlp-col-foot");
    foot.append(el("span", "mlp-prelu"), el("span", "mlp-gnorm"));
    const layer = this.cols.children.length - 1; // the Linear layer that feeds this column
    if (layer >= 0) {
      const name = head.querySelector(".mlp-col-title");
      name.classList.add("mlp-col-pick");
      name.dataset.layer = layer;
      name.title = "Show this layer's tensors";
      name.addEventListener("click", () => this.handlers.selectLayer?.(layer));
    }
    col.append(head, nodes, foot);
    this.cols.append(col);
    return { col, head, nodes, foot };
  }

  hoverable(node, info) {
    node.addEventListener("mouseenter", () => this.handlers.hover(info));
    node.addEventListener("mouseleave", () => this.handlers.hover(null));
  }

  neuronInfo(layer, j) {
    const f = this.frame;
    const title = `Layer ${layer + 1} · neuron ${j + 1}`;
    if (!f) return { title, data: null, t: 0 };
    const t = f.meta.thumb;
    const before = this.shape.hidden.slice(0, layer).reduce((a, b) => a + b, 0);
    const index = f.meta.layers[0] + before + j; // inputs first, then hidden layers in order
    const bias = f.meta.biases?.[layer]?.[j];
    const data = f.arrays.neurons.data.subarray(index * t * t, (index + 1) * t * t);
    let text = bias === undefined ? title : `${title} · bias ${bias.toFixed(2)}`;
    const delta = this.delta(layer + 1, j);
    if (delta !== null) text += ` · δ ${num(delta)}`;
    return { title: text, data, t };
  }

  // The delta dL/dz of neuron j in column c (1: first hidden layer) from the frame, or null
  // (forward view, or no gradients in the frame).
  delta(c, j) {
    const f = this.frame;
    if (this.mode !== "backward" || !f?.arrays.deltas) return null;
    const before = f.meta.layers.slice(1, c).reduce((a, b) => a + b, 0);
    return f.arrays.deltas.data[before + j];
  }

  // The gradient dL/dw of the link (l, j, i) from the frame, or null.
  gradient(l, j, i) {
    const f = this.frame;
    if (this.mode !== "backward" || !f?.arrays.grad_weights) return null;
    let offset = 0;
    for (let k = 0; k < l; k++) offset += f.meta.layers[k] * f.meta.layers[k + 1];
    return f.arrays.grad_weights.data[offset + j * f.meta.layers[l] + i];
  }

  makeLinks() {
    this.svg.replaceChildren();
    this.links = []; // per layer: rows (out) of columns (in) of paths
    for (let l = 0; l + 1 < this.columns.length; l++) {
      const rows = this.columns[l + 1].map((_, j) => this.columns[l].map((_, i) => {
        const path = document.createElementNS(SVG, "path");
        path.dataset.link = `${l},${j},${i}`;
        path.append(document.createElementNS(SVG, "title"));
        this.svg.append(path);
        return path;
      }));
      this.links.push(rows);
    }
  }

  // Curves from the right edge of each node to the left edge of the next layer's nodes.
  layoutLinks() {
    if (!this.links) return;
    // Short column titles when each column has less than ~90 px.
    const perColumn = this.root.clientWidth / (this.shape.hidden.length + 2);
    this.compact = perColumn < 90;
    this.root.classList.toggle("compact", this.compact);
    const box = this.root.getBoundingClientRect();
    this.svg.setAttribute("width", box.width);
    this.svg.setAttribute("height", box.height);
    const anchor = (node, side) => {
      const r = node.getBoundingClientRect();
      return [(side ? r.right : r.left) - box.left, r.top + r.height / 2 - box.top];
    };
    this.links.forEach((rows, l) => rows.forEach((row, j) => row.forEach((path, i) => {
      const [x0, y0] = anchor(this.columns[l][i], true);
      const [x1, y1] = anchor(this.columns[l + 1][j], false);
      const mx = (x0 + x1) / 2;
      path.setAttribute("d", `M${x0},${y0} C${mx},${y0} ${mx},${y1} ${x1},${y1}`);
    })));
  }

  linkTitle(target) {
    if (target.tagName !== "path" || !this.frame) return;
    const [l, j, i] = target.dataset.link.split(",").map(Number);
    const w = this.frame.meta.weights?.[l]?.[j]?.[i];
    const g = this.gradient(l, j, i);
    let text = w === undefined ? "" : `weight ${w.toFixed(3)}`;
    if (g !== null) text += ` · ∂L/∂w ${num(g)}`;
    target.firstChild.textContent = text;
  }

  // Forward (weights) or backward (gradients) view; redraws the last frame at once.
  setMode(mode) {
    this.mode = mode;
    this.root.classList.toggle("backward", mode === "backward");
    if (this.frame) this.update(this.frame);
  }

  // Light up one stage of the walk-through: {column: c} for the neurons of column c (0: inputs)
  // and, with links: true, the links into it; {all: true} for every link; null for none.
  highlight(spec) {
    this.root.classList.toggle("walking", Boolean(spec) && !spec.all);
    (this.columns || []).forEach((nodes, c) => nodes.forEach((node) => {
      node.classList.toggle("hl", Boolean(spec) && spec.column === c);
    }));
    (this.links || []).forEach((rows, l) => {
      const on = Boolean(spec) && (spec.all || (spec.links && spec.column === l + 1));
      rows.forEach((row) => row.forEach((path) => path.classList.toggle("hl", on)));
    });
  }

  // Draw one binary frame: hidden neuron maps, link weights, PReLU slopes. Frames of another
  // shape (in flight while the network was rebuilt) are skipped.
  update(frame) {
    const m = frame.meta;
    const s = this.shape;
    if (!s || m.layers.length !== s.hidden.length + 2 || m.layers[0] !== s.features.length
      || s.hidden.some((w, i) => m.layers[i + 1] !== w)) return;
    this.frame = frame;
    const t = m.thumb;
    const neurons = frame.arrays.neurons.data;
    let index = m.layers[0];
    this.thumbs.forEach(({ canvases, foot }, layer) => {
      for (const canvas of canvases) {
        paintLut(canvas, neurons.subarray(index * t * t, (index + 1) * t * t), t, t, NEURON_LUT);
        index++;
      }
      const slope = m.prelu?.[layer];
      const label = this.compact ? "a " : "PReLU a = ";
      const prelu = foot.querySelector(".mlp-prelu");
      prelu.textContent = slope === undefined || slope === null ? "" : label + slope.toFixed(2);
      prelu.title = "The slope PReLU learnt for negative inputs in this layer";
    });
    if (this.outCanvas) {
      paintOutput(this.outCanvas, frame.arrays.output.data, null, m.grid, 2);
    }
    const backward = this.mode === "backward" && m.gradients && frame.arrays.grad_weights;
    if (backward) this.drawBackward(frame);
    else this.drawForward(m);
    this.root.dataset.drawn = backward ? "backward" : "forward";
  }

  // Only touch the attributes that changed: rewriting ~1,500 paths 30 times a second is what
  // would make the page slow, not drawing them.
  styleLinks(styleOf) {
    this.links.forEach((rows, l) => rows.forEach((row, j) => row.forEach((path, i) => {
      const { stroke, width, opacity } = styleOf(l, j, i);
      const style = `${stroke}|${width}|${opacity}`;
      if (path.__style === style) return;
      path.__style = style;
      path.setAttribute("stroke", stroke);
      path.setAttribute("stroke-width", width);
      path.setAttribute("stroke-opacity", opacity);
    })));
  }

  drawForward(m) {
    this.styleLinks((l, j, i) => {
      const w = m.weights?.[l]?.[j]?.[i] ?? 0;
      const a = Math.abs(w);
      return {
        stroke: w >= 0 ? POSITIVE : NEGATIVE,
        width: Math.min(8, 0.4 + 1.6 * a).toFixed(1),
        opacity: Math.min(0.9, 0.25 + 0.35 * a).toFixed(2),
      };
    });
    (this.columns || []).forEach((nodes) => nodes.forEach((node) => {
      node.style.boxShadow = "";
    }));
    for (const foot of this.feet || []) foot.querySelector(".mlp-gnorm").textContent = "";
  }

  // Gradients on a log scale shared by the whole network, so a layer whose gradients vanish
  // shows as hairlines next to the others.
  drawBackward(frame) {
    const m = frame.meta;
    const grads = frame.arrays.grad_weights.data;
    const deltas = frame.arrays.deltas.data;
    let largest = 0;
    for (const g of grads) largest = Math.max(largest, Math.abs(g));
    const offsets = [0];
    for (let l = 0; l + 1 < m.layers.length; l++) {
      offsets.push(offsets[l] + m.layers[l] * m.layers[l + 1]);
    }
    this.styleLinks((l, j, i) => gradientLinkStyle(grads[offsets[l] + j * m.layers[l] + i] ?? 0,
      largest));
    let biggest = 0;
    for (const d of deltas) biggest = Math.max(biggest, Math.abs(d));
    let k = 0;
    this.columns.forEach((nodes, c) => {
      if (c === 0) return;
      nodes.forEach((node) => {
        node.style.boxShadow = deltaRing(deltas[k++] ?? 0, biggest);
      });
    });
    this.feet.forEach((foot, c) => {
      const norm = c > 0 ? m.gradients.norms[c - 1] : undefined;
      const label = foot.querySelector(".mlp-gnorm");
      label.textContent = norm === undefined ? "" : `‖∇W‖\n${num(norm)}`;
      label.title = "Size of this layer's weight gradient, ‖∂L/∂W‖";
    });
  }

  // Grey out the maps (diverged) or bring them back.
  setStale(stale) {
    this.root.classList.toggle("stale", stale);
  }
}
