// Convolution & pooling lab: the worked example cell by cell, then real pictures.
// The page state (one object, kept in the URL hash) is the lab's whole config: every change sends
// it as one `configure`; the server answers with `grid` (exact numbers, every window's products)
// and the binary frames `conv`, `pool`, `shift`. Stepping the window needs no round trip.
// This module owns the socket, the state and the shared controls; the worked example is
// convolution-walk.js, pooling the small grid convolution-pool.js, real pictures convolution-real.js.
import { LabSocket } from "./ws.js";
import { $, $$, on, slider, fillChoices } from "./ui.js";
import { loadState, saveState } from "./state.js";
import { LIMITS, DEFAULTS } from "./boot.js";
import { el } from "./convolution-common.js";
import { initWalk } from "./convolution-walk.js";
import { initPool } from "./convolution-pool.js";
import { initRealControls, renderConvFrame, renderPoolFrame } from "./convolution-real.js";
import { renderShiftFrame, renderRotateFrame } from "./convolution-invariance.js";

// Display labels of the segmented controls; their values come from the server (configured.options).
const POOL_MODE_LABELS = { max: "max", avg: "average", min: "min" };
const POOL_SOURCE_LABELS = { image: "image", feature: "conv output" };
const COLOR_LABELS = { grey: "grey (1)", rgb: "RGB (3)" };

const state = sanitize(loadState(DEFAULTS));
// What the page's modules share: the state, the server's latest answers, and commit().
const lab = {
  state,
  grid: null, // the last `grid` message
  presets: [], // the preset kernels' names
  presetKernels: {}, // name -> k×k weights at the current kernel size (the presets that exist there)
  kernelNames: [], // every kernel name the server knows (presets and "custom")
  samples: [],
  hasUpload: false,
  commit,
};

function sanitize(s) {
  // a hand-edited or old link: drop unknown keys, fall back to the defaults for bad grids
  for (const key of Object.keys(s)) if (!(key in DEFAULTS)) delete s[key];
  const square = (g) => Array.isArray(g) && g.length > 0 && g.every((r) => Array.isArray(r) && r.length === g[0].length
    && r.every((v) => Number.isFinite(v)));
  if (!square(s.grid)) s.grid = structuredClone(DEFAULTS.grid);
  if (!square(s.kernel) || s.kernel.length !== s.kernel[0].length) s.kernel = structuredClone(DEFAULTS.kernel);
  if (!Array.isArray(s.kernels) || !s.kernels.length) s.kernels = [...DEFAULTS.kernels];
  if (!Array.isArray(s.rgb_kernels) || s.rgb_kernels.length !== 3) s.rgb_kernels = [...DEFAULTS.rgb_kernels];
  for (const key of ["pool", "picture_pool"]) {
    if (!s[key] || typeof s[key] !== "object") s[key] = structuredClone(DEFAULTS[key]);
    for (const k of Object.keys(s[key])) if (!(k in DEFAULTS[key])) delete s[key][k];
  }
  return s;
}

// Names the server does not offer (an old link, an upload this session no longer holds) fall
// back to the defaults.
function keepKnown(s, configured) {
  const kernels = configured.options.kernels;
  if (!s.kernels.every((name) => kernels.includes(name))) s.kernels = [...DEFAULTS.kernels];
  if (!s.rgb_kernels.every((name) => kernels.includes(name))) s.rgb_kernels = [...DEFAULTS.rgb_kernels];
  const samples = configured.has_upload ? [...configured.samples, "upload"] : configured.samples;
  if (!samples.includes(s.sample)) s.sample = DEFAULTS.sample;
  const { pool_modes: modes, pool_sources: sources, colors } = configured.options;
  for (const key of ["pool", "picture_pool"]) {
    if (!modes.includes(s[key].mode)) s[key].mode = DEFAULTS[key].mode;
    if (!sources.includes(s[key].source)) s[key].source = DEFAULTS[key].source;
  }
  if (!colors.includes(s.color)) s.color = DEFAULTS.color;
}

const sortedJSON = (v) => JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

// The page's state is the truth (it is what the page shows, and the link): after a (re)connect,
// send it when the server's session holds something else.
function resync(configured) {
  keepKnown(state, configured);
  if (sortedJSON(configured.config) === sortedJSON(state)) return null;
  saveState(state);
  return { type: "configure", lab: "convolution", config: state };
}

// ---- talking to the server ---------------------------------------------------------------------
const sock = new LabSocket("convolution", { resync });
let sendTimer = null;

function commit({ now = false } = {}) {
  saveState(state);
  renderControls();
  clearTimeout(sendTimer);
  const send = () => sock.send({ type: "configure", config: state });
  if (now) send(); else sendTimer = setTimeout(send, 40);
}

const walk = initWalk(lab);
const pool = initPool(lab);
const real = initRealControls(lab, sock);

sock.on("configured", (message) => {
  if (message.resyncing) return; // the page's own state is on its way; its reply follows
  lab.presets = message.presets;
  lab.presetKernels = message.preset_kernels;
  lab.kernelNames = message.options.kernels;
  lab.samples = message.samples;
  lab.hasUpload = message.has_upload;
  for (const prefix of ["pool", "picture-pool"]) {
    fillChoices($(`#${prefix}-mode`), message.options.pool_modes, POOL_MODE_LABELS, "mode");
    fillChoices($(`#${prefix}-source`), message.options.pool_sources, POOL_SOURCE_LABELS, "source");
  }
  fillChoices($("#color"), message.options.colors, COLOR_LABELS, "color");
  walk.renderPresetMenu();
  renderControls();
});
sock.on("grid", (message) => {
  lab.grid = message;
  walk.fitWindow(message.windows || []);
  pool.fitWindow(message.pool.windows || []);
  walk.renderWalk();
  pool.renderPool();
});
sock.on("frame:conv", renderConvFrame);
sock.on("frame:pool", renderPoolFrame);
sock.on("frame:shift", renderShiftFrame);
sock.on("frame:rotate", renderRotateFrame);

// ---- controls ----------------------------------------------------------------------------------
function outputSide(n, k, s, p, d) {
  const span = n + 2 * p - d * (k - 1) - 1;
  return span < 0 ? 0 : Math.floor(span / s) + 1;
}

function resizeSquare(rows, size) {
  // keep the old values centred; new cells are 0
  const old = rows.length;
  const shift = Math.floor((size - old) / 2);
  return Array.from({ length: size }, (_, r) => Array.from({ length: size }, (_, c) => {
    const rr = r - shift;
    const cc = c - shift;
    return rr >= 0 && rr < old && cc >= 0 && cc < old ? rows[rr][cc] : 0;
  }));
}

// A field of the state by its path: "stride", "pool.size".
function read(path) { return path.split(".").reduce((o, k) => o[k], state); }
function write(path, value) {
  const keys = path.split(".");
  const last = keys.pop();
  keys.reduce((o, k) => o[k], state)[last] = value;
}

function bindSlider(id, path) {
  const input = $(`#${id}`);
  const label = $(`#${id}-label`);
  input.value = read(path);
  const update = slider(input, label);
  input.addEventListener("input", () => {
    write(path, Number(input.value));
    commit();
  });
  return () => { input.value = read(path); update(); };
}

const refreshers = [
  bindSlider("stride", "stride"),
  bindSlider("padding", "padding"),
  bindSlider("dilation", "dilation"),
  bindSlider("pool-size", "pool.size"),
  bindSlider("pool-stride", "pool.stride"),
  bindSlider("picture-pool-size", "picture_pool.size"),
  bindSlider("picture-pool-stride", "picture_pool.stride"),
  bindSlider("shift-x", "shift_x"),
  bindSlider("shift-y", "shift_y"),
  bindSlider("rotation", "rotation"),
];
{
  const input = $("#ksize");
  input.max = LIMITS.max_kernel_size;
  input.addEventListener("input", () => {
    state.kernel = resizeSquare(state.kernel, Number(input.value));
    walk.renderKernelGrid();
    commit();
  });
  slider(input, $("#k-label"), (v) => `${v}×${v}`);
  refreshers.push(() => { input.value = state.kernel.length; $("#k-label").textContent = `${input.value}×${input.value}`; });
}

const gridSize = $("#grid-size");
for (let n = 2; n <= LIMITS.max_grid; n++) gridSize.append(el("option", { value: n, text: `${n}×${n}` }));
gridSize.addEventListener("change", () => {
  const n = Number(gridSize.value);
  state.grid = Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => state.grid[r]?.[c] ?? 0));
  commit();
});
$("#btn-classic").addEventListener("click", () => {
  const { grid, kernel, stride, padding, dilation } = structuredClone(DEFAULTS);
  Object.assign(state, { grid, kernel, stride, padding, dilation });
  walk.firstWindow();
  walk.renderKernelGrid();
  commit();
});
$("#btn-random").addEventListener("click", () => {
  state.grid = state.grid.map((row) => row.map(() => (Math.random() < 0.45 ? 1 : 0)));
  commit();
});
$("#btn-clear").addEventListener("click", () => {
  state.grid = state.grid.map((row) => row.map(() => 0));
  commit();
});

function segmented(id, attr, path) {
  const root = $(`#${id}`);
  on(root, "click", "button", (_, button) => {
    write(path, button.dataset[attr]);
    commit();
  });
  return () => $$("button", root).forEach((b) => {
    const active = b.dataset[attr] === read(path);
    b.setAttribute("role", "radio");
    b.setAttribute("aria-checked", String(active));
  });
}
refreshers.push(segmented("pool-mode", "mode", "pool.mode"));
refreshers.push(segmented("pool-source", "source", "pool.source"));
refreshers.push(segmented("picture-pool-mode", "mode", "picture_pool.mode"));
refreshers.push(segmented("picture-pool-source", "source", "picture_pool.source"));
refreshers.push(segmented("color", "color", "color"));

// The page's tip: "try N = 8 on the picture" sets the picture's pooling (not the small example's).
$("#btn-pool-8").addEventListener("click", () => {
  Object.assign(state.picture_pool, { size: 8, stride: 8 });
  commit({ now: true });
  $("#pool-figures").scrollIntoView({ block: "nearest" });
});

function renderControls() {
  refreshers.forEach((f) => f());
  gridSize.value = state.grid.length;
  renderFormula();
  real.renderKernelList();
  real.renderSampleMenu();
}

function renderFormula() {
  const n = state.grid.length;
  const k = state.kernel.length;
  const { stride: s, padding: p, dilation: d } = state;
  const side = outputSide(n, k, s, p, d);
  const filled = `⌊(${n} + 2·${p} − ${d}·(${k} − 1) − 1) / ${s}⌋ + 1`;
  const result = side > 0 ? `= ${side}` : "→ the kernel does not fit: add padding or shrink it";
  $("#formula").textContent = `output side = ⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1 = ${filled} ${result}`;
  $("#out-size").textContent = side > 0 ? `${side}×${side}` : "";
}

// ---- start -------------------------------------------------------------------------------------
walk.renderKernelGrid();
renderControls();
walk.renderImageGrid();
