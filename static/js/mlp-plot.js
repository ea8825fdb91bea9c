// The big square plot of the MLP playground: the decision map (a G x G uint8 grid scaled by CSS)
// under a crisp overlay of the data points, plus drawing (add / erase points) with the pointer.
import { CLASS_RGB, classCss, classMarker } from "./palette.js";
import { valueCss } from "./mlp-data.js";

// The points' canvas overhangs the plot by this many CSS pixels on every side, so that a point
// on the edge (x or y = ±1) is drawn whole, not cut in half by the plot's border.
export const PLOT_PAD = 10;

// Keyboard drawing: the tools it works with, and how far an arrow key moves its cursor (data units:
// the plot spans -1..1), or with Shift.
const KEY_TOOLS = new Set(["add", "erase"]);
const KEY_STEP = 0.05;
const KEY_STEP_BIG = 0.25;

const WHITE = [255, 255, 255];
const mix = (a, b, t) => a.map((v, i) => Math.round(v + (b[i] - v) * t));

// Colours packed as one uint32 per pixel (RGBA bytes in memory order), so painting a grid is one
// table look-up per cell, with no allocation: it runs for ~100 maps 30 times a second.
const pack = ([r, g, b]) => new Uint32Array(new Uint8ClampedArray([r, g, b, 255]).buffer)[0];

// 256-entry lookup tables. `strength` < 1 keeps backgrounds light so points stand out.
function rampLut(low, high, strength) {
  const lut = new Uint32Array(256);
  for (let v = 0; v < 256; v++) {
    const t = (v - 127.5) / 127.5; // -1 .. 1
    lut[v] = pack(t < 0 ? mix(WHITE, low, -t * strength) : mix(WHITE, high, t * strength));
  }
  return lut;
}
// Neuron maps: orange below zero, white at zero, blue above (same colours as the two classes).
export const NEURON_LUT = rampLut(CLASS_RGB[0], CLASS_RGB[1], 1.0);
const OUTPUT_LUT = rampLut(CLASS_RGB[0], CLASS_RGB[1], 0.8);

// k classes: table [class * 256 + confidence byte]: the class colour, blended towards white as
// the confidence (the top probability * 255) drops to chance, 1/k.
const classLuts = new Map();
function classLut(k) {
  if (!classLuts.has(k)) {
    const lut = new Uint32Array(k * 256);
    for (let c = 0; c < k; c++) {
      for (let v = 0; v < 256; v++) {
        const conf = Math.max(0, (v / 255 - 1 / k) / (1 - 1 / k));
        lut[c * 256 + v] = pack(mix(WHITE, CLASS_RGB[c % CLASS_RGB.length], 0.25 + 0.6 * conf));
      }
    }
    classLuts.set(k, lut);
  }
  return classLuts.get(k);
}

// The canvas's 2-D context and a reusable ImageData of (h, w) with a uint32 view of its pixels.
function target(canvas, w, h) {
  if (canvas.width !== w || canvas.height !== h || !canvas.__image) {
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(w, h);
    canvas.__image = { ctx, image, pixels: new Uint32Array(image.data.buffer) };
  }
  return canvas.__image;
}

// Paint a (h, w) uint8 grid onto a canvas of that size through a lookup table.
export function paintLut(canvas, data, w, h, lut) {
  const { ctx, image, pixels } = target(canvas, w, h);
  for (let i = 0; i < w * h; i++) pixels[i] = lut[data[i]];
  ctx.putImageData(image, 0, 0);
}

// Paint the decision map: for 2 classes P(class 1) on the orange-blue ramp; for k classes the
// winning class's colour by confidence; a regression's value (0 / 255 = the ends of its range,
// symmetric about zero) on the same ramp, white at zero.
export function paintOutput(canvas, output, outputClass, g, k) {
  if (k <= 2 || !outputClass) {
    paintLut(canvas, output, g, g, OUTPUT_LUT);
    return;
  }
  const lut = classLut(k);
  const { ctx, image, pixels } = target(canvas, g, g);
  for (let i = 0; i < g * g; i++) pixels[i] = lut[outputClass[i] * 256 + output[i]];
  ctx.putImageData(image, 0, 0);
}

// Grid cell centres span [-1, 1], so a G-cell canvas must overhang the plot by half a cell on
// each side for the cells to sit under the points they describe.
// The plot itself does not clip (the points overhang it), so each map clips its own overhang.
function alignGrid(canvas, cells) {
  const pad = 50 / (cells - 1);
  canvas.style.left = canvas.style.top = `-${pad}%`;
  canvas.style.width = canvas.style.height = `${100 + 2 * pad}%`;
  canvas.style.clipPath = `inset(${(100 * pad) / (100 + 2 * pad)}%)`;
}

export class PlotView {
  // root: the .mlp-plot element holding canvas.mlp-boundary, canvas.mlp-neuron-large and
  // canvas.mlp-points. handlers: {add(x, y, cls), erase(x, y, radius), commit(), look([x, y] or
  // null): the cursor moved over the plot, or left it; pick(x, y, explicit): a click to pick a
  // point, when not drawing or (explicit) after pickOnce()}.
  constructor(root, handlers) {
    this.root = root;
    this.handlers = handlers;
    this.boundary = root.querySelector(".mlp-boundary");
    this.large = root.querySelector(".mlp-neuron-large");
    this.overlay = root.querySelector(".mlp-points");
    this.train = [];
    this.val = [];
    this.test = [];
    this.showVal = true;
    this.showTest = false;
    this.valueTop = null; // a regression: the |value| of full colour; null: classes
    this.grabbed = null; // the point being dragged (drag tool): [x, y, value] and where it began
    this.tool = null; // null (no drawing), "add" or "erase"
    this.drawClass = 0;
    this.dragging = false;
    this.last = null;
    this.pointer = null; // [x, y] of the cursor in data units, for the eraser ring
    this.picking = false; // the next click picks a point even while drawing
    this.picked = null; // [x, y] of the point the walk-through follows, ringed
    this.keyCursor = null; // [x, y]: where the keyboard draws (arrows move it, Enter draws)
    this.sizeOverlay();
    new ResizeObserver(() => this.sizeOverlay()).observe(this.overlay);
    this.overlay.addEventListener("pointerdown", (e) => this.down(e));
    this.overlay.addEventListener("pointermove", (e) => this.move(e));
    this.overlay.addEventListener("pointerup", (e) => this.up(e));
    this.overlay.addEventListener("pointercancel", (e) => this.up(e));
    this.overlay.addEventListener("keydown", (e) => this.key(e));
    this.overlay.addEventListener("blur", () => {
      this.keyCursor = null;
      this.drawPoints();
    });
    this.overlay.addEventListener("pointerleave", () => {
      this.pointer = null;
      this.drawPoints();
      this.handlers.look?.(null);
    });
  }

  setGrid(g) {
    if (g !== this.g) {
      this.g = g;
      alignGrid(this.boundary, g);
    }
  }

  drawOutput(output, outputClass, g, k) {
    this.setGrid(g);
    paintOutput(this.boundary, output, outputClass, g, k);
  }

  // Neutral background: no model yet, diverged, or an empty drawing.
  blank() {
    const ctx = this.boundary.getContext("2d");
    ctx.fillStyle = "#f3f4f6";
    ctx.fillRect(0, 0, this.boundary.width, this.boundary.height);
  }

  // Show one neuron's map large (hover in the network diagram), or the output again (null).
  showNeuron(data, t) {
    if (!data) {
      this.large.hidden = true;
      return;
    }
    alignGrid(this.large, t);
    paintLut(this.large, data, t, t, NEURON_LUT);
    this.large.hidden = false;
  }

  setPoints(train, val, test = []) {
    this.train = train;
    this.val = val;
    this.test = test;
    this.drawPoints();
  }

  // Points coloured by value (a regression; `top`: the |value| of full colour), or by class (null).
  setValueScale(top) {
    if (top === this.valueTop) return;
    this.valueTop = top;
    this.drawPoints();
  }

  setShowTest(show) {
    this.showTest = show;
    this.drawPoints();
  }

  colour(c) {
    return this.valueTop === null ? classCss(c) : valueCss(c, this.valueTop);
  }

  setShowVal(show) {
    this.showVal = show;
    this.drawPoints();
  }

  setTool(tool, drawClass) {
    this.tool = tool;
    this.drawClass = drawClass;
    this.overlay.dataset.tool = tool || "none";
    // In the tab order while the keyboard can draw with the tool (adding and erasing).
    this.overlay.tabIndex = KEY_TOOLS.has(tool) ? 0 : -1;
    if (!KEY_TOOLS.has(tool)) this.keyCursor = null;
    this.drawPoints();
  }

  // The keyboard: arrows move a cursor over the plot (a small step; Shift, a big one), Enter or
  // Space adds a point of the selected class there or erases around it, Escape hides it.
  key(e) {
    if (!KEY_TOOLS.has(this.tool)) return;
    const step = e.shiftKey ? KEY_STEP_BIG : KEY_STEP;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    const clamp = (v) => Math.max(-1, Math.min(1, Math.round(v * 100) / 100));
    if (e.key in moves && !this.keyCursor) {
      this.keyCursor = [0, 0]; // the first key shows the cursor, at the centre
    } else if (e.key in moves) {
      const [dx, dy] = moves[e.key];
      this.keyCursor = [clamp(this.keyCursor[0] + dx), clamp(this.keyCursor[1] + dy)];
    } else if (e.key === "Enter" || e.key === " ") {
      this.keyCursor = this.keyCursor || [0, 0];
      this.apply(this.keyCursor);
      this.handlers.commit();
      this.handlers.drew?.(this.tool, ...this.keyCursor);
    } else if (e.key === "Escape" && this.keyCursor) {
      this.keyCursor = null;
    } else {
      return;
    }
    e.preventDefault();
    this.drawPoints();
  }

  // The plot's square in the overlay's CSS pixels: the overlay less its overhang.
  inner() {
    const rect = this.overlay.getBoundingClientRect();
    const size = Math.max(1, rect.width - 2 * PLOT_PAD);
    return { left: rect.left + PLOT_PAD, top: rect.top + PLOT_PAD, size };
  }

  sizeOverlay() {
    const rect = this.overlay.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(rect.width * dpr));
    if (this.overlay.width !== w) {
      this.overlay.width = this.overlay.height = w;
      this.drawPoints();
    }
  }

  drawPoints() {
    const ctx = this.overlay.getContext("2d");
    const n = this.overlay.width;
    const unit = n / (this.overlay.getBoundingClientRect().width || n);
    ctx.clearRect(0, 0, n, n);
    const m = PLOT_PAD * unit; // the overhang: the plot's square is [m, n - m]
    const px = (x) => m + ((x + 1) / 2) * (n - 2 * m);
    const py = (y) => m + ((1 - y) / 2) * (n - 2 * m);
    // Faint axes through the origin.
    ctx.strokeStyle = "rgba(0, 0, 0, 0.12)";
    ctx.lineWidth = unit;
    ctx.beginPath();
    ctx.moveTo(n / 2, m);
    ctx.lineTo(n / 2, n - m);
    ctx.moveTo(m, n / 2);
    ctx.lineTo(n - m, n / 2);
    ctx.stroke();
    const r = 4 * unit;
    const values = this.valueTop !== null;
    ctx.lineWidth = 1.2 * unit;
    for (const [x, y, c] of this.train) {
      ctx.beginPath();
      if (values) ctx.arc(px(x), py(y), r, 0, 2 * Math.PI); // a value: its colour says it
      else classMarker(ctx, c, px(x), py(y), r); // a class: its colour and its shape
      ctx.fillStyle = this.colour(c);
      ctx.fill();
      ctx.strokeStyle = values ? "rgba(16, 24, 40, 0.6)" : "#fff"; // a value's white needs a rim
      ctx.stroke();
    }
    if (this.showVal) {
      ctx.lineWidth = 2 * unit;
      for (const [x, y, c] of this.val) {
        ctx.beginPath();
        if (values) ctx.arc(px(x), py(y), r - 0.5 * unit, 0, 2 * Math.PI);
        else classMarker(ctx, c, px(x), py(y), r - 0.5 * unit);
        ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
        ctx.fill();
        ctx.strokeStyle = values ? "rgba(16, 24, 40, 0.6)" : this.colour(c);
        ctx.stroke();
        if (values) { // the value in the middle, the ring says "held out"
          ctx.beginPath();
          ctx.arc(px(x), py(y), r - 2 * unit, 0, 2 * Math.PI);
          ctx.fillStyle = this.colour(c);
          ctx.fill();
        }
      }
    }
    if (this.showTest) { // the exam's points: where they are, never what (grey crosses)
      ctx.strokeStyle = "rgba(52, 64, 84, 0.75)";
      ctx.lineWidth = 1.5 * unit;
      const a = 3 * unit;
      ctx.beginPath();
      for (const [x, y] of this.test) {
        ctx.moveTo(px(x) - a, py(y) - a);
        ctx.lineTo(px(x) + a, py(y) + a);
        ctx.moveTo(px(x) + a, py(y) - a);
        ctx.lineTo(px(x) - a, py(y) + a);
      }
      ctx.stroke();
    }
    if (this.grabbed) { // the dragged point's value beside it
      const [x, y, v] = this.grabbed.point;
      ctx.font = `600 ${12 * unit}px system-ui, sans-serif`;
      ctx.fillStyle = "#101828";
      ctx.textAlign = x > 0.5 ? "right" : "left";
      ctx.fillText(v.toFixed(2), px(x) + (x > 0.5 ? -10 : 10) * unit, py(y) - 6 * unit);
    }
    if (this.picked) {
      const [x, y] = this.picked;
      ctx.beginPath();
      ctx.arc(px(x), py(y), r + 4 * unit, 0, 2 * Math.PI);
      ctx.strokeStyle = "#101828";
      ctx.lineWidth = 2.5 * unit;
      ctx.stroke();
    }
    if (this.keyCursor) { // the keyboard's cursor: a crosshair in a ring (the eraser's size)
      const [cx, cy] = [px(this.keyCursor[0]), py(this.keyCursor[1])];
      const ring = this.tool === "erase" ? (this.eraseRadius() * (n - 2 * m)) / 2 : 7 * unit;
      ctx.strokeStyle = "#101828";
      ctx.lineWidth = 1.5 * unit;
      ctx.beginPath();
      ctx.arc(cx, cy, ring, 0, 2 * Math.PI);
      ctx.moveTo(cx - ring - 4 * unit, cy);
      ctx.lineTo(cx + ring + 4 * unit, cy);
      ctx.moveTo(cx, cy - ring - 4 * unit);
      ctx.lineTo(cx, cy + ring + 4 * unit);
      ctx.stroke();
    }
    if (this.tool === "erase" && this.pointer) {
      ctx.beginPath();
      ctx.arc(px(this.pointer[0]), py(this.pointer[1]), (this.eraseRadius() * (n - 2 * m)) / 2, 0,
        2 * Math.PI);
      ctx.strokeStyle = "rgba(0, 0, 0, 0.55)";
      ctx.setLineDash([4 * unit, 3 * unit]);
      ctx.lineWidth = 1.5 * unit;
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  // Eraser radius in data units: 14 CSS pixels.
  eraseRadius() {
    return (14 / this.inner().size) * 2;
  }

  // How near (data units) a click must be to a point to pick it: 12 CSS pixels.
  pickRadius() {
    return (12 / this.inner().size) * 2;
  }

  toData(e) {
    const { left, top, size } = this.inner();
    const x = ((e.clientX - left) / size) * 2 - 1;
    const y = 1 - ((e.clientY - top) / size) * 2;
    return [Math.max(-1, Math.min(1, x)), Math.max(-1, Math.min(1, y))];
  }

  apply([x, y]) {
    if (this.tool === "add") this.handlers.add(x, y, this.drawClass);
    else this.handlers.erase(x, y, this.eraseRadius());
  }

  // The drag tool (a regression's drawing): the point nearest [x, y] within reach, or null.
  nearest([x, y]) {
    let best = null;
    let reach = this.pickRadius();
    for (const p of [...this.train, ...(this.showVal ? this.val : [])]) {
      const d = Math.hypot(p[0] - x, p[1] - y);
      if (d <= reach) [best, reach] = [p, d];
    }
    return best;
  }

  // The next click on the plot picks a point (for the walk-through), whatever the tool.
  pickOnce(on = true) {
    this.picking = on;
    this.overlay.dataset.picking = String(on);
  }

  // Ring the point the walk-through follows ([x, y]), or none (null).
  setPicked(point) {
    this.picked = point;
    this.drawPoints();
  }

  down(e) {
    if (e.button !== 0) return;
    if (this.picking || !this.tool) {
      const explicit = this.picking; // asked for with "Pick a point": say when nothing is there
      this.pickOnce(false);
      this.handlers.pick?.(...this.toData(e), explicit);
      return;
    }
    e.preventDefault();
    if (this.tool === "drag") {
      const point = this.nearest(this.toData(e));
      if (!point) return;
      this.grabbed = { point: [...point], from: point, y: e.clientY };
    }
    this.overlay.setPointerCapture(e.pointerId);
    this.dragging = true;
    this.last = this.toData(e);
    if (this.tool !== "drag") this.apply(this.last);
  }

  // Dragging a point up or down raises or lowers its value: the plot's height is the whole
  // range the values may take, [-max, max].
  dragValue(e) {
    const g = this.grabbed;
    const max = this.handlers.maxValue();
    const value = g.from[2] + ((g.y - e.clientY) / this.inner().size) * 2 * max;
    g.point[2] = Math.round(Math.max(-max, Math.min(max, value)) * 100) / 100;
    this.handlers.drag?.(g.from, g.point[2]);
    this.drawPoints();
  }

  move(e) {
    this.pointer = this.toData(e);
    this.handlers.look?.(this.pointer);
    if (!this.dragging) {
      if (this.tool === "erase") this.drawPoints();
      return;
    }
    if (this.grabbed) {
      this.dragValue(e);
      return;
    }
    const p = this.pointer;
    // While dragging, add a point every ~10 CSS pixels of travel (erase continuously).
    const step = (10 / (this.overlay.getBoundingClientRect().width || 400)) * 2;
    if (this.tool === "erase" || Math.hypot(p[0] - this.last[0], p[1] - this.last[1]) >= step) {
      this.last = p;
      this.apply(p);
    }
  }

  up(e) {
    if (!this.dragging) return;
    this.dragging = false;
    this.grabbed = null;
    if (this.overlay.hasPointerCapture(e.pointerId)) {
      this.overlay.releasePointerCapture(e.pointerId);
    }
    this.handlers.commit();
  }
}
