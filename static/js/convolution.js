// Convolution & pooling lab: the worked example cell by cell, then real pictures.
// The page state (one object, kept in the URL hash) is the lab's whole config: every change sends
// it as one `configure`; the server answers with `grid` (exact numbers, every window's products)
// and the binary frames `conv`, `pool`, `shift`. Stepping the window needs no round trip.
// This module owns the socket, the state and the shared controls; the worked example is
// convolution-walk.js, pooling the small grid convolution-pool.js, real pictures convolution-real.js.
import { LabSocket } from "./ws.js";
import { $, $$, on, slider } from "./ui.js";
import { loadState, saveState } from "./state.js";
import { NAMES, SAMPLE_NAMES, el } from "./convolution-common.js";
import { initWalk } from "./convolution-walk.js";
import { initPool } from "./convolution-pool.js";
import { initRealControls, renderConvFrame, renderPoolFrame, renderShiftFrame } from "./convolution-real.js";

import { LIMITS } from "./boot.js";
const CLASSIC_IMAGE = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]];
const CLASSIC_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]];
const DEFAULTS = {
  grid: CLASSIC_IMAGE, kernel: CLASSIC_KERNEL, stride: 1, padding: 0, dilation: 1,
  pool_mode: "max", pool_size: 2, pool_stride: 2, pool_source: "image",
  sample: "camera", color: "grey", kernels: ["sobel_x", "sobel_y"],
  rgb_kernels: ["sobel_x", "sobel_x", "sobel_x"], shift_x: 1, shift_y: 0,
};
const MAX_GRID = LIMITS.max_grid || 16;

const state = sanitize(loadState(DEFAULTS));
// What the page's modules share: the state, the server's latest answers, and commit().
const lab = {
  state,
  grid: null, // the last `grid` message
  presetKernels: {}, // name -> k×k weights at the current kernel size
  samples: Object.keys(SAMPLE_NAMES).filter((s) => s !== "upload"),
  hasUpload: false,
  commit,
};
let awaitingSync = true; // after hello: wait for the session's `configured` before sending ours

function sanitize(s) {
  // a hand-edited or old link: drop unknown keys and names, fall back to defaults for bad grids
  for (const key of Object.keys(s)) if (!(key in DEFAULTS)) delete s[key];
  const square = (g) => Array.isArray(g) && g.length > 0 && g.every((r) => Array.isArray(r) && r.length === g[0].length
    && r.every((v) => Number.isFinite(v)));
  if (!square(s.grid)) s.grid = structuredClone(CLASSIC_IMAGE);
  if (!square(s.kernel) || s.kernel.length !== s.kernel[0].length) s.kernel = structuredClone(CLASSIC_KERNEL);
  const known = (list) => Array.isArray(list) && list.every((name) => name in NAMES);
  if (!known(s.kernels) || !s.kernels.length) s.kernels = [...DEFAULTS.kernels];
  if (!known(s.rgb_kernels) || s.rgb_kernels.length !== 3) s.rgb_kernels = [...DEFAULTS.rgb_kernels];
  if (!(s.sample in SAMPLE_NAMES)) s.sample = DEFAULTS.sample;
  return s;
}

// ---- talking to the server ---------------------------------------------------------------------
const sock = new LabSocket("convolution");
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

sock.on("hello", () => { awaitingSync = true; });
sock.on("configured", (message) => {
  lab.presetKernels = message.preset_kernels || lab.presetKernels;
  lab.samples = message.samples || lab.samples;
  lab.hasUpload = Boolean(message.has_upload);
  walk.renderPresetMenu();
  real.renderSampleMenu();
  real.renderKernelList();
  if (awaitingSync) {
    awaitingSync = false;
    if (state.sample === "upload" && !lab.hasUpload) state.sample = "camera"; // a new session
    commit({ now: true });
  }
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

function bindSlider(id, key, { onChange = null } = {}) {
  const input = $(`#${id}`);
  const label = $(`#${id}-label`);
  input.value = state[key];
  const update = slider(input, label);
  input.addEventListener("input", () => {
    if (onChange) onChange(Number(input.value)); else state[key] = Number(input.value);
    commit();
  });
  return () => { input.value = state[key]; update(); };
}

const refreshers = [
  bindSlider("stride", "stride"),
  bindSlider("padding", "padding"),
  bindSlider("dilation", "dilation"),
  bindSlider("pool-size", "pool_size"),
  bindSlider("pool-stride", "pool_stride"),
  bindSlider("shift-x", "shift_x"),
  bindSlider("shift-y", "shift_y"),
];
{
  const input = $("#ksize");
  input.max = LIMITS.max_kernel_size || 7;
  input.addEventListener("input", () => {
    state.kernel = resizeSquare(state.kernel, Number(input.value));
    walk.renderKernelGrid();
    commit();
  });
  slider(input, $("#k-label"), (v) => `${v}×${v}`);
  refreshers.push(() => { input.value = state.kernel.length; $("#k-label").textContent = `${input.value}×${input.value}`; });
}

const gridSize = $("#grid-size");
for (let n = 2; n <= MAX_GRID; n++) gridSize.append(el("option", { value: n, text: `${n}×${n}` }));
gridSize.addEventListener("change", () => {
  const n = Number(gridSize.value);
  state.grid = Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => state.grid[r]?.[c] ?? 0));
  commit();
});
$("#btn-classic").addEventListener("click", () => {
  state.grid = structuredClone(CLASSIC_IMAGE);
  state.kernel = structuredClone(CLASSIC_KERNEL);
  Object.assign(state, { stride: 1, padding: 0, dilation: 1 });
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

function segmented(id, attr, key) {
  const root = $(`#${id}`);
  on(root, "click", "button", (_, button) => {
    state[key] = button.dataset[attr];
    commit();
  });
  return () => $$("button", root).forEach((b) => {
    const active = b.dataset[attr] === state[key];
    b.setAttribute("aria-pressed", String(active));
    b.setAttribute("role", "radio");
    b.setAttribute("aria-checked", String(active));
  });
}
refreshers.push(segmented("pool-mode", "mode", "pool_mode"));
refreshers.push(segmented("pool-source", "source", "pool_source"));
refreshers.push(segmented("color", "color", "color"));

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
