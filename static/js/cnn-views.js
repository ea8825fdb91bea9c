// The CNN lab's result panels: kernels and feature maps (layer columns), class probabilities,
// the confusion matrix, per-class accuracy and the two image galleries.
// Each function takes a container and the data of one message or frame and redraws it.
import { COLORMAPS, drawImage, drawTiles, fitTiles } from "./cnn-draw.js";
import { drawGrid } from "./heatmap.js";
import { textOn } from "./palette.js";

const esc = (s) => String(s).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]);
const pct = (v, d = 0) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(d)}%`);

function ensure(parent, selector, make) {
  let el = parent.querySelector(selector);
  if (!el) {
    el = make();
    parent.append(el);
  }
  return el;
}

// One column per layer, keyed by its index, kept between frames so canvases are reused.
function layerColumn(root, key, title, sub) {
  const col = ensure(root, `[data-layer="${key}"]`, () => {
    const div = document.createElement("div");
    div.className = "cnn-layer";
    div.dataset.layer = key;
    div.innerHTML = `<div class="cnn-layer-title"><b></b><span class="num"></span></div>`;
    return div;
  });
  col.querySelector("b").textContent = title;
  col.querySelector("span").textContent = sub;
  return col;
}

function layerCanvas(col, role) {
  return ensure(col, `canvas[data-role="${role}"]`, () => {
    const c = document.createElement("canvas");
    c.className = "pixelated";
    c.dataset.role = role;
    return c;
  });
}

// Feature maps: `layers` from the cnn.maps meta, `arrayOf(layer)` gives its
// uint8 {data (shown, h, w), shape}. One small canvas per map, all shown at the same size (as CNN
// Explainer does), so a 4×4 pooled map and a 16×16 conv map line up; more than 8 maps take 2 columns.
export function renderMaps(root, layers, arrayOf, { colormap = "viridis" } = {}) {
  const keep = new Set();
  const lut = COLORMAPS[colormap] || COLORMAPS.viridis;
  for (const layer of layers) {
    const arr = arrayOf(layer);
    if (!arr) continue;
    const [c, h, w] = layer.shape;
    const [shown, mh, mw] = arr.shape;
    const col = layerColumn(root, layer.index, layer.name, `${c}×${h}×${w}`);
    col.dataset.kind = layer.kind;
    col.title = `${layer.name} (${layer.kind}): ${c} maps of ${h}×${w}` +
      (shown < c ? `, first ${shown} shown` : "") +
      (layer.min !== undefined ? `; values ${layer.min.toFixed(2)} … ${layer.max.toFixed(2)}` : "");
    keep.add(String(layer.index));
    const grid = ensure(col, ".cnn-maps", () => Object.assign(document.createElement("div"), { className: "cnn-maps" }));
    grid.classList.toggle("two", shown > 8);
    while (grid.children.length > shown) grid.lastElementChild.remove();
    while (grid.children.length < shown) {
      const canvas = document.createElement("canvas");
      canvas.className = "pixelated";
      grid.append(canvas);
    }
    const size = mh * mw;
    for (let k = 0; k < shown; k++) {
      const canvas = grid.children[k];
      drawGrid(canvas, arr.data.subarray(k * size, (k + 1) * size), mw, mh, lut);
      canvas.title = `${layer.name}, channel ${k + 1} of ${c}`;
    }
    let more = col.querySelector(".cnn-more");
    if (shown < c) {
      more ||= col.appendChild(Object.assign(document.createElement("span"), { className: "cnn-more muted" }));
      more.textContent = `+${c - shown} more`;
    } else if (more) more.remove();
  }
  for (const col of root.querySelectorAll("[data-layer]")) {
    if (!keep.has(col.dataset.layer)) col.remove();
  }
}

// Kernels: the cnn.kernels frame. One block per conv layer: rows = input channels, columns =
// output channels (so each column is one learned filter); RGB first layers as colour pictures.
export function renderKernels(root, frame) {
  const keep = new Set();
  for (const layer of frame.meta.layers) {
    const arr = frame.arrays[`L${layer.index}`];
    if (!arr) continue;
    const [outN, inN, kh, kw] = arr.shape;
    const key = `k${layer.index}`;
    keep.add(key);
    const [o, i] = layer.shape;
    const col = layerColumn(root, key, layer.name, `${o}×${i}×${kh}×${kw}`);
    col.classList.add("cnn-kernel-layer");
    col.title = `${layer.name}: ${o} kernels of ${i}×${kh}×${kw}` +
      (outN < o || (!layer.rgb && inN < i) ? ` (first ${outN} × ${layer.rgb ? 3 : inN} shown)` : "") +
      `; colour scale ±${layer.absmax?.toFixed?.(3)}`;
    const canvas = layerCanvas(col, "kernels");
    let layout;
    if (layer.rgb) {
      layout = drawTiles(canvas, arr.data, { n: outN, h: kh, w: kw, mode: "chw", cols: Math.min(outN, 16) });
    } else if (inN === 1) {
      layout = drawTiles(canvas, arr.data, { n: outN, h: kh, w: kw, cols: Math.min(outN, 16), colormap: "diverging" });
    } else {
      // display tile (row r = input channel, column q = output channel) <- source kernel [q, r]
      layout = drawTiles(canvas, arr.data, {
        n: outN * inN, h: kh, w: kw, cols: outN, colormap: "diverging",
        source: (k) => ((k % outN) * inN + Math.floor(k / outN)) * kh * kw,
      });
    }
    fitTiles(canvas, layout, kh, kw, outN * (layer.rgb ? 1 : inN) <= 32 ? 30 : 16);
  }
  for (const col of root.querySelectorAll(".cnn-kernel-layer")) {
    if (!keep.has(col.dataset.layer)) col.remove();
  }
}

// Probability bars: the predicted class highlighted, the true class (if known) marked.
export function renderProbs(root, classes, probs, { truth = null } = {}) {
  let best = 0;
  for (let k = 1; k < probs.length; k++) if (probs[k] > probs[best]) best = k;
  const order = classes.map((_, k) => k);
  if (classes.length > 12) order.sort((a, b) => probs[b] - probs[a]).splice(10);
  root.innerHTML = order.map((k) => {
    const cls = [k === best ? "best" : "", k === truth ? "truth" : ""].join(" ");
    return `<div class="cnn-prob ${cls}" data-k="${k}" title="${esc(classes[k])}: ${pct(probs[k], 1)}">` +
      `<span class="cnn-prob-name">${esc(classes[k])}</span>` +
      `<span class="cnn-prob-bar"><i style="width:${(probs[k] * 100).toFixed(1)}%"></i></span>` +
      `<span class="cnn-prob-val num">${pct(probs[k], 1)}</span></div>`;
  }).join("");
  return best;
}

// Confusion matrix as a heat-map table: rows = true class, columns = predicted class; each cell
// is shaded by its share of its row (diagonal green, mistakes red).
export function renderConfusion(table, ev) {
  const k = ev.classes.length;
  const head = ev.classes.map((c) => `<th scope="col" title="predicted ${esc(c)}">${esc(c)}</th>`).join("");
  const rows = ev.confusion.map((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    const cells = row.map((n, p) => {
      const f = n / total;
      const [rgb, alpha] = t === p ? [[26, 127, 55], 0.08 + 0.82 * f] : [[198, 40, 40], n ? 0.1 + 0.85 * Math.sqrt(f) : 0];
      const bg = `rgba(${rgb.join(", ")}, ${alpha.toFixed(3)})`;
      const ink = n ? textOn(rgb.map((c) => 255 + (c - 255) * alpha)) : "#5d667a"; // on the tint over white
      return `<td data-t="${t}" data-p="${p}" style="background:${bg};color:${ink}" title="true ${esc(ev.classes[t])}, predicted ${esc(ev.classes[p])}: ${n} of ${total}">${n}</td>`;
    }).join("");
    return `<tr><th scope="row">${esc(ev.classes[t])}</th>${cells}</tr>`;
  }).join("");
  table.classList.toggle("small", k > 10);
  table.innerHTML = `<caption>rows: true class · columns: predicted</caption>` +
    `<thead><tr><th class="corner">true ↓<br>pred →</th>${head}</tr></thead><tbody>${rows}</tbody>`;
}

export function renderPerClass(root, ev) {
  root.innerHTML = ev.classes.map((c, k) => {
    const a = ev.per_class_accuracy[k];
    const level = a === null ? "" : a < 0.5 ? "bad" : a < 0.85 ? "warn" : "good";
    return `<div class="cnn-pc ${level}" title="${esc(c)}: ${pct(a, 1)} of ${ev.counts[k]} validation images">` +
      `<span class="cnn-pc-name">${esc(c)}</span>` +
      `<span class="cnn-pc-bar"><i style="width:${((a ?? 0) * 100).toFixed(1)}%"></i></span>` +
      `<span class="cnn-pc-val num">${pct(a)}</span><span class="cnn-pc-n muted num">n=${ev.counts[k]}</span></div>`;
  }).join("");
}

// A gallery of (n, H, W, C) images with a caption per item; `item(k)` -> {caption, cls, title, data}.
export function renderGallery(root, images, item, emptyText, keep = null) {
  root.innerHTML = "";
  if (!images || !images.shape[0] || (keep && !keep.length)) {
    root.innerHTML = `<p class="cnn-empty muted">${esc(emptyText)}</p>`;
    return;
  }
  const [n, h, w, c] = images.shape;
  for (const k of keep || Array.from({ length: n }, (_, i) => i)) {
    const it = item(k);
    const fig = document.createElement("figure");
    fig.className = `cnn-thumb ${it.cls || ""}`;
    fig.tabIndex = 0;
    Object.assign(fig.dataset, it.data || {});
    if (it.title) fig.title = it.title;
    const canvas = document.createElement("canvas");
    canvas.className = "pixelated";
    drawImage(canvas, images.data, h, w, c, k * h * w * c);
    const cap = document.createElement("figcaption");
    cap.innerHTML = it.caption;
    fig.append(canvas, cap);
    root.append(fig);
  }
}

export { esc, pct };
