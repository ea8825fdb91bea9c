// The tensors explainer (templates/tensors.html): no session, no socket. One GET /api/tensors
// brings tensors of 1 to 6 dimensions made of this app's data (each with its dimensions' names),
// a real feature map and its flattening, a digit's 64 numbers, dtype sizes and measured copy
// costs; this module draws them and lets the reader slice and reshape.
import { $, on } from "./ui.js";
import { textOn } from "./palette.js";

const TYPES = { uint8: Uint8Array, float32: Float32Array };
const CANVAS_WIDTH = 560; // CSS pixels a drawing may take
const product = (sizes) => sizes.reduce((a, b) => a * b, 1);
const fmtInt = (n) => n.toLocaleString("en-US");

// ---- tensors -------------------------------------------------------------------------------
// {dims, shape, dtype, data (typed array), labels: {dim: [names]}}
function decode(wire, labels = {}) {
  const bytes = Uint8Array.from(atob(wire.data), (c) => c.charCodeAt(0));
  return { dims: wire.dims, shape: wire.shape, dtype: wire.dtype, data: new TYPES[wire.dtype](bytes.buffer), labels };
}

// x.select(d, i): the tensor without dimension d, at index i of it.
function select(t, d, i) {
  const inner = product(t.shape.slice(d + 1));
  const outer = product(t.shape.slice(0, d));
  const out = new t.data.constructor(outer * inner);
  for (let o = 0; o < outer; o++) {
    const start = (o * t.shape[d] + i) * inner;
    out.set(t.data.subarray(start, start + inner), o * inner);
  }
  const drop = (list) => list.filter((_, k) => k !== d);
  return { ...t, dims: drop(t.dims), shape: drop(t.shape), data: out };
}

const named = (t) => `(${t.dims.map((d, k) => `${d}=${t.shape[k]}`).join(", ")})`;

// ---- colours -------------------------------------------------------------------------------
// uint8: grey (images: as they are); floats: blue positive, orange negative, white at 0.
function colourScale(t) {
  if (t.dtype === "uint8") return (v) => [v, v, v];
  let top = 0;
  for (const v of t.data) top = Math.max(top, Math.abs(v));
  top = top || 1;
  return (v) => {
    const a = Math.min(1, Math.abs(v) / top);
    const [r, g, b] = v >= 0 ? [31, 119, 180] : [245, 147, 34];
    return [255 + (r - 255) * a, 255 + (g - 255) * a, 255 + (b - 255) * a].map(Math.round);
  };
}

// ---- drawing -------------------------------------------------------------------------------
// A tensor whose last two dimensions are height and width is a grid of pictures (channels of 3
// as colour); any other one is a table of cells, the last dimension across. Returns a sentence
// saying how the drawing maps the dimensions.
function drawTensor(canvas, t) {
  const n = t.dims.length;
  if (n >= 2 && t.dims[n - 2] === "height" && t.dims[n - 1] === "width") return drawPictures(canvas, t);
  return drawCells(canvas, t);
}

function drawPictures(canvas, t) {
  const n = t.dims.length;
  const [h, w] = t.shape.slice(n - 2);
  const rgb = n >= 3 && t.dims[n - 3] === "channels" && t.shape[n - 3] === 3;
  const lead = t.dims.slice(0, n - (rgb ? 3 : 2));
  const leadSizes = t.shape.slice(0, lead.length);
  const cols = lead.length ? leadSizes[leadSizes.length - 1] : 1;
  const rows = product(leadSizes.slice(0, -1));
  const gap = 2;
  const width = cols * (w + gap) - gap;
  const height = rows * (h + gap) - gap;
  const off = new OffscreenCanvas(width, height);
  const ctx = off.getContext("2d");
  const image = ctx.createImageData(width, height);
  image.data.fill(255);
  const colour = colourScale(t);
  const tile = (rgb ? 3 : 1) * h * w;
  for (let k = 0; k < rows * cols; k++) {
    const x0 = (k % cols) * (w + gap);
    const y0 = Math.floor(k / cols) * (h + gap);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = k * tile + y * w + x;
        const px = rgb ? [t.data[at], t.data[at + h * w], t.data[at + 2 * h * w]] : colour(t.data[at]);
        const o = ((y0 + y) * width + x0 + x) * 4;
        image.data.set(px, o);
      }
    }
  }
  ctx.putImageData(image, 0, 0);
  const scale = Math.max(1, Math.min(8, Math.floor(CANVAS_WIDTH / width)));
  canvas.width = width * scale;
  canvas.height = height * scale;
  const view = canvas.getContext("2d");
  view.imageSmoothingEnabled = false;
  view.drawImage(off, 0, 0, canvas.width, canvas.height);
  const parts = [];
  if (lead.length > 1) parts.push(`rows: ${lead.slice(0, -1).join(" × ")}`);
  if (lead.length) parts.push(`across: ${lead[lead.length - 1]}`);
  parts.push(`each picture: height × width${rgb ? ", the 3 channels as colour" : ""}`);
  return parts.join(" · ");
}

function drawCells(canvas, t, { square = false } = {}) {
  const n = t.dims.length;
  const cols = n ? t.shape[n - 1] : 1;
  const rows = Math.max(1, product(t.shape.slice(0, -1)));
  const cell = Math.max(3, Math.min(44, Math.floor(CANVAS_WIDTH / cols)));
  const tall = t.dtype === "float32" && !square ? Math.min(cell, 26) : cell;
  canvas.width = cols * cell;
  canvas.height = rows * tall;
  const ctx = canvas.getContext("2d");
  const colour = colourScale(t);
  ctx.font = "11px ui-monospace, monospace";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (let k = 0; k < t.data.length; k++) {
    const x = (k % cols) * cell;
    const y = Math.floor(k / cols) * tall;
    const [r, g, b] = colour(t.data[k]);
    ctx.fillStyle = `rgb(${r}, ${g}, ${b})`;
    ctx.fillRect(x, y, cell - 1, tall - 1);
    if (cell >= 26) {
      const v = t.data[k];
      ctx.fillStyle = (r + g + b) / 3 < 110 ? "#fff" : "#1f2430";
      ctx.fillText(Number.isInteger(v) ? String(v) : v.toFixed(2), x + cell / 2, y + tall / 2);
    }
  }
  if (!n) return "a single number: no dimension left";
  const parts = [];
  if (n > 1) parts.push(`rows: ${t.dims.slice(0, -1).join(" × ")}`);
  parts.push(`across: ${t.dims[n - 1]}`);
  return parts.join(" · ");
}

// ---- the examples: one card each, sliceable ----------------------------------------------------
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function card(example) {
  const t = decode(example.tensor, example.labels);
  const root = element("article", "tensor-card");
  root.dataset.key = example.key;
  root.dataset.rank = String(t.dims.length);
  const head = element("header");
  head.append(element("span", "tensor-rank", `${t.dims.length}-d`), element("h3", "", example.title));
  const dim = element("select");
  dim.dataset.dim = "";
  dim.append(new Option("— (the whole tensor)", ""));
  t.dims.forEach((d, k) => dim.append(new Option(`${d} (${t.shape[k]})`, String(k))));
  const index = element("input");
  Object.assign(index, { type: "range", min: 0, max: 0, value: 0, disabled: true });
  index.dataset.index = "";
  const indexLabel = element("output", "mono");
  const slicer = element("div", "tensor-slice");
  const pick = element("label", "", "slice ");
  pick.append(dim);
  const at = element("label", "", "at index ");
  at.append(index, indexLabel);
  slicer.append(pick, at);
  const shape = element("p", "mono tensor-shape");
  const facts = element("p", "mono muted tensor-facts");
  const code = element("p", "mono tensor-code");
  const canvas = element("canvas", "tensor-canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", example.title);
  const layout = element("p", "muted tensor-layout");
  root.append(head, element("p", "tensor-what", example.what), shape, facts, slicer, code, canvas, layout);

  function render() {
    const d = dim.value === "" ? null : Number(dim.value);
    let shown = t;
    if (d === null) {
      index.disabled = true;
      indexLabel.textContent = "";
      code.textContent = "x";
    } else {
      index.disabled = false;
      index.max = String(t.shape[d] - 1);
      if (Number(index.value) > t.shape[d] - 1) index.value = "0";
      const i = Number(index.value);
      const name = t.labels[t.dims[d]]?.[i];
      indexLabel.textContent = name ? `${i} (${name})` : String(i);
      shown = select(t, d, i);
      code.textContent = `x[${":, ".repeat(d)}${i}] → ${shown.dims.length ? named(shown) : "one number"}`;
    }
    root.dataset.shownRank = String(shown.dims.length);
    layout.textContent = drawTensor(canvas, shown);
  }
  shape.textContent = named(t);
  const bytes = t.data.BYTES_PER_ELEMENT;
  facts.textContent = `torch.Size([${t.shape.join(", ")}]) · torch.${t.dtype} · `
    + `${fmtInt(t.data.length)} numbers × ${bytes} byte${bytes > 1 ? "s" : ""} = ${fmtInt(t.data.length * bytes)} bytes`;
  dim.addEventListener("change", () => { index.value = "0"; render(); });
  index.addEventListener("input", render);
  render();
  return root;
}

// ---- reshaping -----------------------------------------------------------------------------
const RESHAPES = [[64], [2, 32], [4, 16], [8, 8], [16, 4], [32, 2]];

function mountReshape(wire) {
  const row = decode(wire);
  const box = $("#reshape-shapes");
  const draw = (shape) => {
    for (const button of box.children) button.setAttribute("aria-pressed", String(button.dataset.shape === shape.join(",")));
    $("#reshape-code").textContent = shape.length === 1 ? "x  # (64,)" : `x.reshape(${shape.join(", ")})`;
    const t = { dims: shape.map((_, k) => (k === shape.length - 1 ? "columns" : "rows")), shape, dtype: "float32", data: row.data };
    drawCells($("#reshape-canvas"), t, { square: true });
    $("#reshape-canvas").dataset.shape = shape.join(",");
  };
  for (const shape of RESHAPES) {
    const button = element("button", "", `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`);
    button.type = "button";
    button.dataset.shape = shape.join(",");
    button.addEventListener("click", () => draw(shape));
    box.append(button);
  }
  draw([8, 8]);
}

// ---- flattening ----------------------------------------------------------------------------
function mountFlatten(flatten) {
  const map = decode(flatten.map);
  const flat = decode(flatten.flat);
  const [channels, h, w] = map.shape;
  $("#flatten-kernels").textContent = flatten.kernels.join(" and ");
  const colour = colourScale(map);
  const css = (v) => `rgb(${colour(v).join(", ")})`;
  const ink = (v) => textOn(colour(v)); // the number on a cell, readable on its tint
  const maps = $("#flatten-maps");
  for (let c = 0; c < channels; c++) {
    const block = element("figure", "flatten-map");
    const grid = element("div", "flatten-grid");
    grid.style.gridTemplateColumns = `repeat(${w}, 1fr)`;
    for (let r = 0; r < h; r++) {
      for (let x = 0; x < w; x++) {
        const i = (c * h + r) * w + x; // where flatten puts map[c, r, x]
        const cell = element("span", `flatten-cell ch${c}`, String(i));
        Object.assign(cell.dataset, { i, c, r, w: x, value: String(map.data[i]) });
        cell.style.background = css(map.data[i]);
        cell.style.color = ink(map.data[i]);
        grid.append(cell);
      }
    }
    block.append(grid, element("figcaption", "", `channel ${c} (${flatten.kernels[c]}), ${h}×${w}`));
    maps.append(block);
  }
  const vector = $("#flatten-vector");
  flat.data.forEach((v, i) => {
    const cell = element("span", `flatten-cell ch${Math.floor(i / (h * w))}`, String(i));
    Object.assign(cell.dataset, { i, value: String(v) });
    cell.style.background = css(v);
    cell.style.color = ink(v);
    vector.append(cell);
  });
  $("#flatten-code").textContent = `torch.flatten(x)  # (channels=${channels}, height=${h}, width=${w}) → (${channels * h * w},)`;
  const point = (i) => {
    for (const cell of document.querySelectorAll(".flatten-cell.hot")) cell.classList.remove("hot");
    for (const cell of document.querySelectorAll(`.flatten-cell[data-i="${i}"]`)) cell.classList.add("hot");
    const c = Math.floor(i / (h * w));
    const r = Math.floor((i % (h * w)) / w);
    $("#flatten-readout").textContent = `flat[${i}] = x[${c}, ${r}, ${i % w}] = ${flat.data[i].toFixed(3)}`;
  };
  on($(".page-tensors"), "mouseover", ".flatten-cell", (_, cell) => point(Number(cell.dataset.i)));
}

// ---- dtype and device ----------------------------------------------------------------------
function mountDevice(payload) {
  const photos = payload.examples.find((e) => e.key === "photos").tensor;
  const body = $("#dtype-table tbody");
  for (const { dtype, bytes } of payload.dtypes) {
    const tr = element("tr");
    tr.append(element("td", "mono", dtype), element("td", "num", String(bytes)),
      element("td", "num", `${fmtInt(photos.numel * bytes)} bytes`));
    body.append(tr);
  }
  const device = payload.device;
  $("#device-name").textContent = device.name;
  const copies = $("#copy-table tbody");
  for (const copy of device.copies) {
    const tr = element("tr");
    const ms = copy.seconds * 1000;
    tr.append(element("td", "mono", `${copy.from} → ${copy.to}`),
      element("td", "num", `${copy.bytes / 2 ** 20} MB`),
      element("td", "num", `${ms.toFixed(ms < 10 ? 2 : 1)} ms`),
      element("td", "num", `${(copy.bytes / copy.seconds / 1e9).toFixed(1)} GB/s`));
    copies.append(tr);
  }
  $("#device-note").textContent = device.cuda
    ? "Measured on this server when the page was first asked for: copies between the CPU and the GPU cross the bus between them."
    : "This server has no GPU, so there is no copy to a GPU to measure. On a machine with one, x.to(\"cuda\") copies the tensor over the bus between the CPU and the GPU.";
}

// ---- start ---------------------------------------------------------------------------------
async function start() {
  const root = $("#tensors");
  try {
    const response = await fetch("/api/tensors");
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    const payload = await response.json();
    $("#cards").append(...payload.examples.map(card));
    mountReshape(payload.reshape);
    mountFlatten(payload.flatten);
    mountDevice(payload);
    $("#tensors-status").hidden = true;
    root.dataset.state = "ready";
  } catch (err) {
    $("#tensors-status").textContent = `Could not load the examples: ${err.message}`;
    root.dataset.state = "error";
  }
}

start();
