// Convolution & pooling lab: the worked example cell by cell, then real pictures.
// The page state (one object, kept in the URL hash) is the lab's whole config: every change sends
// it as one `configure`; the server answers with `grid` (exact numbers, every window's products)
// and the binary frames `conv`, `pool`, `shift`. Stepping the window needs no round trip.
import { LabSocket } from "./ws.js";
import { COLORMAPS, drawGrid, drawRGB } from "./heatmap.js";
import { $, $$, on, pct, showError, slider } from "./ui.js";
import { loadState, saveState } from "./state.js";

const LIMITS = window.TORCHPLAY_LIMITS || {};
const CLASSIC_IMAGE = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]];
const CLASSIC_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]];
const DEFAULTS = {
  grid: CLASSIC_IMAGE, kernel: CLASSIC_KERNEL, stride: 1, padding: 0, dilation: 1,
  pool_mode: "max", pool_size: 2, pool_stride: 2, pool_source: "image",
  sample: "camera", color: "grey", kernels: ["sobel_x", "sobel_y"],
  rgb_kernels: ["sobel_x", "sobel_x", "sobel_x"], shift_x: 1, shift_y: 0,
};
const NAMES = {
  identity: "identity", box_blur: "box blur", gaussian_blur: "Gaussian blur", sharpen: "sharpen",
  sobel_x: "Sobel x", sobel_y: "Sobel y", prewitt_x: "Prewitt x", prewitt_y: "Prewitt y",
  laplacian: "Laplacian", emboss: "emboss", custom: "custom (your grid)",
};
const SAMPLE_NAMES = {
  camera: "camera man", astronaut: "astronaut", coffee: "coffee", chelsea: "Chelsea the cat",
  rocket: "rocket", coins: "coins", moon: "moon", upload: "your picture",
};
const POOL_WORD = { max: "max", avg: "avg", min: "min" };
const MAX_GRID = LIMITS.max_grid || 16;
const MAX_KERNELS = LIMITS.max_kernels || 8;

const state = sanitize(loadState(DEFAULTS));
let grid = null; // the last `grid` message
let presetKernels = {}; // name -> k×k weights at the current kernel size
let samples = Object.keys(SAMPLE_NAMES).filter((s) => s !== "upload");
let hasUpload = false;
let awaitingSync = true; // after hello: wait for the session's `configured` before sending ours
let windowIndex = 0;
let poolIndex = 0;
let timer = null;

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

sock.on("hello", () => { awaitingSync = true; });
sock.on("configured", (message) => {
  presetKernels = message.preset_kernels || presetKernels;
  samples = message.samples || samples;
  hasUpload = Boolean(message.has_upload);
  renderPresetMenu();
  renderSampleMenu();
  renderKernelList();
  if (awaitingSync) {
    awaitingSync = false;
    if (state.sample === "upload" && !hasUpload) state.sample = "camera"; // a new session
    commit({ now: true });
  }
});
sock.on("grid", (message) => {
  grid = message;
  const windows = message.windows || [];
  if (windowIndex >= windows.length) windowIndex = 0;
  const poolWindows = message.pool.windows || [];
  if (poolIndex >= poolWindows.length) poolIndex = 0;
  renderWalk();
  renderPool();
});
sock.on("frame:conv", renderConvFrame);
sock.on("frame:pool", renderPoolFrame);
sock.on("frame:shift", renderShiftFrame);

// ---- small helpers -----------------------------------------------------------------------------
function num(v) {
  if (v === null || v === undefined) return "–";
  const r = Math.round(v * 1000) / 1000;
  return Object.is(r, -0) ? "0" : String(r);
}

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) node.append(child);
  return node;
}

function outputSide(n, k, s, p, d) {
  const span = n + 2 * p - d * (k - 1) - 1;
  return span < 0 ? 0 : Math.floor(span / s) + 1;
}

function showNote(id, message) {
  const node = $(id);
  node.hidden = !message;
  node.textContent = message || "";
}

// ---- controls ----------------------------------------------------------------------------------
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
    renderKernelGrid();
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
  windowIndex = 0;
  renderKernelGrid();
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
  renderKernelList();
  renderSampleMenu();
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

// ---- the worked example ------------------------------------------------------------------------
function cellGrid(root, rows, cols, make) {
  root.style.setProperty("--cols", cols);
  root.replaceChildren();
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) root.append(make(r, c));
}

function renderImageGrid() {
  const focused = document.activeElement?.closest?.("#image-grid .cell[data-r]");
  const refocus = focused ? `.cell[data-r="${focused.dataset.r}"][data-c="${focused.dataset.c}"]` : null;
  drawImageGrid();
  if (refocus) $(refocus, $("#image-grid"))?.focus();
}

function drawImageGrid() {
  const p = state.padding;
  const image = state.grid;
  const n = image.length;
  const m = image[0].length;
  const w = grid && !grid.error ? grid.windows?.[windowIndex] : null;
  const taps = new Map();
  if (w) w.rows.forEach((r, i) => w.cols.forEach((c, j) => taps.set(`${r},${c}`, state.kernel[i]?.[j])));
  cellGrid($("#image-grid"), n + 2 * p, m + 2 * p, (r, c) => {
    const inside = r >= p && r < n + p && c >= p && c < m + p;
    const value = inside ? image[r - p][c - p] : 0;
    const cell = el("div", { class: `cell${inside ? "" : " pad"}${value ? " on" : ""}`, text: num(value) });
    if (inside) {
      cell.dataset.r = r - p;
      cell.dataset.c = c - p;
      cell.title = "click to flip";
      cell.tabIndex = 0;
      cell.setAttribute("role", "button");
      cell.setAttribute("aria-label", `pixel row ${r - p + 1}, column ${c - p + 1}: ${num(value)}`);
    }
    const key = `${r},${c}`;
    if (taps.has(key)) {
      cell.classList.add("tap");
      cell.append(el("sub", { text: `×${num(taps.get(key))}` }));
    }
    return cell;
  });
}

function flip(cell) {
  const r = Number(cell.dataset.r);
  const c = Number(cell.dataset.c);
  state.grid[r][c] = state.grid[r][c] === 1 ? 0 : 1;
  renderImageGrid(); // at once; the server's numbers follow
  commit();
}
on($("#image-grid"), "click", ".cell[data-r]", (_, cell) => flip(cell));
on($("#image-grid"), "keydown", ".cell[data-r]", (event, cell) => {
  if (event.key !== "Enter" && event.key !== " ") return;
  event.preventDefault();
  flip(cell);
});

function renderKernelGrid() {
  const k = state.kernel.length;
  cellGrid($("#kernel-grid"), k, k, (r, c) => el("input", {
    type: "number", step: "any", min: -100, max: 100, value: state.kernel[r][c],
    "data-r": r, "data-c": c, ariaLabel: `kernel weight row ${r + 1} column ${c + 1}`,
  }));
}

on($("#kernel-grid"), "change", "input", (_, input) => {
  const value = Number(input.value);
  if (input.value.trim() === "" || !Number.isFinite(value) || Math.abs(value) > 100) {
    input.setAttribute("aria-invalid", "true");
    showError("kernel weights are numbers from −100 to 100");
    return;
  }
  input.removeAttribute("aria-invalid");
  state.kernel[Number(input.dataset.r)][Number(input.dataset.c)] = value;
  commit();
});

function renderPresetMenu() {
  const menu = $("#kernel-preset");
  menu.replaceChildren(el("option", { value: "", text: "a preset…" }));
  for (const name of Object.keys(presetKernels)) menu.append(el("option", { value: name, text: NAMES[name] || name }));
}
$("#kernel-preset").addEventListener("change", (event) => {
  const kernel = presetKernels[event.target.value];
  event.target.value = "";
  if (!kernel) return;
  state.kernel = structuredClone(kernel);
  renderKernelGrid();
  commit();
});

function renderWalk() {
  renderImageGrid();
  const error = grid?.error;
  showNote("#walk-error", error);
  const out = $("#output-grid");
  const windows = grid?.windows || [];
  if (error || !grid) {
    out.replaceChildren();
    $("#products").replaceChildren();
    $("#window-label").textContent = "";
    return;
  }
  const rows = grid.output.length;
  const cols = grid.output[0].length;
  cellGrid(out, rows, cols, (r, c) => {
    const index = r * cols + c;
    const when = index === windowIndex ? " current" : index > windowIndex ? " later" : "";
    const cell = el("div", { class: `cell value${when}`, text: num(grid.output[r][c]) });
    cell.dataset.index = index;
    cell.title = "show this window";
    return cell;
  });
  const w = windows[windowIndex];
  $("#window-label").textContent = `window ${windowIndex + 1} of ${windows.length} · output row ${Math.floor(windowIndex / cols) + 1}, column ${windowIndex % cols + 1}`;
  const k = w.products.length;
  const products = el("div", { class: "conv-products-grid" });
  products.style.setProperty("--cols", k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      products.append(el("div", { class: `product${w.products[i][j] ? " nonzero" : ""}` }, [
        el("span", { class: "factors", text: `${num(w.values[i][j])}×${num(state.kernel[i]?.[j])}` }),
        el("span", { class: "result", text: num(w.products[i][j]) }),
      ]));
    }
  }
  const terms = w.products.flat().map(num).join(" + ").replace(/\+ -/g, "− ");
  $("#products").replaceChildren(
    el("div", { class: "conv-products-head", text: "pixel × weight, for each tap" }),
    products,
    el("div", { class: "conv-sum num", id: "window-sum" }, [
      el("span", { class: "muted", text: `${terms} = ` }),
      el("b", { text: num(w.total) }),
    ]),
  );
}

on($("#output-grid"), "click", ".cell[data-index]", (_, cell) => {
  windowIndex = Number(cell.dataset.index);
  renderWalk();
});

function stepWindow(delta) {
  const count = grid?.windows?.length || 0;
  if (!count) return;
  windowIndex = (windowIndex + delta + count) % count;
  renderWalk();
}
$("#btn-first").addEventListener("click", () => { windowIndex = 0; renderWalk(); });
$("#btn-prev").addEventListener("click", () => stepWindow(-1));
$("#btn-next").addEventListener("click", () => stepWindow(1));
$("#btn-animate").addEventListener("click", (event) => {
  const button = event.currentTarget;
  if (timer) {
    clearInterval(timer);
    timer = null;
  } else {
    timer = setInterval(() => stepWindow(1), 700);
  }
  button.setAttribute("aria-pressed", String(Boolean(timer)));
});
document.addEventListener("keydown", (event) => {
  if (event.target.closest?.("input, select, textarea, [role='button']")) return;
  if (event.key === "ArrowRight") stepWindow(1);
  if (event.key === "ArrowLeft") stepWindow(-1);
});

// ---- pooling the small grid --------------------------------------------------------------------
function renderPool() {
  const pool = grid?.pool;
  if (!pool) return;
  showNote("#pool-error", pool.error);
  $("#pool-input-title").textContent = pool.source === "image" ? "Image" : "Convolved feature";
  const input = $("#pool-input");
  const output = $("#pool-output");
  if (pool.error) {
    input.replaceChildren();
    output.replaceChildren();
    $("#pool-say").textContent = "";
    $("#pool-window-label").textContent = "";
    $("#pool-out-size").textContent = "";
    return;
  }
  const w = pool.windows[poolIndex];
  const inWindow = (r, c) => w.rows.includes(r) && w.cols.includes(c);
  const chosen = w.chosen ? [w.rows[w.chosen[0]], w.cols[w.chosen[1]]] : null;
  cellGrid(input, pool.input.length, pool.input[0].length, (r, c) => {
    const value = pool.input[r][c];
    let cls = "cell";
    if (pool.source === "image" && value === 1) cls += " on";
    if (inWindow(r, c)) cls += " tap";
    if (chosen && chosen[0] === r && chosen[1] === c) cls += " chosen";
    return el("div", { class: cls, text: num(value) });
  });
  const cols = pool.output[0].length;
  cellGrid(output, pool.output.length, cols, (r, c) => {
    const index = r * cols + c;
    const cell = el("div", { class: `cell value${index === poolIndex ? " current" : ""}`, text: num(pool.output[r][c]) });
    cell.dataset.index = index;
    return cell;
  });
  $("#pool-out-size").textContent = `${pool.output.length}×${cols}`;
  $("#pool-window-label").textContent = `window ${poolIndex + 1} of ${pool.windows.length}`;
  const values = w.rows.flatMap((r) => w.cols.map((c) => num(pool.input[r][c])));
  const n = values.length;
  const say = pool.mode === "avg"
    ? `avg(${values.join(", ")}) = (${values.join(" + ")}) / ${n} = ${num(w.result)}`
    : `${POOL_WORD[pool.mode]}(${values.join(", ")}) = ${num(w.result)} — the ringed cell`;
  $("#pool-say").textContent = say;
}

function stepPool(delta) {
  const count = grid?.pool?.windows?.length || 0;
  if (!count) return;
  poolIndex = (poolIndex + delta + count) % count;
  renderPool();
}
$("#pool-prev").addEventListener("click", () => stepPool(-1));
$("#pool-next").addEventListener("click", () => stepPool(1));
on($("#pool-output"), "click", ".cell[data-index]", (_, cell) => {
  poolIndex = Number(cell.dataset.index);
  renderPool();
});

// ---- real pictures -----------------------------------------------------------------------------
function renderSampleMenu() {
  const menu = $("#sample");
  const names = hasUpload ? [...samples, "upload"] : samples;
  if (menu.options.length !== names.length) {
    menu.replaceChildren(...names.map((s) => el("option", { value: s, text: SAMPLE_NAMES[s] || s })));
  }
  menu.value = state.sample;
}
$("#sample").addEventListener("change", (event) => { state.sample = event.target.value; commit(); });

function kernelSelect(value, label, index) {
  const select = el("select", { ariaLabel: label });
  select.dataset.index = index;
  for (const name of Object.keys(NAMES)) {
    const usable = name === "custom" || name in presetKernels;
    select.append(el("option", { value: name, text: NAMES[name], disabled: !usable }));
  }
  select.value = value;
  return select;
}

function renderKernelList() {
  const root = $("#kernel-list");
  const k = state.kernel.length;
  root.replaceChildren();
  if (state.color === "grey") {
    state.kernels.forEach((name, i) => {
      const chip = el("div", { class: "conv-chip" }, [
        el("span", { class: "muted", text: `out ${i + 1}` }),
        kernelSelect(name, `kernel ${i + 1}`, i),
      ]);
      if (state.kernels.length > 1) {
        chip.append(el("button", { type: "button", class: "conv-remove", text: "×", title: "remove this kernel", ariaLabel: `remove kernel ${i + 1}`, "data-remove": i }));
      }
      root.append(chip);
    });
    if (state.kernels.length < MAX_KERNELS) {
      root.append(el("button", { type: "button", id: "btn-add-kernel", text: "+ kernel", title: "another output channel" }));
    }
    $("#kernel-hint").textContent = `${state.kernels.length} kernel${state.kernels.length > 1 ? "s" : ""} of ${k}×${k} on 1 input channel → ${state.kernels.length} output channel${state.kernels.length > 1 ? "s" : ""}. "custom" is the grid you typed above.`;
  } else {
    ["R", "G", "B"].forEach((channel, i) => {
      root.append(el("div", { class: `conv-chip channel-${channel}` }, [
        el("span", { text: channel }), kernelSelect(state.rgb_kernels[i], `kernel slice for ${channel}`, i),
      ]));
    });
    $("#kernel-hint").textContent = `One kernel of 3×${k}×${k}: one ${k}×${k} slice per input channel; the output is the sum of the three.`;
  }
}

on($("#kernel-list"), "change", "select", (_, select) => {
  const list = state.color === "grey" ? state.kernels : state.rgb_kernels;
  list[Number(select.dataset.index)] = select.value;
  commit();
});
on($("#kernel-list"), "click", "button[data-remove]", (_, button) => {
  state.kernels.splice(Number(button.dataset.remove), 1);
  commit();
});
on($("#kernel-list"), "click", "#btn-add-kernel", () => {
  const unused = ["sobel_x", "sobel_y", "laplacian", "gaussian_blur", "sharpen", "emboss", "box_blur", "identity"]
    .find((name) => !state.kernels.includes(name) && name in presetKernels) || "custom";
  state.kernels.push(unused);
  commit();
});

$("#upload").addEventListener("change", async (event) => {
  const input = event.target;
  const file = input.files[0];
  if (!file) return;
  const message = $("#upload-msg");
  message.className = "conv-upload-msg";
  message.textContent = "uploading…";
  try {
    const body = await sock.upload("/api/convolution/image", file);
    hasUpload = true;
    state.sample = "upload";
    saveState(state);
    renderSampleMenu();
    message.textContent = `Using your picture: ${body.original_width}×${body.original_height}, shown at ${body.width}×${body.height}.`;
    message.classList.add("good");
  } catch (error) {
    message.textContent = `Not used: ${error.message}`;
    message.classList.add("bad");
    showError(`Upload refused: ${error.message}`);
  } finally {
    input.value = "";
  }
});

function legend(map) {
  if (!map) return "";
  if (map.map === "diverging") return `orange −${num(map.scale)} · white 0 · blue +${num(map.scale)}`;
  if (map.map === "gray") return `black 0 · white ${num(map.scale)}`;
  return "the picture's colours";
}

function figure(title, array, map, { cls = "" } = {}) {
  const canvas = el("canvas", { class: "pixelated" });
  const [h, w] = array.shape;
  if (array.shape.length === 3) drawRGB(canvas, array.data, w, h);
  else drawGrid(canvas, array.data, w, h, map?.map === "diverging" ? COLORMAPS.diverging : COLORMAPS.gray);
  canvas.setAttribute("aria-label", title);
  canvas.dataset.size = `${h}x${w}`;
  return el("figure", { class: `conv-figure ${cls}` }, [
    canvas,
    el("figcaption", {}, [
      el("b", { text: title }), el("span", { class: "muted num", text: ` ${w}×${h}` }),
      el("div", { class: "muted legend", text: legend(map) }),
    ]),
  ]);
}

function slice(array, index) {
  const [, h, w] = array.shape;
  return { data: array.data.subarray(index * h * w, (index + 1) * h * w), shape: [h, w] };
}

function renderConvFrame(frame) {
  const root = $("#figures");
  showNote("#real-error", frame.meta.error);
  if (frame.meta.error) { root.replaceChildren(); return; }
  const { arrays, meta } = frame;
  const items = [figure(meta.color === "rgb" ? "input (RGB)" : "input (grey)", arrays.input, null, { cls: "input" })];
  if (meta.color === "rgb") {
    meta.channel_names.forEach((name, c) => {
      items.push(el("div", { class: "conv-op", text: c === 0 ? "→" : "+" }));
      const [channel, kernel] = name.split(" * ");
      items.push(figure(`${channel} × ${NAMES[kernel] || kernel}`, slice(arrays.channels, c), meta.channel_maps[c]));
    });
    items.push(el("div", { class: "conv-op", text: "=" }));
    items.push(figure("output (sum)", slice(arrays.outputs, 0), meta.maps[0], { cls: "output" }));
  } else {
    items.push(el("div", { class: "conv-op", text: "→" }));
    meta.names.forEach((name, i) => {
      items.push(figure(NAMES[name] || name, slice(arrays.outputs, i), meta.maps[i], { cls: "output" }));
    });
  }
  root.replaceChildren(...items);
}

function renderPoolFrame(frame) {
  showNote("#realpool-error", frame.meta.error);
  const root = $("#pool-figures");
  if (frame.meta.error) { root.replaceChildren(); $("#realpool-caption").textContent = ""; return; }
  const { meta, arrays } = frame;
  const what = meta.source === "image" ? "the picture" : "the first conv output";
  $("#realpool-caption").textContent = `${meta.mode} pooling of ${what}, ${meta.size}×${meta.size}, stride ${meta.stride}`;
  root.replaceChildren(
    figure("before", arrays.before, meta.map, { cls: "input" }),
    el("div", { class: "conv-op", text: "→" }),
    figure(`${meta.mode} pooled`, arrays.after, meta.map, { cls: "input pooled" }),
  );
}

function renderShiftFrame(frame) {
  showNote("#shift-error", frame.meta.error);
  const root = $("#shift-figures");
  if (frame.meta.error) {
    root.replaceChildren();
    ["#change-input", "#change-conv", "#change-pool"].forEach((id) => { $(id).textContent = "–"; });
    return;
  }
  const { meta, arrays } = frame;
  $("#change-input").textContent = pct(meta.input_change);
  $("#change-conv").textContent = pct(meta.conv_change);
  $("#change-pool").textContent = pct(meta.pooled_change);
  root.replaceChildren(
    figure("conv, before", slice(arrays.conv, 0), meta.conv_map),
    figure(`conv, moved (${meta.dx}, ${meta.dy})`, slice(arrays.conv, 1), meta.conv_map),
    figure("pooled, before", slice(arrays.pooled, 0), meta.pool_map, { cls: "pooled" }),
    figure("pooled, moved", slice(arrays.pooled, 1), meta.pool_map, { cls: "pooled" }),
  );
}

// ---- start -------------------------------------------------------------------------------------
renderKernelGrid();
renderControls();
renderImageGrid();
