// Static facts of the MLP playground's page: the display labels of the server's options, keyed
// by value, the slider stops and the little dataset icons. The values themselves (which datasets,
// activations, losses, optimizers and features there are) and the default config come from the
// server: the `options` of every `configured` message and DEFAULTS (boot.js). No DOM state here.
import { DEFAULTS, LIMITS as SETTINGS } from "./boot.js";
import { CLASS_RGB, classCss, classMarker } from "./palette.js";

export const LIMITS = {
  layers: SETTINGS.max_hidden_layers,
  neurons: SETTINGS.max_neurons,
  classes: SETTINGS.max_classes,
  points: SETTINGS.max_points,
};

// Input features. `fn` draws the dimmed map of a feature that is switched off (the server only
// sends maps of the features the network uses).
export const FEATURES = {
  x1: { label: "x₁", title: "x₁ (horizontal position)", fn: (x) => x },
  x2: { label: "x₂", title: "x₂ (vertical position)", fn: (x, y) => y },
  x1sq: { label: "x₁²", title: "x₁ squared", fn: (x) => x * x },
  x2sq: { label: "x₂²", title: "x₂ squared", fn: (x, y) => y * y },
  x1x2: { label: "x₁x₂", title: "x₁ times x₂", fn: (x, y) => x * y },
  sin_x1: {
    label: "sin πx₁", title: "sin(π x₁): one wave across the plane", fn: (x) => Math.sin(Math.PI * x),
  },
  sin_x2: {
    label: "sin πx₂", title: "sin(π x₂): one wave across the plane",
    fn: (x, y) => Math.sin(Math.PI * y),
  },
};

// `classes`: how many to start with when the dataset is picked with 2 (two blobs are just Gauss).
export const DATASETS = {
  circle: { label: "Circle", title: "A disc inside a ring (k classes: rings)" },
  xor: { label: "XOR", title: "Opposite quadrants share a class" },
  gauss: { label: "Gauss", title: "Two gaussian clouds" },
  spiral: { label: "Spiral", title: "Interleaved spiral arms, one per class" },
  moons: { label: "Moons", title: "Two interleaving half moons" },
  blobs: { label: "Blobs", title: "k gaussian blobs, one per class", classes: 4 }, // from 2: 4
  plane: { label: "Plane", title: "Regression: a tilted plane, value (x + y) / 2" },
  gaussians: { label: "Bumps", title: "Regression: a sum of Gaussian bumps, up and down" },
  custom: { label: "Draw", title: "Draw your own: click or drag on the plot" },
};
export const TASKS = { classification: "Classes", regression: "Values" };

export const ACTIVATIONS = {
  linear: "Linear", sigmoid: "Sigmoid", tanh: "Tanh", relu: "ReLU", leaky_relu: "Leaky ReLU",
  prelu: "PReLU", rrelu: "RReLU",
};
export const OPTIMIZERS = { sgd: "SGD", momentum: "Momentum", adam: "Adam" };
export const LOSSES = {
  cross_entropy: "Cross-entropy", mse: "L2 (MSE)", l1: "L1", hinge: "Hinge", huber: "Huber",
};
// Play's speed, in optimizer steps per frame (frames come `options.frames_per_s` a second); 0 is
// full speed, as fast as the server trains. Like a video's playback speed: it changes nothing a
// step computes.
export const SPEEDS = [1, 3, 10, 30, 100, 300, 0];

// The label of `value` in one of the tables above (the value itself for one the page lacks).
export const labelOf = (table, value) => table[value]?.label ?? table[value] ?? value;

// Slider and menu stops (values the server accepts; any other in its range works too).
export const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
export const WEIGHT_DECAYS = [0, 0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1];
// 0 stands for "the whole training set" (gradient descent).
export const BATCH_SIZES = [1, 2, 5, 10, 16, 32, 64, 128, 256, 0];

// A small seeded generator so icons look the same on every load.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}
const gauss = (r) => Math.sqrt(-2 * Math.log(r() + 1e-9)) * Math.cos(2 * Math.PI * r());

// Points [x, y, label] in [-1, 1] that sketch a preset, for its icon only (the real data comes
// from the server).
function sketch(name) {
  const r = rng(7);
  const pts = [];
  for (let i = 0; i < 70; i++) {
    const u = r();
    if (name === "circle") {
      const inner = i % 2 === 0;
      const rad = inner ? 0.45 * Math.sqrt(u) : 0.65 + 0.3 * u;
      const a = 2 * Math.PI * r();
      pts.push([rad * Math.cos(a), rad * Math.sin(a), inner ? 1 : 0]);
    } else if (name === "xor") {
      const x = 2 * u - 1, y = 2 * r() - 1;
      pts.push([x, y, x * y > 0 ? 1 : 0]);
    } else if (name === "gauss") {
      const c = i % 2;
      const m = c ? 0.45 : -0.45;
      pts.push([m + 0.2 * gauss(r), m + 0.2 * gauss(r), c]);
    } else if (name === "spiral") {
      const c = i % 2, t = u;
      const a = 3.2 * t * Math.PI + c * Math.PI;
      pts.push([0.9 * t * Math.cos(a), 0.9 * t * Math.sin(a), c]);
    } else if (name === "moons") {
      const c = i % 2, a = Math.PI * u;
      const x = c ? 1 - Math.cos(a) : Math.cos(a), y = c ? 0.5 - Math.sin(a) : Math.sin(a);
      pts.push([0.6 * (x - 0.5) + 0.05 * gauss(r), 0.6 * (y - 0.25) + 0.05 * gauss(r), c]);
    } else if (name === "plane") {
      const x = 2 * u - 1, y = 2 * r() - 1;
      pts.push([x, y, (x + y) / 2]);
    } else if (name === "gaussians") {
      const x = 2 * u - 1, y = 2 * r() - 1;
      const bump = (cx, cy, h) => h * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.12);
      pts.push([x, y, bump(-0.4, 0.4, 1) + bump(0.45, -0.3, -1) + bump(0.3, 0.55, 0.7)]);
    } else if (name === "blobs") {
      const c = i % 4, a = (c * Math.PI) / 2 + Math.PI / 4;
      pts.push([0.55 * Math.cos(a) + 0.13 * gauss(r), 0.55 * Math.sin(a) + 0.13 * gauss(r), c]);
    }
  }
  return pts;
}

// Draw a preset's icon on a (square) canvas; "custom" gets a pencil stroke and a few dots. Classes
// have their shapes as well as their colours, as on the plot; values are coloured dots.
export function drawPresetIcon(canvas, name) {
  const ctx = canvas.getContext("2d");
  const n = canvas.width;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, n, n);
  const pts = name === "custom"
    ? [[-0.5, 0.5, 0], [-0.3, 0.6, 0], [-0.6, 0.25, 0], [0.45, -0.45, 1], [0.6, -0.2, 1],
      [0.25, -0.6, 1], [0.55, 0.5, 2], [0.35, 0.6, 2]]
    : sketch(name);
  const regression = name === "plane" || name === "gaussians";
  for (const [x, y, c] of pts) {
    const [px, py, r] = [((x + 1) / 2) * n, ((1 - y) / 2) * n, n / 22];
    ctx.fillStyle = regression ? valueCss(c, 1) : classCss(c);
    ctx.beginPath();
    if (regression) ctx.arc(px, py, r, 0, 2 * Math.PI);
    else classMarker(ctx, c, px, py, r);
    ctx.fill();
  }
  if (name === "custom") {
    ctx.strokeStyle = "#555";
    ctx.lineWidth = n / 16;
    ctx.lineCap = "round";
    ctx.beginPath();
    ctx.moveTo(n * 0.3, n * 0.75);
    ctx.lineTo(n * 0.72, n * 0.3);
    ctx.stroke();
  }
}

// A feature's map over the plane as uint8 (T*T), 128 = 0, scaled by its max |value| (the same
// encoding the server uses for neuron maps). Row 0 is y = +1.
export function featureGrid(fn, t) {
  const vals = new Float32Array(t * t);
  let max = 1e-9;
  for (let r = 0; r < t; r++) {
    for (let c = 0; c < t; c++) {
      const v = fn(-1 + (2 * c) / (t - 1), 1 - (2 * r) / (t - 1));
      vals[r * t + c] = v;
      max = Math.max(max, Math.abs(v));
    }
  }
  return Uint8Array.from(vals, (v) => Math.round(128 + (127 * v) / max));
}

// The server's defaults with a (partial) saved config on top, keeping only known keys.
export function mergeConfig(partial) {
  const out = structuredClone(DEFAULTS);
  for (const section of Object.keys(out)) {
    const given = partial && typeof partial[section] === "object" ? partial[section] : {};
    for (const key of Object.keys(out[section])) {
      if (given[key] !== undefined && given[key] !== null) out[section][key] = given[key];
    }
  }
  return out;
}

// Drawn points from a link: [x, y, label] triples in the plane with labels the server takes
// (a regression's: [x, y, value]; the server bounds the value, `options.max_value`).
export function cleanPoints(list, task = "classification") {
  if (!Array.isArray(list)) return null;
  const target = task === "regression"
    ? () => true
    : (v) => Number.isInteger(v) && v >= 0 && v < LIMITS.classes;
  const ok = list.filter((p) => Array.isArray(p) && p.length === 3
    && p.every((v) => typeof v === "number" && Number.isFinite(v))
    && Math.abs(p[0]) <= 1 && Math.abs(p[1]) <= 1 && target(p[2]));
  return ok.slice(0, LIMITS.points);
}

// A value's colour on the diverging ramp of the regression map: orange below zero, white at
// zero, blue above, full at ±top (the two class colours, as in the neuron maps).
export function valueRgb(value, top) {
  const t = Math.max(-1, Math.min(1, value / (top || 1)));
  const end = t < 0 ? CLASS_RGB[0] : CLASS_RGB[1];
  return end.map((v) => Math.round(255 + (v - 255) * Math.abs(t)));
}
export const valueCss = (value, top) => `rgb(${valueRgb(value, top).join(", ")})`;
